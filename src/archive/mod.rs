//! Archives: one tar stream per source, compressed with zstd, streamed (never buffered whole).
//!
//! - [`pack`] stores regular files, directories and symlinks (as symlinks, never followed) with
//!   their permission bits, owner ids and mtimes. Holes in sparse files are stored as zeros
//!   (zstd makes them almost free), never as GNU sparse entries. A file that changes while it is
//!   read is stored with exactly the size its header records (cut if it grew, zero-padded if it
//!   shrank) and reported as changed, so the archive always stays readable. Sockets, FIFOs and
//!   device files are skipped with a warning; hard links are stored as separate files.
//! - [`unpack`] is the restore side. The archive is untrusted input (anyone with the public
//!   certificate can write one), so every entry is checked before anything is written: only
//!   regular files, directories and symlinks are accepted, names must be relative and free of
//!   `..`, no entry may sit below a symlink or a file, and no name may appear twice. Writes go
//!   through directory handles that never follow symlinks (`cap-std`), so even a check missed
//!   here cannot write outside the destination. The same checks run when only verifying.
//!   See docs/THREAT-MODEL.md.

mod pack;
mod unpack;

pub use pack::{pack, PackStats, MAX_CHANGED_LISTED};
pub use unpack::{unpack, UnpackOptions, UnpackStats};

/// At most this many zstd compression threads.
pub const ZSTD_MAX_WORKERS: u32 = 4;
/// zstd window of at most 2^21 bytes (2 MiB: what levels 3 to 7 use; higher levels would take
/// 4 to 8 MiB per job in flight).
pub const ZSTD_MAX_WINDOW_LOG: u32 = 21;
/// Bytes of input per zstd job (zstd's default is 4 windows, 8 MiB at level 3; smaller jobs
/// keep the buffers of the jobs in flight small: with 2 workers zstd keeps up to 8 jobs' output
/// buffers and an input buffer of about 4 jobs). 1 MiB instead of 2 took about 10 MiB off a
/// backup's peak RSS; the zstd CLI's output with `-B1048576` instead of `-B2097152` grew by
/// 0.009 % at level 1 and 0.005 % at level 3 on the standard data set.
pub const ZSTD_JOB_SIZE: u32 = 1 << 20;

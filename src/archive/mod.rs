//! Archives: one tar stream per source, compressed with zstd, streamed (never buffered whole).
//!
//! - [`pack()`] stores regular files, directories and symlinks (as symlinks, never followed) with
//!   their permission bits, owner ids and mtimes. Holes in sparse files are stored as zeros
//!   (zstd makes them almost free), never as GNU sparse entries. A file that changes while it is
//!   read is stored with exactly the size its header records (cut if it grew, zero-padded if it
//!   shrank) and reported as changed, so the archive always stays readable. Sockets, FIFOs and
//!   device files are skipped with a warning; hard links are stored as separate files.
//! - [`unpack()`] is the restore side. The archive is untrusted input (anyone with the public
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

/// At most this many compressing threads (each holds a zstd context and adds one block of 1 MiB
/// and its frame in flight), so memory stays bounded on large machines too.
pub const ZSTD_MAX_WORKERS: usize = 4;

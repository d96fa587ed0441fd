//! Unpacking an untrusted tar + zstd stream, confined to one directory.

mod blocks;
mod dest;
mod writer;

use crate::error::{Error, Result};
use blocks::{decode_blocks, BlockReader};
use cap_std::fs::Dir;
use dest::{create_file, finish_file, io_err, make_dir, make_symlink, set_dir_times, Dest};
use std::hash::BuildHasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use writer::{FileWriter, SMALL_FILE};

/// How to unpack.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackOptions {
    /// Keep setuid, setgid and sticky bits (masked by default: restored files belong to the
    /// user running the restore, often root).
    pub preserve_special_bits: bool,
}

/// What unpacking did.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
}

/// What an earlier entry was, to judge the entries below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    File,
    Symlink,
}

fn refuse(name: &str, why: impl std::fmt::Display) -> Error {
    Error::UnsafeEntry(format!("refusing archive entry {name:?}: {why}"))
}

/// Splits an entry name into its components, refusing absolute names and `..`.
fn components(raw: &[u8], shown: &str) -> Result<Vec<Vec<u8>>> {
    if raw.first() == Some(&b'/') {
        return Err(refuse(
            shown,
            "its path is absolute, so it would land outside the destination",
        ));
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(refuse(
                    shown,
                    "its path contains '..', so it would land outside the destination",
                ))
            }
            _ => {
                if cfg!(windows) && c.iter().any(|b| matches!(b, b'\\' | b':')) {
                    return Err(refuse(shown, "its name holds '\\' or ':'"));
                }
                out.push(c.to_vec());
            }
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn os_name(c: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(c))
}

#[cfg(not(unix))]
fn os_name(c: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(c).into_owned())
}

/// The entries seen so far: a keyed hash of each path with the entry's kind in its two lowest
/// bits, one `u64` per entry whatever the name's length. In a `hashbrown::HashTable` that is
/// 9 bytes a slot (a `HashMap<u64, Seen>` takes 17): 200,000 entries cost 2.3 MB, 3.5 MB while
/// the table grows (docs/BENCHMARKS.md, memory with 10 times the files).
struct Index {
    hasher: std::collections::hash_map::RandomState,
    seen: hashbrown::HashTable<u64>,
}

impl Index {
    fn new() -> Self {
        Index {
            hasher: Default::default(),
            seen: hashbrown::HashTable::new(),
        }
    }

    /// The path's key: its keyed hash without the two bits that hold the kind.
    fn key(&self, parts: &[Vec<u8>]) -> u64 {
        self.hasher.hash_one(parts) & !3
    }

    /// Where the table files a key (or an entry, whose kind bits are ignored). The rotation
    /// moves the cleared bits away from both the bits that pick a slot and the top seven
    /// bits the table keeps as a tag.
    fn slot_hash(entry: u64) -> u64 {
        (entry & !3).rotate_right(32)
    }

    fn get(&self, key: u64) -> Option<Seen> {
        let entry = self.seen.find(Self::slot_hash(key), |&e| e & !3 == key)?;
        Some(match entry & 3 {
            1 => Seen::Dir,
            2 => Seen::File,
            _ => Seen::Symlink,
        })
    }

    /// Refuses an entry that sits below a symlink or a file, or that repeats a name.
    fn check(&self, parts: &[Vec<u8>], kind: Seen, shown: &str) -> Result<()> {
        for i in 1..parts.len() {
            match self.get(self.key(&parts[..i])) {
                Some(Seen::Symlink) => {
                    return Err(refuse(
                        shown,
                        format!(
                            "it would be written through the symlink {:?}, which may point outside the destination",
                            String::from_utf8_lossy(&parts[..i].join(&b'/'))
                        ),
                    ))
                }
                Some(Seen::File) => {
                    return Err(refuse(
                        shown,
                        format!(
                            "it would be written below the file {:?}",
                            String::from_utf8_lossy(&parts[..i].join(&b'/'))
                        ),
                    ))
                }
                _ => {}
            }
        }
        match self.get(self.key(parts)) {
            Some(Seen::Dir) if kind == Seen::Dir => Ok(()),
            Some(_) => Err(refuse(
                shown,
                "the name appears twice in the archive (a second entry could replace the first)",
            )),
            None => Ok(()),
        }
    }

    fn add(&mut self, parts: &[Vec<u8>], kind: Seen) {
        let key = self.key(parts);
        let entry = key
            | match kind {
                Seen::Dir => 1,
                Seen::File => 2,
                Seen::Symlink => 3,
            };
        match self.seen.find_mut(Self::slot_hash(key), |&e| e & !3 == key) {
            Some(e) => *e = entry,
            None => {
                self.seen
                    .insert_unique(Self::slot_hash(key), entry, |&e| Self::slot_hash(e));
            }
        }
    }
}

/// Bytes handed from one stage of [`unpack`] to the next at a time.
const BLOCK: usize = 256 << 10;
/// Blocks queued between two stages (the read-ahead, and the memory it costs, is bounded by
/// `(QUEUE_BLOCKS + 2) * BLOCK` per queue).
const QUEUE_BLOCKS: usize = 4;
/// Size of the buffer file contents are written from.
const WRITE_BUFFER: usize = 1 << 20;

/// Unpacks a tar + zstd stream into `dest` (which must exist). With `dest = None` the archive
/// is only read through (every entry decoded and checked as if it were restored), which is
/// what `verify --key` does.
///
/// Two threads share the work, passing blocks of `BLOCK` bytes through a queue of
/// `QUEUE_BLOCKS`: the calling thread reads `input` (decryption and hashing happen in that
/// reader, so every read of the target stays on the calling thread: about half of the work);
/// the other decompresses, parses the tar stream, checks every entry and, restoring, writes
/// directories, symlinks and large files. Small files are written by a third thread
/// (`unpack/writer.rs`). (Restoring used to decompress on the calling thread; once small
/// files moved to the writer, that made the calling thread the critical path:
/// docs/BENCHMARKS.md.)
///
/// An error of the calling thread's side is queued in the stream where it occurred, for the
/// other side to meet there. Only what the tar parser reads is ever unpacked: read-ahead past
/// the end of the archive is dropped, and errors there are not reported (as when one thread
/// stopped reading at the end marker); the callers read `input` to its end afterwards.
pub fn unpack<R: Read>(input: R, dest: Option<&Path>, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = match dest {
        Some(d) => Some(
            Dir::open_ambient_dir(d, cap_std::ambient_authority())
                .map_err(|e| Error::io(format!("opening {}", d.display()), e))?,
        ),
        None => None,
    };
    let zstd_err = |e| Error::from_data_io("reading archive", e);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_BLOCKS);
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        let blocks = BlockReader::new(rx, recycle_tx);
        let opts = *opts;
        let extractor = std::thread::Builder::new()
            .name("unpack-extract".into())
            .spawn_scoped(scope, move || {
                // zstd reads the queued blocks in place.
                let tar_stream = zstd::Decoder::with_buffer(blocks).map_err(zstd_err)?;
                extract(tar_stream, root, &opts)
            })
            .map_err(|e| Error::io("starting the unpacking thread".to_string(), e))?;
        decode_blocks(input, &tx, &recycle_rx);
        drop(tx);
        match extractor.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Copies `from` to `to` in writes of up to `buf.len()` bytes (the `tar` crate's own copy
/// writes 8 KiB at a time). Returns the bytes copied.
fn copy_large(from: &mut impl Read, to: &mut impl io::Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let (filled, error) = crate::read_full::read_full(from, buf);
        if let Some(e) = error {
            return Err(e);
        }
        if filled == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..filled])?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

/// What an entry of this type becomes, `None` for extension headers the tar reader did not
/// fold into the next entry; a refusal for the types azs-backup never writes.
fn classify(kind: tar::EntryType, shown: &str) -> Result<Option<Seen>> {
    let seen = match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            Seen::File
        }
        tar::EntryType::Directory => Seen::Dir,
        tar::EntryType::Symlink => Seen::Symlink,
        // Extension headers that tar itself did not fold into the next entry.
        tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => return Ok(None),
        tar::EntryType::Link => {
            return Err(refuse(
                shown,
                "hard links are never written by azs-backup and are not restored",
            ))
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            return Err(refuse(
                shown,
                "device nodes and FIFOs are never written by azs-backup and are not restored",
            ))
        }
        other => {
            return Err(refuse(
                shown,
                format!(
                    "entry type {:?} is not one azs-backup writes",
                    other.as_byte() as char
                ),
            ))
        }
    };
    Ok(Some(seen))
}

/// What restoring writes to: the destination and the thread that writes small files.
struct Out<'scope> {
    dest: Dest,
    writer: FileWriter<'scope>,
}

/// Parses the (decompressed) tar stream `tar_stream`, checks every entry and, with `root`,
/// writes it below that directory.
fn extract<R: Read>(tar_stream: R, root: Option<Dir>, opts: &UnpackOptions) -> Result<UnpackStats> {
    let Some(root) = root else {
        return read_entries(tar_stream, None, opts);
    };
    std::thread::scope(|scope| {
        let mut out = Out {
            dest: Dest::new(root),
            writer: FileWriter::start(scope)?,
        };
        let read = read_entries(tar_stream, Some(&mut out), opts);
        // The writer's error belongs to an earlier entry than any the reading side met.
        out.writer.finish()?;
        let stats = read?;
        set_dir_times(out.dest)?;
        Ok(stats)
    })
}

/// Reads every entry, checks it against the ones before and, with `out`, creates it (small
/// files through the writer thread).
fn read_entries<R: Read>(
    tar_stream: R,
    mut out: Option<&mut Out<'_>>,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let mut ar = tar::Archive::new(tar_stream);
    let mut write_buf = Vec::new();
    let mode_mask = if opts.preserve_special_bits {
        0o7777
    } else {
        0o777
    };
    let mut index = Index::new();
    let mut stats = UnpackStats::default();
    let entries = ar
        .entries()
        .map_err(|e| Error::from_data_io("reading archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::from_data_io("reading archive", e))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        let Some(seen) = classify(kind, &shown)? else {
            continue;
        };
        let parts = components(&raw, &shown)?;
        if parts.is_empty() {
            if seen == Seen::Dir {
                continue;
            }
            return Err(refuse(&shown, "it has an empty name"));
        }
        index.check(&parts, seen, &shown)?;
        index.add(&parts, seen);
        stats.entries += 1;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & mode_mask;
        let mtime = header.mtime().unwrap_or(0);
        let link = if seen == Seen::Symlink {
            Some(
                entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&shown, "the symlink has no target"))?
                    .into_owned(),
            )
        } else {
            None
        };
        let Some(out) = out.as_deref_mut() else {
            // Through a buffer of our own: io::copy's would be cleared for every entry.
            let buf = init_write_buf(&mut write_buf);
            let n = copy_large(&mut entry, &mut io::sink(), buf)
                .map_err(|e| Error::from_data_io(format!("reading {shown}"), e))?;
            if seen == Seen::File {
                stats.files += 1;
                stats.bytes += n;
            }
            continue;
        };
        let (name, parent) = parts.split_last().expect("not empty");
        let name = os_name(name);
        let parent = out.dest.dir(parent, &shown)?;
        match seen {
            Seen::Dir => {
                make_dir(parent, &name, &shown)?;
                out.dest.dirs.push((parts.clone(), mode, mtime));
            }
            Seen::Symlink => {
                make_symlink(parent, &name, link.as_deref().unwrap_or_default(), &shown)?
            }
            // Sparse entries expand beyond their header's size: never buffered.
            Seen::File if kind != tar::EntryType::GNUSparse && entry.size() <= SMALL_FILE => {
                let size = entry.size();
                let file = (&mut entry, size);
                let n = out.writer.add(parent, name, shown, (mode, mtime), file)?;
                stats.files += 1;
                stats.bytes += n;
            }
            Seen::File => {
                let file = create_file(parent, &name, &shown)?;
                let n = write_data(file, &mut entry, &shown, (mode, mtime), &mut write_buf)?;
                stats.files += 1;
                stats.bytes += n;
                crate::testhook::point("unpack.file-written");
            }
        }
    }
    Ok(stats)
}

/// The buffer file data is copied through, allocated (and cleared) once.
fn init_write_buf(write_buf: &mut Vec<u8>) -> &mut [u8] {
    if write_buf.is_empty() {
        *write_buf = vec![0u8; WRITE_BUFFER];
    }
    write_buf
}

/// An error while copying an entry's data: one of the archive's (damaged or forged data, a
/// truncated stream) or one of the destination's.
fn read_or_write_err(shown: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData
        || e.kind() == io::ErrorKind::UnexpectedEof
        || crate::crypto::CryptoError::from_io(&e).is_some()
    {
        Error::from_data_io(format!("restoring {shown}"), e)
    } else {
        io_err(shown, e)
    }
}

/// Writes the entry's data into `file` in large writes, then its mode and mtime. Returns the
/// bytes written.
fn write_data(
    mut file: std::fs::File,
    entry: &mut impl Read,
    shown: &str,
    (mode, mtime): (u32, u64),
    write_buf: &mut Vec<u8>,
) -> Result<u64> {
    let n = copy_large(entry, &mut file, init_write_buf(write_buf))
        .map_err(|e| read_or_write_err(shown, e))?;
    finish_file(&file, shown, mode, mtime)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn names_are_checked() {
        let ok = |s: &str| components(s.as_bytes(), s).is_ok();
        assert!(ok("a/b"));
        assert!(ok("./a"));
        assert!(ok("a/"));
        assert!(!ok("../a"));
        assert!(!ok("a/../../b"));
        assert!(!ok("/etc/passwd"));
        assert_eq!(
            components(b"./a//b/", "").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }

    fn tar_zst(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let raw = b.into_inner().unwrap();
        zstd::encode_all(&raw[..], 1).unwrap()
    }

    fn raw_entry(b: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, link: &[u8]) {
        let mut h = tar::Header::new_gnu();
        // Write the name bytes directly: Builder refuses '..' and absolute names itself.
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(if kind.is_file() { 1 } else { 0 });
        h.set_mode(0o644);
        h.set_cksum();
        let data: &[u8] = if kind.is_file() { b"x" } else { b"" };
        b.append(&h, data).unwrap();
    }

    #[test]
    fn escaping_entries_are_refused_when_restoring_and_verifying() {
        use tar::EntryType as T;
        let cases: Vec<Vec<u8>> = vec![
            tar_zst(|b| raw_entry(b, b"../evil", T::Regular, b"")),
            tar_zst(|b| raw_entry(b, b"/tmp/evil", T::Regular, b"")),
            tar_zst(|b| {
                raw_entry(b, b"link", T::Symlink, b"/");
                raw_entry(b, b"link/evil", T::Regular, b"");
            }),
            tar_zst(|b| {
                raw_entry(b, b"dl", T::Symlink, b"..");
                raw_entry(b, b"dl/evil", T::Regular, b"");
            }),
            tar_zst(|b| {
                raw_entry(b, b"evil", T::Symlink, b"../evil");
                raw_entry(b, b"evil", T::Regular, b"");
            }),
            tar_zst(|b| raw_entry(b, b"h", T::Link, b"../evil")),
            tar_zst(|b| raw_entry(b, b"null", T::Char, b"")),
            tar_zst(|b| {
                raw_entry(b, b"f", T::Regular, b"");
                raw_entry(b, b"f/evil", T::Regular, b"");
            }),
        ];
        for (i, data) in cases.into_iter().enumerate() {
            let outer = tempfile::tempdir().unwrap();
            let dest = outer.path().join("dest");
            fs::create_dir(&dest).unwrap();
            let opts = UnpackOptions::default();
            for target in [None, Some(dest.as_path())] {
                let e = unpack(&data[..], target, &opts).unwrap_err();
                assert!(matches!(e, Error::UnsafeEntry(_)), "case {i}: {e}");
                assert!(e.to_string().starts_with("refusing"), "case {i}: {e}");
            }
            assert!(!outer.path().join("evil").exists(), "case {i} escaped");
        }
    }

    #[test]
    fn the_index_keeps_every_entry_and_its_kind() {
        let kinds = [Seen::Dir, Seen::File, Seen::Symlink];
        let path = |i: usize| {
            vec![
                format!("d{}", i % 50).into_bytes(),
                format!("f{i}").into_bytes(),
            ]
        };
        let mut index = Index::new();
        for i in 0..20_000 {
            index.add(&path(i), kinds[i % 3]);
        }
        for i in 0..20_000 {
            assert_eq!(index.get(index.key(&path(i))), Some(kinds[i % 3]), "{i}");
        }
        for i in 20_000..40_000 {
            assert_eq!(index.get(index.key(&path(i))), None, "{i}");
        }
        index.add(&path(1), Seen::Dir);
        assert_eq!(index.get(index.key(&path(1))), Some(Seen::Dir));
        assert_eq!(index.seen.len(), 20_000);
    }

    #[test]
    fn special_bits_are_masked_unless_asked_for() {
        let data = tar_zst(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_path("suid").unwrap();
            h.set_size(1);
            h.set_mode(0o4755);
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
        });
        for (keep, want) in [(false, 0o755), (true, 0o4755)] {
            let d = tempfile::tempdir().unwrap();
            let opts = UnpackOptions {
                preserve_special_bits: keep,
            };
            unpack(&data[..], Some(d.path()), &opts).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let m = fs::metadata(d.path().join("suid"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(m & 0o7777, want);
            }
            #[cfg(not(unix))]
            let _ = want;
        }
    }
}

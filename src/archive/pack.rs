//! Packing a source directory into tar + zstd.

use super::{ZSTD_JOB_SIZE, ZSTD_MAX_WINDOW_LOG, ZSTD_MAX_WORKERS};
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

/// At most this many changed files are named in a manifest (the count is always exact).
pub const MAX_CHANGED_LISTED: usize = 100;

/// What packing a source did.
#[derive(Debug, Default, Clone)]
pub struct PackStats {
    /// Entries stored (files, directories, symlinks).
    pub entries: u64,
    /// Regular files stored.
    pub files: u64,
    /// Bytes of file contents stored (as recorded in the tar headers).
    pub bytes: u64,
    /// Things skipped, one line each.
    pub warnings: Vec<String>,
    /// Files that changed while they were read (relative paths, at most
    /// [`MAX_CHANGED_LISTED`]). Each is stored with the size it had when it was opened.
    pub changed: Vec<String>,
    /// How many files changed while they were read.
    pub changed_count: u64,
}

/// Packs the contents of `dir` into `out` as tar + zstd at `level`. `progress` is called with
/// the number of content bytes read so far after each file.
pub fn pack<W: Write>(
    dir: &Path,
    out: W,
    level: i32,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, PackStats)> {
    let meta = fs::metadata(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            format!("reading {}", dir.display()),
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let mut enc =
        zstd::Encoder::new(out, level).map_err(|e| Error::io("starting zstd".to_string(), e))?;
    // Compress on up to ZSTD_MAX_WORKERS cores. Each worker holds its own window and buffers
    // (about 40 MiB at level 3), so the cap keeps memory bounded on large machines too.
    let _ = enc.multithread(
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
            .min(ZSTD_MAX_WORKERS),
    );
    // Memory: each job in flight holds its input, its output and the window before it, so
    // both are capped (levels below 8 use a window of at most 2 MiB anyway).
    use zstd::stream::raw::CParameter;
    if level >= 8 {
        let _ = enc.set_parameter(CParameter::WindowLog(ZSTD_MAX_WINDOW_LOG));
    }
    let _ = enc.set_parameter(CParameter::JobSize(ZSTD_JOB_SIZE));
    // Two threads (and zstd's workers): a reader walks the source, reads the files and builds
    // the tar stream in blocks; this thread compresses them (handing whole jobs to the workers)
    // and writes the output on (encryption, hashing and the target's writes happen there).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(QUEUE_BLOCKS);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (stats, write_error) = std::thread::scope(|scope| -> Result<_> {
        let reader = std::thread::Builder::new()
            .name("backup-read".into())
            .spawn_scoped(scope, move || -> Result<PackStats> {
                let mut out = BlockWriter {
                    tx: &tx,
                    recycle: recycle_rx,
                    block: Vec::new(),
                };
                let mut builder = tar::Builder::new(&mut out);
                builder.follow_symlinks(false);
                builder.sparse(false);
                let mut stats = PackStats::default();
                // One report per PROGRESS_BYTES read or PROGRESS_INTERVAL, not one per file:
                // with many small files a message (and a wake-up of the compressing thread)
                // per file cost more than the files' contents.
                let mut last = (0u64, std::time::Instant::now());
                let mut on_file = |bytes: u64| {
                    if bytes - last.0 >= PROGRESS_BYTES || last.1.elapsed() >= PROGRESS_INTERVAL {
                        last = (bytes, std::time::Instant::now());
                        let _ = tx.send(Msg::Progress(bytes));
                    }
                };
                walk(&mut builder, dir, Path::new(""), &mut stats, &mut on_file)?;
                let _ = tx.send(Msg::Progress(stats.bytes));
                let finishing = |e| Error::io("finishing tar stream".to_string(), e);
                builder.finish().map_err(finishing)?;
                drop(builder);
                out.send().map_err(finishing)?;
                Ok(stats)
            })
            .map_err(|e| Error::io("starting the reading thread".to_string(), e))?;
        let mut write_error = None;
        for msg in rx.iter() {
            match msg {
                Msg::Block(block) => {
                    if let Err(e) = enc.write_all(&block) {
                        write_error = Some(e);
                        break;
                    }
                    let _ = recycle_tx.send(block);
                }
                Msg::Progress(n) => progress(n),
            }
        }
        // Hanging up stops the reader at its next block if this side failed.
        drop(rx);
        let stats = match reader.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok((stats, write_error))
    })?;
    if let Some(e) = write_error {
        return Err(Error::io(format!("archiving {}", dir.display()), e));
    }
    let stats = stats?;
    let out = enc
        .finish()
        .map_err(|e| Error::io("finishing zstd stream".to_string(), e))?;
    Ok((out, stats))
}

/// Bytes of tar stream per block handed from the reading thread to the compressing one.
const BLOCK: usize = 1 << 20;
/// Blocks queued between them.
const QUEUE_BLOCKS: usize = 4;
/// Progress is reported after a file once this many more bytes were read...
const PROGRESS_BYTES: u64 = 1 << 20;
/// ... or this long after the last report.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

enum Msg {
    /// The next bytes of the tar stream.
    Block(Vec<u8>),
    /// Content bytes read so far (after each file).
    Progress(u64),
}

/// Collects the tar stream into blocks of [`BLOCK`] bytes and queues them; fails once the
/// compressing side has hung up.
struct BlockWriter<'a> {
    tx: &'a std::sync::mpsc::SyncSender<Msg>,
    recycle: std::sync::mpsc::Receiver<Vec<u8>>,
    block: Vec<u8>,
}

impl BlockWriter<'_> {
    fn send(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = match self.recycle.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => Vec::with_capacity(BLOCK),
        };
        let full = std::mem::replace(&mut self.block, next);
        self.tx
            .send(Msg::Block(full))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressing side stopped"))
    }
}

impl Write for BlockWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.capacity() == 0 {
            self.block.reserve_exact(BLOCK);
        }
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn vanished(stats: &mut PackStats, full: &Path) {
    stats
        .warnings
        .push(format!("{}: vanished while reading", full.display()));
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    stats: &mut PackStats,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let dir = root.join(rel);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if !rel.as_os_str().is_empty() && e.kind() == io::ErrorKind::NotFound => {
            vanished(stats, &dir);
            return Ok(());
        }
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    // With the type the listing gives (no system call where the file system records it).
    let mut names: Vec<_> = rd
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .into_iter()
        .map(|e| (e.file_name(), e.file_type().ok()))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, listed) in names {
        let rel_path = rel.join(&name);
        let full = root.join(&rel_path);
        // A regular file when listed is not stat'ed by path: `append_file` opens it (never
        // following a symlink) and takes everything from the open file.
        let (m, ft) = match listed {
            Some(t) if t.is_file() => (None, t),
            _ => match fs::symlink_metadata(&full) {
                Ok(m) => {
                    let t = m.file_type();
                    (Some(m), t)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    vanished(stats, &full);
                    continue;
                }
                Err(e) => return Err(Error::io(format!("reading {}", full.display()), e)),
            },
        };
        let appended = if ft.is_file() {
            append_file(b, &full, &rel_path, stats)
        } else if let (true, Some(m)) = (ft.is_dir(), &m) {
            let mut h = header_for(m, tar::EntryType::Directory);
            b.append_data(&mut h, &rel_path, io::empty()).map(|_| true)
        } else if let (true, Some(m)) = (ft.is_symlink(), &m) {
            match fs::read_link(&full) {
                Ok(target) => {
                    let mut h = header_for(m, tar::EntryType::Symlink);
                    b.append_link(&mut h, &rel_path, target).map(|_| true)
                }
                Err(e) => Err(e),
            }
        } else {
            stats.warnings.push(format!(
                "{}: skipped (not a regular file, directory or symlink)",
                full.display()
            ));
            continue;
        };
        match appended {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                vanished(stats, &full);
                continue;
            }
            Err(e) => return Err(Error::io(format!("archiving {}", full.display()), e)),
        }
        stats.entries += 1;
        if ft.is_file() {
            progress(stats.bytes);
        } else if ft.is_dir() {
            walk(b, root, &rel_path, stats, progress)?;
        }
    }
    Ok(())
}

/// A tar header with the mode, owner and mtime of `m` (size 0).
fn header_for(m: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(m, tar::HeaderMode::Complete);
    h.set_entry_type(kind);
    h.set_size(0);
    h
}

/// Opens a regular file without following a symlink swapped in since it was listed.
fn open_nofollow(path: &Path) -> io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    o.open(path)
}

/// Appends one regular file. Returns `Ok(false)` when it turned out not to be a regular file
/// any more (skipped with a warning).
fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    full: &Path,
    rel: &Path,
    stats: &mut PackStats,
) -> io::Result<bool> {
    let file = match open_nofollow(full) {
        Ok(f) => f,
        // ELOOP: it became a symlink since it was listed.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            stats.warnings.push(format!(
                "{}: skipped (replaced by a symlink while reading)",
                full.display()
            ));
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    // The header records the file as it is once opened; exactly that many bytes follow.
    let before = file.metadata()?;
    if !before.is_file() {
        stats.warnings.push(format!(
            "{}: skipped (no longer a regular file)",
            full.display()
        ));
        return Ok(false);
    }
    let size = before.len();
    let mut h = header_for(&before, tar::EntryType::Regular);
    h.set_size(size);
    let mut body = Exact {
        file: &file,
        remaining: size,
        short: false,
        grew: false,
    };
    b.append_data(&mut h, rel, &mut body)?;
    let (short, grew) = (body.short, body.grew);
    let after = file.metadata()?;
    let changed =
        short || grew || after.len() != size || after.modified().ok() != before.modified().ok();
    if changed {
        stats.changed_count += 1;
        if stats.changed.len() < super::MAX_CHANGED_LISTED {
            stats.changed.push(rel.to_string_lossy().into_owned());
        }
    }
    stats.files += 1;
    stats.bytes += size;
    Ok(true)
}

/// Reads exactly `remaining` bytes of a file: stops there if the file grew, pads with zeros if
/// it shrank, and notes which happened.
struct Exact<'f> {
    file: &'f File,
    remaining: u64,
    short: bool,
    grew: bool,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            if !self.short && !self.grew {
                let mut probe = [0u8; 1];
                self.grew = loop {
                    match (&mut &*self.file).read(&mut probe) {
                        Ok(n) => break n > 0,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break false,
                    }
                };
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        crate::testhook::point("pack.read");
        let n = if self.short {
            0
        } else {
            (&mut &*self.file).read(&mut buf[..want])?
        };
        let n = if n == 0 {
            // The file shrank: the header already promised `remaining` more bytes.
            self.short = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

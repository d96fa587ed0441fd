//! Packing a source directory into tar + zstd.

use super::ZSTD_MAX_WORKERS;
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
    let mut builder = tar::Builder::new(enc);
    builder.follow_symlinks(false);
    builder.sparse(false);
    let mut stats = PackStats::default();
    walk(&mut builder, dir, Path::new(""), &mut stats, progress)?;
    let enc = builder
        .into_inner()
        .map_err(|e| Error::io("finishing tar stream".to_string(), e))?;
    let out = enc
        .finish()
        .map_err(|e| Error::io("finishing zstd stream".to_string(), e))?;
    Ok((out, stats))
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
    let mut names: Vec<_> = rd
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .into_iter()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let rel_path = rel.join(&name);
        let full = root.join(&rel_path);
        let m = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                vanished(stats, &full);
                continue;
            }
            Err(e) => return Err(Error::io(format!("reading {}", full.display()), e)),
        };
        let ft = m.file_type();
        let appended = if ft.is_file() {
            append_file(b, &full, &rel_path, stats)
        } else if ft.is_dir() {
            let mut h = header_for(&m, tar::EntryType::Directory);
            b.append_data(&mut h, &rel_path, io::empty()).map(|_| true)
        } else if ft.is_symlink() {
            match fs::read_link(&full) {
                Ok(target) => {
                    let mut h = header_for(&m, tar::EntryType::Symlink);
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

//! Archives: one tar stream per source, compressed with zstd, streamed (never buffered whole).
//!
//! Packing stores regular files, directories and symlinks (as symlinks, never followed) with
//! their permission bits, owner ids and mtimes; sockets, FIFOs and device files are skipped with
//! a warning. Unpacking refuses any entry that would land outside the destination (absolute
//! paths, `..`, writing through a symlink) and restores directory modes and mtimes last.

use crate::error::{Error, Result};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// zstd compression level (3: zstd's default, a good speed/size balance for backups).
pub const ZSTD_LEVEL: i32 = 3;
/// At most this many zstd compression threads.
pub const ZSTD_MAX_WORKERS: u32 = 4;

/// What packing a source did.
#[derive(Debug, Default, Clone)]
pub struct PackStats {
    /// Entries stored (files, directories, symlinks).
    pub entries: u64,
    /// Regular files stored.
    pub files: u64,
    /// Bytes of file contents read.
    pub bytes: u64,
    /// Things skipped, one line each.
    pub warnings: Vec<String>,
}

/// Packs the contents of `dir` into `out` as tar + zstd. `progress` is called with the number
/// of content bytes read so far after each file.
pub fn pack<W: Write>(dir: &Path, out: W, progress: &mut dyn FnMut(u64)) -> Result<(W, PackStats)> {
    let meta = fs::metadata(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            format!("reading {}", dir.display()),
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let mut enc = zstd::Encoder::new(out, ZSTD_LEVEL)
        .map_err(|e| Error::io("starting zstd".to_string(), e))?;
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
    builder.mode(tar::HeaderMode::Complete);
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
            stats
                .warnings
                .push(format!("{}: vanished while reading", dir.display()));
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
                stats
                    .warnings
                    .push(format!("{}: vanished while reading", full.display()));
                continue;
            }
            Err(e) => return Err(Error::io(format!("reading {}", full.display()), e)),
        };
        let ft = m.file_type();
        if !(ft.is_file() || ft.is_dir() || ft.is_symlink()) {
            stats.warnings.push(format!(
                "{}: skipped (not a regular file, directory or symlink)",
                full.display()
            ));
            continue;
        }
        match b.append_path_with_name(&full, &rel_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                stats
                    .warnings
                    .push(format!("{}: vanished while reading", full.display()));
                continue;
            }
            Err(e) => return Err(Error::io(format!("archiving {}", full.display()), e)),
        }
        stats.entries += 1;
        if ft.is_file() {
            stats.files += 1;
            stats.bytes += m.len();
            progress(stats.bytes);
        } else if ft.is_dir() {
            walk(b, root, &rel_path, stats, progress)?;
        }
    }
    Ok(())
}

/// What unpacking did.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Checks that an archive path is relative and stays inside the destination.
fn safe_relative(path: &Path) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("contains '..'".into()),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute".into()),
        }
    }
    Ok(out)
}

/// Unpacks a tar + zstd stream into `dest` (which must exist). With `dest = None` the archive
/// is only read through (every entry decoded), which is what `verify` does.
pub fn unpack<R: Read>(input: R, dest: Option<&Path>) -> Result<UnpackStats> {
    let dec = zstd::Decoder::new(input).map_err(|e| Error::from_data_io("reading archive", e))?;
    let mut ar = tar::Archive::new(dec);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);
    let mut stats = UnpackStats::default();
    // Directories get their mode and mtime after their contents are written.
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| Error::from_data_io("reading archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::from_data_io("reading archive", e))?;
        let raw = entry
            .path()
            .map_err(|e| Error::from_data_io("reading archive entry name", e))?
            .into_owned();
        let rel = safe_relative(&raw).map_err(|why| {
            Error::UnsafeEntry(format!(
                "refusing archive entry {:?}: its path {why}, so it would land outside the destination",
                raw
            ))
        })?;
        stats.entries += 1;
        let kind = entry.header().entry_type();
        let Some(dest) = dest else {
            let n = io::copy(&mut entry, &mut io::sink())
                .map_err(|e| Error::from_data_io(format!("reading {}", raw.display()), e))?;
            if kind.is_file() {
                stats.files += 1;
                stats.bytes += n;
            }
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if kind.is_dir() {
            let path = dest.join(&rel);
            ensure_inside(dest, &path)?;
            fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            let mode = entry.header().mode().unwrap_or(0o755);
            let mtime = entry.header().mtime().unwrap_or(0);
            dirs.push((path, mode, mtime));
            continue;
        }
        if !(kind.is_file() || kind.is_symlink() || kind.is_hard_link()) {
            // Only what `pack` writes is restored.
            continue;
        }
        if let Some(target) = entry
            .link_name()
            .map_err(|e| Error::from_data_io("reading archive", e))?
        {
            if kind.is_hard_link() {
                safe_relative(&target).map_err(|why| {
                    Error::UnsafeEntry(format!("refusing hard link {:?}: its target {why}", raw))
                })?;
            }
        }
        let size = entry.header().size().unwrap_or(0);
        let unpacked = entry.unpack_in(dest).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData
                || crate::crypto::CryptoError::from_io(&e).is_some()
                || e.kind() == io::ErrorKind::UnexpectedEof
            {
                Error::from_data_io(format!("restoring {}", raw.display()), e)
            } else if e.to_string().contains("outside of") {
                Error::UnsafeEntry(format!(
                    "refusing archive entry {:?}: it would be written outside the destination through a symlink",
                    raw
                ))
            } else {
                Error::io(format!("restoring {}", raw.display()), e)
            }
        })?;
        if !unpacked {
            return Err(Error::UnsafeEntry(format!(
                "refusing archive entry {:?}: it would land outside the destination",
                raw
            )));
        }
        if kind.is_file() {
            stats.files += 1;
            stats.bytes += size;
        }
    }
    // Deepest first, so a parent's mtime is set after its children changed it.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0.components().count()));
    for (path, mode, mtime) in dirs {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| Error::io(format!("setting mode of {}", path.display()), e))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        filetime::set_symlink_file_times(
            &path,
            filetime::FileTime::from_unix_time(mtime as i64, 0),
            filetime::FileTime::from_unix_time(mtime as i64, 0),
        )
        .map_err(|e| Error::io(format!("setting mtime of {}", path.display()), e))?;
    }
    Ok(stats)
}

/// Refuses a path whose existing parent resolves outside `dest` (a symlink planted earlier).
fn ensure_inside(dest: &Path, path: &Path) -> Result<()> {
    let root = dest
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", dest.display()), e))?;
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            return Ok(());
        }
    }
    let real = probe
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", probe.display()), e))?;
    if real.starts_with(&root) {
        Ok(())
    } else {
        Err(Error::UnsafeEntry(format!(
            "refusing archive entry {}: it would be written outside the destination through a symlink",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_checked() {
        assert!(safe_relative(Path::new("a/b")).is_ok());
        assert!(safe_relative(Path::new("./a")).is_ok());
        assert!(safe_relative(Path::new("../a")).is_err());
        assert!(safe_relative(Path::new("a/../../b")).is_err());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
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
    fn escaping_entries_are_refused() {
        let cases: Vec<Vec<u8>> = vec![
            tar_zst(|b| raw_entry(b, b"../evil", tar::EntryType::Regular, b"")),
            tar_zst(|b| raw_entry(b, b"/tmp/evil", tar::EntryType::Regular, b"")),
            tar_zst(|b| {
                raw_entry(b, b"link", tar::EntryType::Symlink, b"/");
                raw_entry(b, b"link/evil", tar::EntryType::Regular, b"");
            }),
            tar_zst(|b| {
                raw_entry(b, b"dl", tar::EntryType::Symlink, b"..");
                raw_entry(b, b"dl/evil", tar::EntryType::Regular, b"");
            }),
        ];
        for (i, data) in cases.into_iter().enumerate() {
            let outer = tempfile::tempdir().unwrap();
            let dest = outer.path().join("dest");
            fs::create_dir(&dest).unwrap();
            let e = unpack(&data[..], Some(&dest)).unwrap_err();
            assert!(matches!(e, Error::UnsafeEntry(_)), "case {i}: {e}");
            assert!(e.to_string().contains("refusing"), "case {i}: {e}");
            assert!(!outer.path().join("evil").exists(), "case {i} escaped");
        }
    }
}

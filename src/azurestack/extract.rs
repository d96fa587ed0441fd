//! The decrypted zip: every entry name is checked before anything is extracted, and every
//! entry is decoded (CRC-32 checked by the zip reader) whether it is extracted or only checked.
//! Nested zips stay files.

use crate::error::{Error, Result};
use serde::Serialize;
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What a zip held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ZipStats {
    /// Entries (files and folders).
    pub entries: u64,
    /// File entries.
    pub files: u64,
    /// Bytes of the files, decompressed.
    pub bytes: u64,
}

/// The safe relative path of a zip entry name, or `None` when it would leave the destination
/// (absolute, drive letter, `..`, NUL).
pub fn safe_entry_path(name: &str) -> Option<PathBuf> {
    if name.contains('\0') || name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' {
        return None;
    }
    let mut out = PathBuf::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            p => {
                let mut c = Path::new(p).components();
                match (c.next(), c.next()) {
                    (Some(Component::Normal(_)), None) => out.push(p),
                    _ => return None,
                }
            }
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

fn bad_zip(name: &str) -> impl Fn(zip::result::ZipError) -> Error + '_ {
    move |e| {
        Error::VerificationFailed(format!(
            "{name}: the decrypted data is not a valid zip archive: {e}"
        ))
    }
}

/// An opened zip and (relative path, is a folder) of each of its entries.
type CheckedZip = (zip::ZipArchive<File>, Vec<(PathBuf, bool)>);

/// Opens the zip and checks every entry name.
fn open_checked(file: File, name: &str) -> Result<CheckedZip> {
    let mut zip = zip::ZipArchive::new(file).map_err(bad_zip(name))?;
    let mut paths = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(bad_zip(name))?;
        let entry_name = entry.name().to_string();
        let path = safe_entry_path(&entry_name).ok_or_else(|| {
            Error::UnsafeEntry(format!(
                "{name}: the zip entry {entry_name:?} would land outside the destination; nothing was extracted"
            ))
        })?;
        if entry.is_symlink() {
            return Err(Error::UnsafeEntry(format!(
                "{name}: the zip entry {entry_name:?} is a symbolic link, which is not extracted; nothing was extracted"
            )));
        }
        if entry.encrypted() {
            return Err(Error::VerificationFailed(format!(
                "{name}: the zip entry {entry_name:?} is password-protected, which Azure Stack snapshots never are"
            )));
        }
        paths.push((path, entry.is_dir()));
    }
    Ok((zip, paths))
}

/// Copies entry `i` into `out`; a damaged entry (bad CRC, bad deflate data) is a verification
/// failure, a failed write a local I/O error.
fn copy_entry(
    zip: &mut zip::ZipArchive<File>,
    i: usize,
    rel: &Path,
    out: &mut dyn io::Write,
    written_to: &str,
    name: &str,
) -> Result<u64> {
    let mut entry = zip.by_index(i).map_err(bad_zip(name))?;
    io::copy(&mut entry, out).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
            Error::VerificationFailed(format!("{name}: zip entry {}: {e}", rel.display()))
        } else {
            Error::io(format!("writing {written_to}"), e)
        }
    })
}

/// Extracts a zip into `dir` (which must exist); every name is checked before anything is
/// written. `name` names the snapshot in errors.
pub fn extract_zip(file: File, dir: &Path, name: &str) -> Result<ZipStats> {
    let (mut zip, paths) = open_checked(file, name)?;
    let mut stats = ZipStats {
        entries: paths.len() as u64,
        ..ZipStats::default()
    };
    for (i, (rel, is_dir)) in paths.iter().enumerate() {
        let path = dir.join(rel);
        if *is_dir {
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        let mut out = File::create(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        stats.bytes += copy_entry(
            &mut zip,
            i,
            rel,
            &mut out,
            &path.display().to_string(),
            name,
        )?;
        stats.files += 1;
    }
    Ok(stats)
}

/// Decodes every entry of a zip without writing anything: the same checks as
/// [`extract_zip`] (names, links, CRC-32 and deflate data of every file).
pub fn check_zip(file: File, name: &str) -> Result<ZipStats> {
    let (mut zip, paths) = open_checked(file, name)?;
    let mut stats = ZipStats {
        entries: paths.len() as u64,
        ..ZipStats::default()
    };
    for (i, (rel, is_dir)) in paths.iter().enumerate() {
        if *is_dir {
            continue;
        }
        stats.bytes += copy_entry(&mut zip, i, rel, &mut io::sink(), "nowhere", name)?;
        stats.files += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        for ok in ["a.txt", "dir/a.txt", "dir\\a.txt", "./a", "dir/", "a/./b"] {
            assert!(safe_entry_path(ok).is_some(), "{ok}");
        }
        assert_eq!(safe_entry_path("d\\e/f").unwrap(), Path::new("d/e/f"));
        for bad in [
            "../a",
            "a/../../b",
            "a/../b",
            "/etc/passwd",
            "\\x",
            "C:\\x",
            "c:x",
            "",
            ".",
            "a\0b",
        ] {
            assert!(safe_entry_path(bad).is_none(), "{bad:?}");
        }
    }
}

//! The destination of a restore: a directory handle everything is created below, without ever
//! following a symlink or replacing what is there.

use super::{os_name, refuse};
use crate::error::{Error, Result};
use cap_fs_ext::DirExt;
use cap_std::fs::Dir;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The destination: a directory handle, the last parent directory opened (entries come in
/// directory order, so most share it; shared with the file writer through an `Arc`), and the
/// directories whose mode and mtime are set last.
pub(super) struct Dest {
    pub(super) root: Dir,
    cached: Option<(Vec<Vec<u8>>, Arc<Dir>)>,
    pub(super) dirs: Vec<(Vec<Vec<u8>>, u32, u64)>,
}

pub(super) fn io_err(shown: &str, e: io::Error) -> Error {
    Error::io(format!("restoring {shown}"), e)
}

impl Dest {
    pub(super) fn new(root: Dir) -> Self {
        Dest {
            root,
            cached: None,
            dirs: Vec::new(),
        }
    }

    /// The directory `parts` names, created (without following any symlink) when missing.
    pub(super) fn dir(&mut self, parts: &[Vec<u8>], shown: &str) -> Result<&Arc<Dir>> {
        if self.cached.as_ref().map(|c| c.0.as_slice()) != Some(parts) {
            let mut cur = self.root.try_clone().map_err(|e| io_err(shown, e))?;
            for (i, c) in parts.iter().enumerate() {
                let name = os_name(c);
                let next = match cur.open_dir_nofollow(&name) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        cur.create_dir(&name).map_err(|e| io_err(shown, e))?;
                        cur.open_dir_nofollow(&name).map_err(|e| io_err(shown, e))?
                    }
                    Err(e) => {
                        let what = String::from_utf8_lossy(&parts[..=i].join(&b'/')).into_owned();
                        return Err(match cur.symlink_metadata(&name) {
                            Ok(m) if m.file_type().is_symlink() => refuse(
                                shown,
                                format!("it would be written through the symlink {what:?}"),
                            ),
                            Ok(m) if !m.is_dir() => refuse(
                                shown,
                                format!("it would be written below the file {what:?}"),
                            ),
                            _ => io_err(shown, e),
                        });
                    }
                };
                cur = next;
            }
            self.cached = Some((parts.to_vec(), Arc::new(cur)));
        }
        Ok(&self.cached.as_ref().expect("just set").1)
    }
}

#[cfg(unix)]
fn std_perms(mode: u32) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(mode)
}

/// Creates the file `name` in `parent`, never following or replacing anything, readable by
/// the owner only until [`finish_file`] sets its mode.
pub(super) fn create_file(parent: &Dir, name: &Path, shown: &str) -> Result<std::fs::File> {
    // create_new: O_CREAT|O_EXCL never follows a symlink and never replaces a file.
    let mut options = cap_std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = parent
        .open_with(name, &options)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => refuse(shown, "the name appears twice in the archive"),
            _ => io_err(shown, e),
        })?;
    Ok(file.into_std())
}

/// Sets a written file's mode and mtime (after its data, so a read-only mode never stops the
/// write).
pub(super) fn finish_file(file: &std::fs::File, shown: &str, mode: u32, mtime: u64) -> Result<()> {
    #[cfg(unix)]
    file.set_permissions(std_perms(mode))
        .map_err(|e| io_err(shown, e))?;
    #[cfg(not(unix))]
    let _ = mode;
    let t = filetime::FileTime::from_unix_time(mtime as i64, 0);
    filetime::set_file_handle_times(file, Some(t), Some(t)).map_err(|e| io_err(shown, e))
}

/// Writes a whole file whose data is in memory: create, write, mode, mtime, close.
pub(super) fn write_small(
    parent: &Dir,
    name: &Path,
    data: &[u8],
    shown: &str,
    mode: u32,
    mtime: u64,
) -> Result<()> {
    let mut file = create_file(parent, name, shown)?;
    file.write_all(data).map_err(|e| io_err(shown, e))?;
    finish_file(&file, shown, mode, mtime)
}

/// Sets the directories' modes and mtimes once everything is written, deepest first, so a
/// parent's mtime is set after its children changed it.
pub(super) fn set_dir_times(mut d: Dest) -> Result<()> {
    d.cached = None;
    let mut dirs = std::mem::take(&mut d.dirs);
    dirs.sort_by_key(|x| std::cmp::Reverse(x.0.len()));
    for (parts, mode, mtime) in dirs {
        let shown = String::from_utf8_lossy(&parts.join(&b'/')).into_owned();
        let rel: PathBuf = parts.iter().map(|c| os_name(c)).collect();
        #[cfg(unix)]
        d.root
            .set_permissions(&rel, cap_std::fs::Permissions::from_std(std_perms(mode)))
            .map_err(|e| io_err(&shown, e))?;
        #[cfg(not(unix))]
        let _ = mode;
        let t = cap_std::time::SystemTime::from_std(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime),
        );
        let spec = |t| Some(cap_fs_ext::SystemTimeSpec::Absolute(t));
        d.root
            .set_symlink_times(&rel, spec(t), spec(t))
            .map_err(|e| io_err(&shown, e))?;
    }
    Ok(())
}

/// Creates the directory `name` in `parent`; one already there (made for an earlier entry
/// below it) is fine, anything else under that name is a duplicate.
pub(super) fn make_dir(parent: &Dir, name: &Path, shown: &str) -> Result<()> {
    match parent.create_dir(name) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match parent.symlink_metadata(name) {
            Ok(m) if m.is_dir() => {}
            _ => return Err(refuse(shown, "the name appears twice in the archive")),
        },
        Err(e) => return Err(io_err(shown, e)),
    }
    Ok(())
}

/// Creates the symlink `name` in `parent`, pointing at `link` (never followed here).
pub(super) fn make_symlink(parent: &Dir, name: &Path, link: &[u8], shown: &str) -> Result<()> {
    let target = os_name(link);
    #[cfg(unix)]
    let made = parent.symlink_contents(&target, name);
    #[cfg(windows)]
    let made = parent.symlink_file(&target, name);
    made.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => refuse(shown, "the name appears twice in the archive"),
        _ => io_err(shown, e),
    })?;
    Ok(())
}

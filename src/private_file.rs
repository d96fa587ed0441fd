//! Private files (a leaf module): settings, secrets and state are read only when group and
//! others cannot read them, and written atomically with mode 0600 (temporary file in the same
//! directory, fsync, rename, fsync of the directory). Also the local-folder rules shared by
//! `restore` and `unprotect`: private staging folders and which destinations may be written.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

const TMP_PREFIX: &str = ".azs-backup.";
const TMP_SUFFIX: &str = ".tmp";

/// A temporary directory `PREFIX*SUFFIX` in `dir` that only its owner can enter (0700): for a
/// restore in progress, whose contents are not yet authenticated and may be private.
pub fn private_tempdir_in(dir: &Path, prefix: &str, suffix: &str) -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder
        .tempdir_in(dir)
        .map_err(|e| Error::io(format!("creating a folder in {}", dir.display()), e))
}

/// True for the name of a temporary file of [`write_atomic`] (left behind only by a crash).
pub fn is_leftover(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)
}

/// Reads a file that must not be readable by group or others. `None` when it does not exist.
pub fn read_private(path: &Path) -> Result<Option<String>> {
    match std::fs::metadata(path) {
        Ok(m) => {
            check_private(path, &m)?;
            std::fs::read_to_string(path)
                .map(Some)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

#[cfg(unix)]
fn check_private(path: &Path, m: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = m.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::BadSettingsFile {
            path: path.to_path_buf(),
            message: format!(
                "permissions {mode:04o} let other users read it; it may hold secrets: run `chmod 600 {}`",
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _m: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Creates a directory (and its parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Writes `data` to `path` atomically: a 0600 temporary file in the same directory, fsync,
/// rename, fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ctx = || format!("writing {}", path.display());
    // tempfile creates files with mode 0600 on Unix.
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(data).map_err(|e| Error::io(ctx(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(ctx(), e))?;
    crate::testhook::point("private.before-rename");
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A destination must be missing, an empty directory, or (with `force`) any directory.
/// Returns whether it exists; `verb` names the operation in the refusal.
pub fn check_destination(dest: &Path, force: bool, verb: &str) -> Result<bool> {
    match std::fs::read_dir(dest) {
        Ok(mut rd) => {
            if rd.next().is_some() && !force {
                return Err(Error::Restore(format!(
                    "{} is not empty; {verb} into an empty or new directory, or pass --force",
                    dest.display()
                )));
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("reading {}", dest.display()), e)),
    }
}

//! `clear` (`Clear-AzsBackupConfiguration`): the local files go, the target stays.

use crate::error::{Error, Result};
use crate::settings::SettingsPaths;
use std::path::{Path, PathBuf};

/// `clear` (`Clear-AzsBackupConfiguration`): removes the settings, secrets and state files and
/// the local lock files (the run lock and the state lock); never the target. Refuses while another process holds the lock file.
/// Returns the files removed; `NotConfigured` when there was none.
pub fn clear(paths: &SettingsPaths) -> Result<Vec<PathBuf>> {
    let state_lock = crate::state::lock_path(&paths.state);
    let files = [
        &paths.settings,
        &paths.secrets,
        &paths.state,
        &state_lock,
        &paths.lock,
    ];
    let existing: Vec<&PathBuf> = files
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if existing.is_empty() {
        return Err(Error::NotConfigured {
            path: paths.settings.clone(),
        });
    }
    // A run that holds the local lock must finish first.
    let _guard = match std::fs::OpenOptions::new().read(true).open(&paths.lock) {
        Ok(f) => {
            use fs4::fs_std::FileExt;
            match FileExt::try_lock_exclusive(&f) {
                Ok(true) => Some(f),
                Ok(false) => {
                    return Err(Error::Locked(format!(
                        "{} is held by a running backup; nothing was removed (try again when it has finished)",
                        paths.lock.display()
                    )))
                }
                Err(_) => None,
            }
        }
        Err(_) => None,
    };
    // Nobody may be in the middle of a state update.
    let _state_guard = crate::state::lock(&paths.state)?;
    let mut removed = Vec::new();
    for p in files {
        match std::fs::remove_file(p) {
            Ok(()) => removed.push(p.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", p.display()), e)),
        }
    }
    // Temporary files of atomic writes that a crash left behind may hold the password.
    let dir = paths
        .settings
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::private_file::is_leftover(&name) && e.file_type().is_ok_and(|t| t.is_file()) {
                let p = e.path();
                if std::fs::remove_file(&p).is_ok() {
                    removed.push(p);
                }
            }
        }
    }
    Ok(removed)
}

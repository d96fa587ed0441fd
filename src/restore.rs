//! `restore`: decrypts a backup with the private key (or legacy key) and extracts every source,
//! or one, into a directory: source `NAME` lands in `<to>/NAME/`. Each source is extracted into
//! a temporary folder beside it and renamed into place only after its last chunk authenticated
//! and its checksum matched the manifest.

use crate::crypto::{Decryptor, Identity};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, RoleStatus, Status};
use crate::store::Store;
use crate::verify::{check_identity, target_first, HashingReader, KeepError, OpenedWith};
use std::io;
use std::path::{Path, PathBuf};

/// What to restore.
pub struct RestoreRequest<'a> {
    pub target: &'a dyn Store,
    pub backup_id: &'a str,
    pub identity: &'a Identity,
    pub to: &'a Path,
    /// Only this source (all when `None`).
    pub source: Option<&'a str>,
    /// Restore into a non-empty `to`.
    pub force: bool,
    /// Keep setuid, setgid and sticky bits (masked by default).
    pub preserve_special_bits: bool,
}

/// One restored source.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    pub role_name: String,
    pub path: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// The recipient of the backup the key given opened.
    pub opened_with: OpenedWith,
}

/// Restores and returns what was written.
pub fn restore(
    req: &RestoreRequest<'_>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<Restored>> {
    let m = manifest::read(req.target, req.backup_id)?;
    check_identity(&m, req.identity)?;
    let roles = select_roles(&m, req.source)?;
    prove_key(req, &m, &roles)?;
    prepare_destination(req.to, req.force)?;
    if req.force {
        remove_leftovers(req.to, &roles);
    }
    let mut out = Vec::new();
    for role in roles {
        let Some(file) = role
            .file_name
            .as_deref()
            .filter(|_| role.status != Status::Failed)
        else {
            if req.source.is_some() {
                return Err(Error::Restore(format!(
                    "source {} failed when backup {} was made; there is nothing to restore",
                    role.role_name, m.backup_id
                )));
            }
            continue;
        };
        let final_dir = req.to.join(&role.role_name);
        if final_dir.exists() && !req.force {
            return Err(Error::Restore(format!(
                "{} already exists; pass --force to restore over it",
                final_dir.display()
            )));
        }
        // 0700: nobody else can look into a restore in progress (or left by a crash).
        let tmp = crate::private_file::private_tempdir_in(
            req.to,
            &format!(".{}.", role.role_name),
            ".partial",
        )?;
        let (stats, opened_with) = unpack_source(req, &m, role, file, tmp.path(), progress)?;
        crate::testhook::point("restore.source-unpacked");
        move_into_place(req.to, &role.role_name, tmp.keep(), &final_dir)?;
        out.push(Restored {
            role_name: role.role_name.clone(),
            path: final_dir,
            files: stats.files,
            bytes: stats.bytes,
            opened_with,
        });
    }
    Ok(out)
}

/// The sources to restore: the one named (`--source`), else all.
fn select_roles<'m>(m: &'m Manifest, source: Option<&str>) -> Result<Vec<&'m RoleStatus>> {
    let Some(name) = source else {
        return Ok(m.role_status.iter().collect());
    };
    let r = m
        .role_status
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::invalid(
                "source",
                format!(
                    "backup {} has no source {name:?}; it has: {}",
                    m.backup_id,
                    m.role_status
                        .iter()
                        .map(|r| r.role_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    Ok(vec![r])
}

/// Proves the key unwraps a file key before anything is created on disk.
fn prove_key(req: &RestoreRequest<'_>, m: &Manifest, roles: &[&RoleStatus]) -> Result<()> {
    let Some(file) = roles
        .iter()
        .filter(|r| r.status != Status::Failed)
        .find_map(|r| r.file_name.as_deref())
    else {
        return Ok(());
    };
    let path = format!("{}/{file}", manifest::backup_dir(&m.backup_id));
    let (reader, kept) = KeepError::new(req.target.open(&path)?);
    Decryptor::new(reader, req.identity).map_err(|e| {
        target_first(
            req.target,
            &path,
            &kept,
            Error::from_data_io(file.to_string(), e),
        )
    })?;
    Ok(())
}

/// Decrypts, checks and unpacks one source's archive into `tmp`: every chunk authenticated,
/// the SHA-256 and the file count compared with the manifest.
fn unpack_source(
    req: &RestoreRequest<'_>,
    m: &Manifest,
    role: &RoleStatus,
    file: &str,
    tmp: &Path,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<(crate::archive::UnpackStats, OpenedWith)> {
    let path = format!("{}/{file}", manifest::backup_dir(&m.backup_id));
    let mut on_read = |n: u64| progress(&role.role_name, n);
    let (source, kept) = KeepError::new(req.target.open(&path)?);
    let mut reader = HashingReader::with_progress(source, &mut on_read);
    let failed = |e: Error| target_first(req.target, &path, &kept, e);
    let mut dec = Decryptor::new(&mut reader, req.identity).map_err(|e| {
        failed(Error::from_data_io(
            format!("{}: {file}", role.role_name),
            e,
        ))
    })?;
    let opened_with = OpenedWith::of(m, dec.opened_by());
    let opts = crate::archive::UnpackOptions {
        preserve_special_bits: req.preserve_special_bits,
    };
    let stats = crate::archive::unpack(&mut dec, Some(tmp), &opts).map_err(failed)?;
    io::copy(&mut dec, &mut io::sink()).map_err(|e| {
        failed(Error::from_data_io(
            format!("{}: {file}", role.role_name),
            e,
        ))
    })?;
    drop(dec);
    let (digest, _) = reader.finish().map_err(|e| {
        failed(Error::from_data_io(
            format!("{}: {file}", role.role_name),
            e,
        ))
    })?;
    if Some(digest.as_str()) != role.sha256.as_deref() {
        return Err(Error::VerificationFailed(format!(
            "{}: {file}: SHA-256 does not match the manifest; nothing of it was restored",
            role.role_name
        )));
    }
    crate::verify::check_file_count(role, &stats)?;
    Ok((stats, opened_with))
}

/// Renames the authenticated temporary folder to `final_dir`. With --force, the folder being
/// replaced is set aside first and deleted only once the new one is in place: a crash in
/// between never leaves the source missing.
fn move_into_place(to: &Path, role_name: &str, tmp_path: PathBuf, final_dir: &Path) -> Result<()> {
    let aside = if final_dir.exists() {
        let aside = to.join(format!(
            ".{}.{}.replaced",
            role_name,
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(final_dir, &aside)
            .map_err(|e| Error::io(format!("replacing {}", final_dir.display()), e))?;
        Some(aside)
    } else {
        None
    };
    // The temporary folder's own mode (0700) and mtime give way to the archive's root, if any;
    // otherwise it keeps the mode a plain mkdir would give.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(0o755));
    }
    std::fs::rename(&tmp_path, final_dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp_path);
        if let Some(a) = &aside {
            let _ = std::fs::rename(a, final_dir);
        }
        Error::io(format!("moving into {}", final_dir.display()), e)
    })?;
    crate::testhook::point("restore.source-renamed");
    if let Some(a) = aside {
        std::fs::remove_dir_all(&a)
            .map_err(|e| Error::io(format!("removing the replaced {}", a.display()), e))?;
    }
    Ok(())
}

/// Removes what a crashed restore of these sources left in `to`: hidden `.NAME.*.partial`
/// folders (never renamed into place, so never authenticated) and `.NAME.*.replaced` folders (set
/// aside by a `--force` restore that died before deleting them). Best effort.
fn remove_leftovers(to: &Path, roles: &[&manifest::RoleStatus]) {
    let Ok(rd) = std::fs::read_dir(to) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = roles.iter().any(|r| {
            name.starts_with(&format!(".{}.", r.role_name))
                && (name.ends_with(".partial") || name.ends_with(".replaced"))
        });
        if ours && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn prepare_destination(to: &Path, force: bool) -> Result<()> {
    if crate::private_file::check_destination(to, force, "restore")? {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))
}

//! Where backups go. A [`Store`] is a directory tree addressed with `/`-separated relative
//! paths: a local directory ([`local::LocalStore`]) or an SMB share (`smb::SmbStore`, behind
//! the `smb` feature). Everything above this module is written against the trait only.
//! Operators and messages say *target* (the setting, the exit code, the JSON); the code says
//! *store*, so that the module does not share its name with cargo's `target/` build folder.
//!
//! Contract every implementation keeps:
//! - [`Store::create`] returns an [`Upload`]; the data becomes visible under its name only when
//!   [`Upload::commit`] succeeds (written under a unique temporary name, size checked, renamed).
//!   Dropping an upload without committing removes the temporary file.
//! - [`Store::create_new`] creates a small file only if the name is free (used for locks).
//! - Errors are [`StoreError`]s whose message says what the operator should check.

pub mod faulty;
pub mod local;
#[cfg(feature = "smb")]
pub mod smb;
pub mod spec;

use std::io::{Read, Write};

pub use spec::TargetSpec;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// Last modification, when the target tells.
    pub modified: Option<std::time::SystemTime>,
}

/// Space on the target, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total: u64,
    pub available: u64,
}

/// Errors of a target. Each message names what to check.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("access denied to {target}: check the username and password, and that this user may read and write the share{detail}")]
    AccessDenied { target: String, detail: String },
    #[error("{what} not found on {target}: check the share name and folder{detail}")]
    NotFound {
        target: String,
        what: String,
        detail: String,
    },
    #[error("cannot reach {target}: check the network, the host name and that the SMB port (445, or the one given) is open{detail}")]
    Unreachable { target: String, detail: String },
    #[error("{target} is full: free space on the share or lower the retention period{detail}")]
    Full { target: String, detail: String },
    #[error("{path} already exists on {target}")]
    AlreadyExists { target: String, path: String },
    #[error("upload of {path} to {target} is incomplete: wrote {written} bytes, the share holds {found}")]
    ShortWrite {
        target: String,
        path: String,
        written: u64,
        found: u64,
    },
    /// An `AZS_BACKUP_SMB_*` environment variable with a value outside its range (the message
    /// names the variable and the range): the operator's input, not the target's fault.
    #[error("{0}")]
    BadEnvironment(String),
    #[error("{op} {path} on {target}: {source}")]
    Io {
        target: String,
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// `Ok` when the target holds as many bytes of `path` as were `written`, else
    /// [`StoreError::ShortWrite`]: every upload checks this before it is renamed into place.
    pub fn check_size(target: &str, path: &str, written: u64, found: u64) -> Result<(), Self> {
        if found == written {
            return Ok(());
        }
        Err(StoreError::ShortWrite {
            target: target.to_string(),
            path: path.to_string(),
            written,
            found,
        })
    }

    /// True for errors that mean the target as a whole cannot be used (unreachable, denied,
    /// missing share, full), as opposed to one file being wrong.
    pub fn is_target_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::AccessDenied { .. }
                | StoreError::NotFound { .. }
                | StoreError::Unreachable { .. }
                | StoreError::Full { .. }
        )
    }

    /// True for "device or resource busy": the server holds the file open (for another client,
    /// or for a session of this one that is gone but not yet timed out).
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => io_is_busy(source),
            _ => false,
        }
    }

    /// Maps an `io::Error` to the variant that says what to check.
    pub fn from_io(target: &str, op: &'static str, path: &str, e: std::io::Error) -> StoreError {
        use std::io::ErrorKind as K;
        let detail = format!(" ({op} {path}: {e})");
        let target = target.to_string();
        // libsmbclient hands back plain errno values; some (ENETRESET, ESHUTDOWN, EHOSTDOWN)
        // have no ErrorKind of their own in std.
        #[cfg(target_os = "linux")]
        if let Some(code) = e.raw_os_error() {
            const LOST_CONNECTION: [i32; 10] = [100, 101, 102, 103, 104, 107, 108, 110, 112, 113];
            if LOST_CONNECTION.contains(&code) {
                return StoreError::Unreachable { target, detail };
            }
            if code == 28 || code == 122 {
                return StoreError::Full { target, detail };
            }
        }
        match e.kind() {
            K::PermissionDenied => StoreError::AccessDenied { target, detail },
            K::NotFound => StoreError::NotFound {
                target,
                what: path.to_string(),
                detail,
            },
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::TimedOut
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::BrokenPipe => StoreError::Unreachable { target, detail },
            K::StorageFull | K::QuotaExceeded => StoreError::Full { target, detail },
            K::AlreadyExists => StoreError::AlreadyExists {
                target,
                path: path.to_string(),
            },
            _ => StoreError::Io {
                target,
                op,
                path: path.to_string(),
                source: e,
            },
        }
    }
}

/// The room [`Store::read_all`] and [`Store::read_limited`] start with (manifests and locks
/// are a few KiB).
const SMALL_READ: usize = 64 << 10;

/// True for "device or resource busy" (`EBUSY`, what libsmbclient makes of a sharing
/// violation): the server holds the file open for another session.
pub fn io_is_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ResourceBusy
        || (cfg!(target_os = "linux") && e.raw_os_error() == Some(16))
}

/// Splits a target path (relative, `/`-separated; `""` is the target's root) into its
/// components. Every target checks every path it is given with this, whatever the caller:
/// empty, `.`, `..` and absolute components, backslashes and control characters are refused,
/// so no name read from the share can address anything outside the target.
pub fn rel_components(rel: &str) -> std::io::Result<Vec<&str>> {
    if rel.is_empty() {
        return Ok(Vec::new());
    }
    rel.split('/')
        .map(|part| {
            let bad = part.is_empty()
                || part == "."
                || part == ".."
                || part.contains('\\')
                || (cfg!(windows) && part.contains(':'))
                || part.chars().any(char::is_control);
            if bad {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{:?} is not a plain relative path on the target (empty, '.', '..' and absolute components, backslashes and control characters are refused)",
                        rel.chars().take(120).collect::<String>()
                    ),
                ))
            } else {
                Ok(part)
            }
        })
        .collect()
}

/// A file being written to a target. Visible under its final name only after [`Upload::commit`].
pub trait Upload: Write {
    /// Flushes, checks the stored size against what was written and renames the temporary file
    /// to its final name. Returns the number of bytes stored.
    fn commit(self: Box<Self>) -> Result<u64, StoreError>;
}

/// A place backups are written to and read from. Paths are relative, `/`-separated.
pub trait Store {
    /// A human-readable name of the target (never contains a password).
    fn display(&self) -> String;
    /// Creates a directory and its parents; succeeds when it exists.
    fn mkdir_all(&self, dir: &str) -> Result<(), StoreError>;
    /// Entries of a directory (without `.` and `..`).
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StoreError>;
    /// The entry at `path`, or `None` when nothing is there.
    fn stat(&self, path: &str) -> Result<Option<Entry>, StoreError>;
    /// Opens a file for reading.
    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>, StoreError>;
    /// Starts an atomic upload to `path` (replacing nothing: fails at commit if `path` exists).
    fn create(&self, path: &str) -> Result<Box<dyn Upload + '_>, StoreError>;
    /// Creates `path` with `data` only if nothing exists there; `Ok(false)` when it exists.
    fn create_new(&self, path: &str, data: &[u8]) -> Result<bool, StoreError>;
    /// Rewrites an existing small file in place (no moment without the file, no rename): used
    /// to refresh a lock. `data` should not be shorter than what it replaces; it is written
    /// over the start of the file and the file is then cut to its length.
    fn overwrite(&self, path: &str, data: &[u8]) -> Result<(), StoreError>;
    /// Removes a file.
    fn remove_file(&self, path: &str) -> Result<(), StoreError>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &str) -> Result<(), StoreError>;
    /// Renames a file or directory; `to` must not exist.
    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError>;
    /// Total and available space, when the target can tell.
    fn capacity(&self) -> Result<Option<Capacity>, StoreError>;
    /// A hint: an upload of about `bytes` bytes (`u64::MAX`: unknown) follows soon. An SMB
    /// target on a slow link connects its helper processes meanwhile (`smb/warm.rs`).
    fn expect_upload(&self, bytes: u64) {
        let _ = bytes;
    }

    /// Reads a whole small file.
    fn read_all(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        // Room up front: an empty Vec makes `read_to_end` start with a 32-byte probe, one more
        // request (a round trip on a share) for every small file.
        let mut buf = Vec::with_capacity(SMALL_READ);
        self.open(path)?
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::from_io(&self.display(), "read", path, e))?;
        Ok(buf)
    }

    /// Reads a small file, at most `limit + 1` bytes of it (so a caller can tell a file that is
    /// too large without reading all of it).
    fn read_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let mut buf =
            Vec::with_capacity(SMALL_READ.min(usize::try_from(limit).unwrap_or(SMALL_READ)) + 1);
        self.open(path)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::from_io(&self.display(), "read", path, e))?;
        Ok(buf)
    }

    /// Writes a whole small file atomically (replacing an existing one).
    fn write_all(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        if self.stat(path)?.is_some() {
            self.remove_file(path)?;
        }
        let mut up = self.create(path)?;
        up.write_all(data)
            .map_err(|e| StoreError::from_io(&self.display(), "write", path, e))?;
        up.commit()?;
        Ok(())
    }

    /// Removes a directory and everything under it.
    fn remove_tree(&self, dir: &str) -> Result<(), StoreError> {
        for e in self.list(dir)? {
            let p = if dir.is_empty() {
                e.name.clone()
            } else {
                format!("{dir}/{}", e.name)
            };
            if e.is_dir {
                self.remove_tree(&p)?;
            } else {
                self.remove_file(&p)?;
            }
        }
        self.remove_dir(dir)
    }
}

/// Credentials for a share: `DOMAIN\user` or `user`, and the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: zeroize::Zeroizing<String>,
}

impl Credentials {
    /// Splits `DOMAIN\user` into (workgroup, user); a plain `user` has no workgroup.
    pub fn split(&self) -> (Option<&str>, &str) {
        match self.username.split_once('\\') {
            Some((d, u)) => (Some(d), u),
            None => (None, self.username.as_str()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Opens the target a settings path names. Local targets ignore the credentials. In the fault
/// suite (`AZS_BACKUP_TEST_FAULT`, tests only) the target is wrapped in a
/// [`faulty::FaultyStore`]; otherwise it is returned as it is.
pub fn open(
    spec: &TargetSpec,
    credentials: Option<&Credentials>,
) -> Result<Box<dyn Store>, StoreError> {
    open_real(spec, credentials).map(faulty::wrap)
}

fn open_real(
    spec: &TargetSpec,
    credentials: Option<&Credentials>,
) -> Result<Box<dyn Store>, StoreError> {
    match spec {
        TargetSpec::Local(dir) => Ok(Box::new(local::LocalStore::open(dir)?)),
        #[cfg(feature = "smb")]
        TargetSpec::Smb(unc) => Ok(Box::new(smb::SmbStore::connect(unc, credentials)?)),
        #[cfg(not(feature = "smb"))]
        TargetSpec::Smb(unc) => {
            let _ = credentials;
            Err(StoreError::Unreachable {
                target: unc.to_string(),
                detail: " (this build has no SMB support: rebuild with the default `smb` feature, or mount the share and give its local path)".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_full_disks_say_what_to_check() {
        let io = |code| std::io::Error::from_raw_os_error(code);
        // ECONNREFUSED, ETIMEDOUT, ENETRESET (a server killed mid-write), EHOSTDOWN.
        for code in [111, 110, 102, 112] {
            let e = StoreError::from_io("smb://h/s", "write", "f", io(code));
            assert!(matches!(e, StoreError::Unreachable { .. }), "{code}: {e}");
            assert!(e.is_target_unavailable());
        }
        for code in [28, 122] {
            let e = StoreError::from_io("smb://h/s", "write", "f", io(code));
            assert!(matches!(e, StoreError::Full { .. }), "{code}: {e}");
        }
        let e = StoreError::from_io("t", "open", "f", io(13));
        assert!(matches!(e, StoreError::AccessDenied { .. }), "{e}");
    }
}

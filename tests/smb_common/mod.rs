//! Shared by the tests that need the throwaway Samba server (`tests/smb_target.rs`,
//! `tests/smb/cli.rs`): its environment (from `scripts/samba-server.sh start DIR; . DIR/env`) and
//! a lock across test binaries.
//!
//! `cargo test` runs test binaries one after another, but nothing stops two of them from running
//! at once (`cargo test --test a & cargo test --test b`, nextest). A test that restarts smbd or
//! fills the `tiny` share would break whatever the other binary does meanwhile, so those take
//! [`server_lock`] exclusively and every other SMB test takes it shared. The lock is an advisory
//! file lock (`flock`) on `AZS_TEST_SMB_DIR/tests.lock`; it also works between threads of one
//! process, since each call opens the file anew.
#![allow(dead_code)]

use fs4::fs_std::FileExt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// True when `AZS_TEST_SMB=required`: a missing server is a failure, not a skip.
pub fn required() -> bool {
    std::env::var("AZS_TEST_SMB").as_deref() == Ok("required")
}

/// The server's environment.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub share: String,
    /// The server's directory (`scripts/samba-server.sh start DIR`), when on this machine.
    pub dir: Option<PathBuf>,
    pub tiny_share: Option<String>,
    pub tiny_bytes: u64,
}

impl Server {
    /// Reads the environment. `None` (after a notice on stderr) when no server is configured and
    /// `AZS_TEST_SMB` is not `required`; panics when it is required.
    pub fn from_env(test: &str) -> Option<Server> {
        let host = match std::env::var("AZS_TEST_SMB_HOST") {
            Ok(h) if !h.is_empty() => h,
            _ => {
                if required() {
                    panic!("{test}: AZS_TEST_SMB=required but AZS_TEST_SMB_HOST is not set: start scripts/samba-server.sh and source its env file");
                }
                eprintln!("skipping {test}: AZS_TEST_SMB_HOST is not set (run scripts/samba-server.sh start DIR and source DIR/env)");
                return None;
            }
        };
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("{test}: {k} is not set (source the server's env file)"))
        };
        let dir = std::env::var("AZS_TEST_SMB_DIR")
            .ok()
            .map(PathBuf::from)
            .filter(|d| d.join("share").is_dir());
        if dir.is_none() && required() {
            panic!("{test}: AZS_TEST_SMB=required but AZS_TEST_SMB_DIR does not name the server's directory");
        }
        Some(Server {
            host,
            port: var("AZS_TEST_SMB_PORT").parse().expect("AZS_TEST_SMB_PORT"),
            user: var("AZS_TEST_SMB_USER"),
            password: var("AZS_TEST_SMB_PASSWORD"),
            share: var("AZS_TEST_SMB_SHARE"),
            dir,
            tiny_share: std::env::var("AZS_TEST_SMB_TINY_SHARE")
                .ok()
                .filter(|s| !s.is_empty()),
            tiny_bytes: std::env::var("AZS_TEST_SMB_TINY_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        })
    }

    /// `smb://host:port/share/folder`.
    pub fn url(&self, share: &str, folder: &str) -> String {
        format!("smb://{}:{}/{share}/{folder}", self.host, self.port)
    }

    /// A folder's directory on the server's disk, when the server runs on this machine.
    pub fn local(&self, share: &str, folder: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join("share").join(share).join(folder))
    }
}

/// Held while a test uses the server; released on drop.
pub struct ServerLock {
    _file: Option<File>,
}

/// Takes the cross-binary server lock: exclusive for tests that restart smbd or fill the tiny
/// share, shared otherwise. Without a local server directory there is nothing to lock.
pub fn server_lock(dir: Option<&Path>, exclusive: bool) -> ServerLock {
    let Some(dir) = dir else {
        return ServerLock { _file: None };
    };
    let path = dir.join("tests.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let locked = if exclusive {
        FileExt::lock_exclusive(&file)
    } else {
        FileExt::lock_shared(&file)
    };
    locked.unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    ServerLock { _file: Some(file) }
}

/// `scripts/samba-server.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/samba-server.sh")
}

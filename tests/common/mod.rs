//! Shared helpers for the tests that drive the real `azs-backup` binary.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The variables the binary reads that a test must not inherit from its environment.
pub const CLEARED_ENV: [&str; 6] = [
    "AZS_BACKUP_CONFIG",
    "AZS_BACKUP_SMB_CONNECTIONS",
    "AZS_BACKUP_PASSWORD",
    "AZS_BACKUP_NOW",
    "AZS_BACKUP_KEY_PASSWORD",
    "AZS_BACKUP_PFX_PASSWORD",
];

/// The binary under test, with a clean environment for the variables it reads.
pub fn bin() -> Command {
    let mut c = Command::cargo_bin("azs-backup").expect("binary built");
    for v in CLEARED_ENV {
        c.env_remove(v);
    }
    c
}

/// [`bin`] as a plain `std::process::Command`, for tests that spawn it and hold its pipes.
pub fn std_bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_azs-backup"));
    for v in CLEARED_ENV {
        c.env_remove(v);
    }
    c
}

/// A scratch world: a temp dir with a certificate, sources and a settings path.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The settings file used by [`World::cmd`].
    pub fn config(&self) -> PathBuf {
        self.path("settings.toml")
    }

    /// The binary with `--config` pointing at this world's settings.
    pub fn cmd(&self) -> Command {
        let mut c = bin();
        c.arg("--config")
            .arg(self.config())
            .current_dir(self.dir.path());
        c
    }

    /// Makes a certificate with `new-cert` (name `NAME.contoso.com`) and returns
    /// (cer, pem) paths. With `pfx_password`, a .pfx is written too (at `certs/NAME.contoso.com.pfx`).
    pub fn new_cert(&self, name: &str, pfx_password: Option<&str>) -> (PathBuf, PathBuf) {
        let dns = format!("{name}.contoso.com");
        let mut c = bin();
        c.args(["new-cert", "--dns-name", &dns, "--out-dir"])
            .arg(self.path("certs"));
        match pfx_password {
            Some(p) => {
                c.arg("--pfx-password-stdin").write_stdin(format!("{p}\n"));
            }
            None => {
                c.arg("--no-pfx");
            }
        }
        c.assert().success();
        (
            self.path(&format!("certs/{dns}.cer")),
            self.path(&format!("certs/{dns}.pem")),
        )
    }

    /// A 0600 copy of a `new-cert` .pem with only the private key (no CERTIFICATE block), at
    /// `name`: a key whose certificate the tool does not know.
    pub fn bare_key(&self, pem: &Path, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(pem).unwrap();
        let start = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        let end_marker = "-----END PRIVATE KEY-----";
        let end = text.find(end_marker).unwrap() + end_marker.len();
        let p = self.write(name, format!("{}\n", &text[start..end]).as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(!std::fs::read_to_string(&p).unwrap().contains("CERTIFICATE"));
        p
    }

    /// Writes a file (creating parents).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    /// A first `configure` of a local target `backups/` with the given sources (NAME=DIR).
    pub fn configure(&self, cer: &Path, sources: &[&str]) {
        self.configure_cmd(&self.path("backups"), cer, sources)
            .assert()
            .success();
    }

    /// The `configure` command of a first configuration, not run: local target `target`, the
    /// encryption certificate `cer`, the given sources (NAME=DIR), the share password on stdin.
    pub fn configure_cmd(&self, target: &Path, cer: &Path, sources: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(["configure", "--path"])
            .arg(target)
            .args(["--username", "CONTOSO\\backupshareuser", "--password-stdin"])
            .arg("--encryption-cert-path")
            .arg(cer);
        for s in sources {
            c.args(["--source", s]);
        }
        c.write_stdin("share-secret\n");
        c
    }

    /// `restore ID --key KEY --to TO`, not run.
    pub fn restore_cmd(&self, id: &str, key: &Path, to: &Path) -> Command {
        let mut c = self.cmd();
        c.args(["restore", id, "--key"])
            .arg(key)
            .arg("--to")
            .arg(to);
        c
    }

    /// `start-backup --json` and the backup id.
    pub fn backup(&self) -> String {
        let out = self
            .cmd()
            .args(["start-backup", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "start-backup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        v["backupId"].as_str().unwrap().to_string()
    }

    /// Parses the stdout of a `--json` command.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cmd().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    }
}

/// The exit code of a finished command.
pub fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited normally")
}

/// A world configured at time `now` (`AZS_BACKUP_NOW`) with a local target and one source,
/// `identity` (`src/identity/users.db`), for the schedule, prune and lock tests.
pub fn identity_world(cert_name: &str, now: &str) -> World {
    let w = World::new();
    let (cer, _) = w.new_cert(cert_name, None);
    w.write("src/identity/users.db", b"alice\nbob\n");
    w.cmd()
        .env("AZS_BACKUP_NOW", now)
        .args(["configure", "--path"])
        .arg(w.path("backups"))
        .args(["--username", "CONTOSO\\backupshareuser", "--password-stdin"])
        .arg("--encryption-cert-path")
        .arg(&cer)
        .args(["--source", "identity=src/identity"])
        .write_stdin("share-secret\n")
        .assert()
        .success();
    w
}

/// Runs the binary in `w` at time `now`.
pub fn run_at(w: &World, now: &str, args: &[&str]) -> std::process::Output {
    w.cmd()
        .env("AZS_BACKUP_NOW", now)
        .args(args)
        .output()
        .unwrap()
}

//! End-to-end tests of the real `azs-backup` binary against a throwaway Samba server (issue #3):
//!
//! ```sh
//! D=$(mktemp -d); scripts/samba-server.sh start $D && . $D/env
//! AZS_TEST_SMB=required cargo test --test smb cli::
//! scripts/samba-server.sh stop $D
//! ```
//!
//! Without `AZS_TEST_SMB_HOST` the tests print a notice and pass, unless `AZS_TEST_SMB=required`
//! (`scripts/test.sh` sets it), in which case they fail.
//!
//! Every run of the binary goes through [`Ctx::run`], which checks what holds for all of them:
//! the share password (and any other secret of the test) appears neither in the arguments nor on
//! stdout or stderr; with `--json`, stdout is empty or exactly one JSON document (so libsmbclient
//! printed nothing there) and a failure leaves exactly one JSON error object with the exit code
//! on stderr; without `--json`, a failure is one `azs-backup: error:` line.
//!
//! Each test has its own folder on the share, its own settings and its own `HOME` (with an
//! empty `.smb/smb.conf`, so the machine's `/etc/samba/smb.conf` plays no part). The tests that
//! kill smbd or fill the tiny share hold the server lock exclusively (see `smb_common`), the
//! others shared.
#![cfg(feature = "smb")]

use crate::common;
use crate::smb_common;

use serde_json::Value;
use sha2::{Digest, Sha256};
use smb_common::{server_lock, Server, ServerLock};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// In this binary: the test that kills smbd and the one that fills the tiny share run alone.
static SERIAL: RwLock<()> = RwLock::new(());

/// Seconds each SMB request of the binary may take (so a dead server fails quickly).
const SMB_TIMEOUT_SECS: &str = "10";

enum Serial {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// One test's world: the server, its locks, a temp dir with HOME, settings, certificate, sources.
struct Ctx {
    srv: Server,
    world: tempfile::TempDir,
    /// Strings that must never appear in argv, stdout or stderr.
    secrets: Vec<String>,
    /// `new-cert`'s outputs.
    cer: PathBuf,
    pem: PathBuf,
    thumbprint: String,
    /// Folders on the server's disk that this test made, removed when it ends (the tiny share
    /// must be empty for the next test).
    folders: RefCell<Vec<PathBuf>>,
    _server: ServerLock,
    _serial: Serial,
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for dir in self.folders.borrow().iter() {
            if dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(dir) {
                    eprintln!("warning: cannot remove {}: {e}", dir.display());
                }
            }
        }
    }
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
    /// The stdout document with `--json`.
    doc: Option<Value>,
    /// The error message: from the JSON error object with `--json`, else the error line.
    message: Option<String>,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "{:?} failed (exit {}):\nstdout: {}\nstderr: {}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "{:?}: expected exit {code}, got {}:\nstdout: {}\nstderr: {}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    fn doc(&self) -> &Value {
        self.doc
            .as_ref()
            .unwrap_or_else(|| panic!("{:?}: no JSON document on stdout", self.args))
    }

    fn message(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or_else(|| panic!("{:?}: no error message", self.args))
    }

    /// Asserts that every line on stderr is an error, a warning or a note of the binary.
    fn only_diagnostics(&self) {
        assert!(
            self.stderr
                .trim()
                .lines()
                .all(|l| l.starts_with("azs-backup: error:")
                    || l.starts_with("azs-backup: warning:")
                    || l.starts_with("azs-backup: note:")),
            "stray lines on stderr:\n{}",
            self.stderr
        );
    }

    /// Asserts the error message holds every one of `parts` (case-insensitive).
    fn says(self, parts: &[&str]) -> Run {
        let m = self.message().to_lowercase();
        for p in parts {
            assert!(
                m.contains(&p.to_lowercase()),
                "{:?}: the message does not say {p:?}: {}",
                self.args,
                self.message()
            );
        }
        self
    }
}

impl Ctx {
    /// Reads the server's environment and takes the locks; `None` when the tests are skipped.
    fn new(test: &str, exclusive: bool) -> Option<Ctx> {
        let srv = Server::from_env(test)?;
        let serial = if exclusive {
            Serial::Exclusive(SERIAL.write().unwrap_or_else(|p| p.into_inner()))
        } else {
            Serial::Shared(SERIAL.read().unwrap_or_else(|p| p.into_inner()))
        };
        let lock = server_lock(srv.dir.as_deref(), exclusive);
        let world = tempfile::tempdir().expect("temp dir");
        let home = world.path().join("home");
        std::fs::create_dir_all(home.join(".smb")).unwrap();
        std::fs::write(home.join(".smb/smb.conf"), "[global]\n").unwrap();
        let mut ctx = Ctx {
            secrets: vec![srv.password.clone()],
            srv,
            world,
            cer: PathBuf::new(),
            pem: PathBuf::new(),
            thumbprint: String::new(),
            folders: RefCell::new(Vec::new()),
            _server: lock,
            _serial: serial,
        };
        let certs = ctx.path("certs");
        let dns = format!("{}.contoso.com", test.replace('_', "-"));
        let r = ctx
            .run(
                &[
                    "new-cert",
                    "--dns-name",
                    &dns,
                    "--out-dir",
                    s(&certs),
                    "--no-pfx",
                    "--json",
                ],
                None,
            )
            .ok();
        ctx.thumbprint = r.doc()["thumbprint"].as_str().unwrap().to_string();
        ctx.cer = PathBuf::from(r.doc()["certificatePath"].as_str().unwrap());
        ctx.pem = PathBuf::from(r.doc()["privateKeyPath"].as_str().unwrap());
        Some(ctx)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.world.path().join(rel)
    }

    /// A settings file of this world.
    fn config(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.toml"))
    }

    /// A unique folder name on the shares for this test (removed from the server's disk, in
    /// either share, when the test ends).
    fn folder(&self, what: &str) -> String {
        let name = format!(
            "t-cli-{what}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        for share in [Some(&self.srv.share), self.srv.tiny_share.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Some(local) = self.srv.local(share, &name) {
                self.folders.borrow_mut().push(local);
            }
        }
        name
    }

    /// The binary with HOME, the working directory and a short SMB timeout set.
    fn command(&self) -> assert_cmd::Command {
        let mut c = common::bin();
        c.env("HOME", self.path("home"))
            .env("AZS_BACKUP_SMB_TIMEOUT_SECS", SMB_TIMEOUT_SECS)
            .env_remove("AZS_BACKUP_PASSWORD")
            .current_dir(self.world.path());
        c
    }

    /// Runs the binary with `args` (and `stdin`), checks what holds for every run (module
    /// docs) and returns what it did.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.run_with(args, stdin, &[])
    }

    /// [`Ctx::run`] with extra environment variables.
    fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut c = self.command();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args);
        if let Some(input) = stdin {
            c.write_stdin(input.to_string());
        }
        let out = c.output().expect("run the binary");
        self.check(args, out)
    }

    fn check(&self, args: &[&str], out: std::process::Output) -> Run {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("{args:?} was killed: {:?}", out.status));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for secret in &self.secrets {
            assert!(
                !args.iter().any(|a| a.contains(secret.as_str())),
                "a secret is in the arguments: {args:?}"
            );
            assert!(
                !stdout.contains(secret.as_str()),
                "{args:?}: a secret is on stdout:\n{stdout}"
            );
            assert!(
                !stderr.contains(secret.as_str()),
                "{args:?}: a secret is on stderr:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("panicked"),
            "{args:?} panicked (exit {code}):\n{stderr}"
        );
        let json = args.iter().any(|a| a == "--json");
        let mut doc = None;
        let message;
        if json {
            if !stdout.trim().is_empty() {
                doc = Some(serde_json::from_str::<Value>(&stdout).unwrap_or_else(|e| {
                    panic!("{args:?}: stdout is not one JSON document ({e}):\n{stdout}\nstderr: {stderr}")
                }));
            }
            let errors: Vec<Value> = stderr
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
                .filter(|v| v.get("error").is_some())
                .collect();
            if code == 0 {
                assert!(
                    doc.is_some(),
                    "{args:?} succeeded with an empty stdout\nstderr: {stderr}"
                );
                assert!(errors.is_empty(), "{args:?}: exit 0 with {errors:?}");
                message = None;
            } else {
                assert_eq!(
                    errors.len(),
                    1,
                    "{args:?} (exit {code}): expected one JSON error object on stderr:\n{stderr}"
                );
                let e = &errors[0]["error"];
                assert_eq!(e["code"].as_i64(), Some(code as i64), "{args:?}: {e}");
                assert!(e["kind"].as_str().is_some_and(|k| !k.is_empty()), "{e}");
                let m = e["message"].as_str().expect("error.message").to_string();
                assert!(!m.is_empty() && !m.contains('\n'), "{args:?}: {m:?}");
                message = Some(m);
            }
        } else if code != 0 {
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("azs-backup: error:"))
                .collect();
            assert_eq!(
                lines.len(),
                1,
                "{args:?} (exit {code}): expected one error line on stderr:\n{stderr}"
            );
            message = Some(
                lines[0]
                    .trim_start_matches("azs-backup: error:")
                    .trim()
                    .to_string(),
            );
        } else {
            message = None;
        }
        Run {
            args,
            code,
            stdout,
            stderr,
            doc,
            message,
        }
    }

    /// A first `configure --json` of an SMB target, the password on stdin.
    fn configure(&self, config: &Path, url: &str, user: &str, sources: &[(&str, &Path)]) -> Run {
        let mut args: Vec<String> = vec![
            "--config".into(),
            s(config).into(),
            "configure".into(),
            "--path".into(),
            url.into(),
            "--username".into(),
            user.into(),
            "--password-stdin".into(),
            "--encryption-cert-path".into(),
            s(&self.cer).into(),
            "--json".into(),
        ];
        for (name, dir) in sources {
            args.push("--source".into());
            args.push(format!("{name}={}", s(dir)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args, Some(&format!("{}\n", self.srv.password)))
    }

    /// A source (a small tree with `name`, and `big.bin`: `size` random bytes) configured for
    /// a new folder on the share: (the source, the folder, the settings file).
    fn share_with_big_file(&self, what: &str, name: &str, size: u64) -> (PathBuf, String, PathBuf) {
        let src = self.path("src");
        make_tree(&src, &[name]);
        write_random_file(&src.join("big.bin"), size);
        let folder = self.folder(what);
        let url = self.srv.url(&self.srv.share, &folder);
        let cfg = self.config("settings");
        self.configure(&cfg, &url, &self.srv.user, &[("data", &src)])
            .ok();
        (src, folder, cfg)
    }

    /// `restore ID --key --to TO --preserve-special-bits` succeeds and TO/data is the tree `src`.
    fn restore_matches(&self, config: &Path, id: &str, to: &Path, src: &Path) {
        self.json(
            config,
            &[
                "restore",
                id,
                "--key",
                s(&self.pem),
                "--to",
                s(to),
                "--preserve-special-bits",
            ],
        )
        .ok();
        assert_same_tree(src, &to.join("data"));
    }

    /// `cmd --config CONFIG ARGS... --json`.
    fn json(&self, config: &Path, args: &[&str]) -> Run {
        let mut all = vec!["--config", s(config)];
        all.extend_from_slice(args);
        all.push("--json");
        self.run(&all, None)
    }

    /// `list --all --json`: (backups as (id, status), incomplete folder names).
    fn listing(&self, config: &Path) -> (Vec<(String, String)>, Vec<String>) {
        let r = self.json(config, &["list", "--all"]).ok();
        let backups = r.doc()["backups"]
            .as_array()
            .expect("backups")
            .iter()
            .map(|b| {
                (
                    b["backupId"].as_str().unwrap().to_string(),
                    b["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let incomplete = r.doc()["incomplete"]
            .as_array()
            .expect("incomplete (list --all)")
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        (backups, incomplete)
    }

    /// `prune --dry-run` names exactly the `leftovers` (and no backup); `prune` deletes them and
    /// keeps the backups.
    fn prune_leftovers(&self, config: &Path, leftovers: &[String]) {
        let (backups, before) = self.listing(config);
        // Leftovers written to within the lease are left alone (a run may still own them);
        // these are known to be dead, so the lease is made zero.
        let lease = [("AZS_BACKUP_TEST_LEASE_SECONDS", "0")];
        let prune = |dry: bool| {
            let mut a = vec!["--config", s(config), "prune", "--json"];
            if dry {
                a.push("--dry-run");
            }
            self.run_with(&a, None, &lease).ok()
        };
        let r = prune(true);
        let mut would: Vec<String> = r.doc()["wouldDelete"]
            .as_array()
            .unwrap_or_else(|| panic!("wouldDelete: {}", r.doc()))
            .iter()
            .map(|e| e["backupId"].as_str().unwrap_or_default().to_string())
            .collect();
        would.sort();
        let mut want = leftovers.to_vec();
        want.sort();
        assert_eq!(would, want, "{}", r.doc());
        assert_eq!(self.listing(config), (backups.clone(), before));
        let r = prune(false);
        assert_eq!(
            r.doc()["deleted"].as_array().map(Vec::len),
            Some(leftovers.len()),
            "{}",
            r.doc()
        );
        assert_eq!(self.listing(config), (backups, vec![]));
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `n` random bytes (the kernel's generator: fast, and zstd cannot shrink them).
fn random(n: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n as usize);
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(n)
        .read_to_end(&mut v)
        .unwrap();
    v
}

fn write_random_file(path: &Path, n: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    let copied = std::io::copy(
        &mut std::fs::File::open("/dev/urandom").unwrap().take(n),
        &mut f,
    )
    .unwrap();
    assert_eq!(copied, n);
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn set_mtime(p: &Path, secs: i64) {
    let t = filetime::FileTime::from_unix_time(secs, 0);
    filetime::set_symlink_file_times(p, t, t).unwrap();
}

/// Fills `root` with files, directories and symlinks of varied names, modes and mtimes.
fn make_tree(root: &Path, names: &[&str]) {
    std::fs::create_dir_all(root).unwrap();
    let w = |rel: &str, data: &[u8], mode: u32| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        set_mode(&p, mode);
    };
    w("plain.txt", b"hello\n", 0o644);
    w("empty", b"", 0o600);
    w("run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    w("read-only.key", b"not really a key\n", 0o400);
    w("setgid-dir/file", b"x", 0o640);
    w("random.bin", &random(1 << 20), 0o644);
    w("nested/a/b/c/deep.txt", b"deep\n", 0o644);
    for (i, name) in names.iter().enumerate() {
        w(
            &format!("{name}/{name}.txt"),
            format!("{i}: {name}\n").as_bytes(),
            0o644,
        );
        w(&format!("{name}.bin"), name.as_bytes(), 0o664);
    }
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::create_dir_all(root.join("private")).unwrap();
    w("private/secret.txt", b"s\n", 0o600);
    symlink("plain.txt", root.join("link")).unwrap();
    symlink("does-not-exist", root.join("dangling")).unwrap();
    symlink("nested/a", root.join("dir-link")).unwrap();
    if let Some(first) = names.first() {
        symlink(
            format!("{first}/{first}.txt"),
            root.join(format!("{first} link")),
        )
        .unwrap();
    }
    // Modes and mtimes last, deepest first (writing into a directory changes its mtime).
    let mut all: Vec<PathBuf> = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                walk(&p, out);
            }
            out.push(p);
        }
    }
    walk(root, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        let meta = p.symlink_metadata().unwrap();
        if meta.is_dir() {
            let mode = match p.file_name().unwrap().to_str().unwrap() {
                "private" => 0o700,
                "empty-dir" => 0o750,
                "setgid-dir" => 0o2750,
                _ => 0o755,
            };
            set_mode(p, mode);
        }
        set_mtime(p, 1_600_000_000 + 7919 * i as i64);
    }
}

/// One entry of a tree, as compared after a restore.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File {
        mode: u32,
        mtime: i64,
        size: u64,
        sha256: String,
    },
    Dir {
        mode: u32,
        mtime: i64,
    },
    Link {
        target: PathBuf,
    },
}

/// Every entry below `root` (not `root` itself), by relative path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let node = if m.file_type().is_symlink() {
                Node::Link {
                    target: std::fs::read_link(&p).unwrap(),
                }
            } else if m.is_dir() {
                walk(root, &p, out);
                Node::Dir {
                    mode: m.mode() & 0o7777,
                    mtime: m.mtime(),
                }
            } else {
                let data = std::fs::read(&p).unwrap();
                Node::File {
                    mode: m.mode() & 0o7777,
                    mtime: m.mtime(),
                    size: data.len() as u64,
                    sha256: hex::encode(Sha256::digest(&data)),
                }
            };
            out.insert(rel, node);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Asserts two trees hold the same names, contents, symlinks, modes and mtimes.
fn assert_same_tree(source: &Path, restored: &Path) {
    let a = snapshot(source);
    let b = snapshot(restored);
    let mut diffs = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            None => diffs.push(format!("missing after restore: {k:?}")),
            Some(w) if w != v => diffs.push(format!("{k:?}: source {v:?}, restored {w:?}")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        diffs.push(format!("only after restore: {k:?}"));
    }
    assert!(
        diffs.is_empty(),
        "{} differs from {}:\n{}",
        restored.display(),
        source.display(),
        diffs.join("\n")
    );
    assert!(a.len() > 5, "the source tree is unexpectedly small");
}

/// Files below `dir` (recursively) whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, suffix, out);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
            {
                out.push(p);
            }
        }
    }
    walk(dir, suffix, &mut out);
    out
}

/// Names in a directory on disk, sorted.
fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// new-cert, configure (probe), start-backup, list, show, status, verify without and with the
/// key, restore, and a byte-for-byte comparison of the restored trees.
#[test]
fn core_chain_round_trip() {
    let Some(ctx) = Ctx::new("core_chain_round_trip", false) else {
        return;
    };
    let srv = &ctx.srv;
    let identity = ctx.path("sources/identity");
    let config_src = ctx.path("sources/config");
    make_tree(&identity, &["100% sure", "with space", "café"]);
    make_tree(&config_src, &[]);
    let folder = ctx.folder("chain");
    let url = srv.url(&srv.share, &folder);
    let cfg = ctx.config("settings");

    // configure: proves the target with a probe file, which is gone afterwards.
    let r = ctx
        .configure(
            &cfg,
            &url,
            &srv.user,
            &[("identity", &identity), ("config", &config_src)],
        )
        .ok();
    let d = r.doc();
    assert_eq!(d["path"], url.as_str());
    assert_eq!(d["userName"], srv.user.as_str());
    assert_eq!(d["encryptionCertThumbprint"], ctx.thumbprint.as_str());
    assert_eq!(d["isBackupSchedulerEnabled"], true);
    assert!(d.get("password").is_none(), "{d}");
    let local = srv.local(&srv.share, &folder);
    if let Some(local) = &local {
        assert_eq!(
            dir_names(&local.join("MASBackup")),
            Vec::<String>::new(),
            "configure left files on the share"
        );
    }
    // The password is stored only in the secrets file, mode 0600.
    let settings_text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!settings_text.contains(&srv.password));
    for e in std::fs::read_dir(ctx.world.path()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file()
            && std::fs::read(&p)
                .unwrap()
                .windows(srv.password.len())
                .any(|w| w == srv.password.as_bytes())
        {
            let mode = p.metadata().unwrap().mode() & 0o777;
            assert_eq!(
                mode,
                0o600,
                "{} holds the password with mode {mode:o}",
                p.display()
            );
        }
    }

    // start-backup.
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let d = r.doc();
    assert_eq!(d["status"], "Succeeded", "{d}");
    let id = d["backupId"].as_str().unwrap().to_string();
    let roles: Vec<&str> = d["roleStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "Succeeded", "{r}");
            r["roleName"].as_str().unwrap()
        })
        .collect();
    assert_eq!(roles, ["identity", "config"]);
    if let Some(local) = &local {
        assert_eq!(dir_names(&local.join("MASBackup")), vec![id.clone()]);
        assert_eq!(
            dir_names(&local.join("MASBackup").join(&id)),
            vec![
                "config.tar.zst.enc".to_string(),
                "identity.tar.zst.enc".to_string(),
                "manifest.json".to_string()
            ]
        );
    }

    // list, show.
    let (backups, incomplete) = ctx.listing(&cfg);
    assert_eq!(backups, vec![(id.clone(), "Succeeded".to_string())]);
    assert!(incomplete.is_empty(), "{incomplete:?}");
    let r = ctx.run(&["--config", s(&cfg), "list"], None).ok();
    assert!(r.stdout.contains(&id), "{}", r.stdout);
    let r = ctx.json(&cfg, &["show", &id]).ok();
    let d = r.doc();
    assert_eq!(d["backupId"], id.as_str());
    assert_eq!(d["status"], "Succeeded");
    assert_eq!(d["encryptionCertThumbprint"], ctx.thumbprint.as_str());
    assert!(
        d["timeTakenToCreate"].as_str().unwrap().starts_with("PT"),
        "{d}"
    );
    assert!(
        d["backupDataSizeInBytes"].as_u64().unwrap() > 1 << 20,
        "{d}"
    );
    assert_eq!(d["roleStatus"].as_array().unwrap().len(), 2);

    // status: the share's capacity, and no warning about the target.
    let r = ctx.json(&cfg, &["status"]).ok();
    let d = r.doc();
    let avail = d["availableCapacity"]
        .as_u64()
        .unwrap_or_else(|| panic!("availableCapacity is not a number: {d}"));
    let total = d["totalCapacity"].as_u64().expect("totalCapacity");
    assert!(avail > 0 && avail <= total, "{d}");
    assert_eq!(d["lastBackupStatus"], "Succeeded");
    assert_eq!(d["lastBackupId"], id.as_str());
    assert_eq!(d["path"], url.as_str());
    let codes: Vec<&str> = d["health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap())
        .collect();
    assert!(!codes.contains(&"targetUnreachable"), "{d}");
    let r = ctx.run(&["--config", s(&cfg), "status"], None).ok();
    assert!(r.stdout.contains(" free of "), "{}", r.stdout);

    // verify without and with the key.
    let r = ctx.json(&cfg, &["verify", &id]).ok();
    assert_eq!(r.doc()["ok"], true);
    assert_eq!(r.doc()["withKey"], false);
    let r = ctx.json(&cfg, &["verify", &id, "--key", s(&ctx.pem)]).ok();
    assert_eq!(r.doc()["ok"], true);
    assert_eq!(r.doc()["withKey"], true);
    assert!(r.doc()["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ok"] == true && s["decrypted"] == true));

    // restore everything and compare.
    let to = ctx.path("restored");
    let r = ctx
        .json(
            &cfg,
            &[
                "restore",
                &id,
                "--key",
                s(&ctx.pem),
                "--to",
                s(&to),
                "--preserve-special-bits",
            ],
        )
        .ok();
    assert_eq!(r.doc()["restored"].as_array().unwrap().len(), 2);
    assert_same_tree(&identity, &to.join("identity"));
    assert_same_tree(&config_src, &to.join("config"));
    // And with diff(1), when it is there.
    if let Ok(out) = StdCommand::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(&identity)
        .arg(to.join("identity"))
        .output()
    {
        assert!(
            out.status.success(),
            "diff -r: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(local) = &local {
        assert!(files_ending(local, ".partial").is_empty());
    }
}

/// Names with `%`, spaces and non-ASCII letters in the sources (and in the source's own path),
/// a target folder with a space and non-ASCII letters, the password from AZS_BACKUP_PASSWORD,
/// and a restore with `--from` (no settings), as after losing the server.
#[test]
fn odd_names_round_trip() {
    let Some(ctx) = Ctx::new("odd_names_round_trip", false) else {
        return;
    };
    let srv = &ctx.srv;
    let src = ctx.path("src 100% ünïcödé 日本/data %41% é");
    make_tree(
        &src,
        &[
            "100% sure",
            "a%20b",
            "%41%",
            "with  two spaces",
            "trailing space ",
            "café Ünïcödé",
            "日本語 файл",
            "punct;,+=&#@'()[]{}!$^~`",
            "ÆØÅ æøå ß",
        ],
    );
    let folder = ctx.folder("Sauvegardes été ünï");
    let url = srv.url(&srv.share, &folder);
    let cfg = ctx.config("réglages été");
    let pw = [("AZS_BACKUP_PASSWORD", srv.password.as_str())];
    let src_arg = format!("data={}", s(&src));
    ctx.run_with(
        &[
            "--config",
            s(&cfg),
            "configure",
            "--path",
            &url,
            "--username",
            &srv.user,
            "--cert",
            s(&ctx.cer),
            "--source",
            &src_arg,
            "--json",
        ],
        None,
        &pw,
    )
    .ok();
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let id = r.doc()["backupId"].as_str().unwrap().to_string();
    assert_eq!(r.doc()["status"], "Succeeded");
    assert!(r.doc()["roleStatus"][0]["fileCount"].as_u64().unwrap() >= 20);
    if let Some(local) = srv.local(&srv.share, &folder) {
        assert!(
            local
                .join("MASBackup")
                .join(&id)
                .join("manifest.json")
                .is_file(),
            "the folder's name on the server's disk is not {folder:?}: {:?}",
            dir_names(local.parent().unwrap())
        );
    }
    // Restore with --from: no settings at all, the password from the environment.
    let to = ctx.path("restöred ü %");
    let r = ctx
        .run_with(
            &[
                "--config",
                s(&ctx.config("none")),
                "restore",
                &id,
                "--from",
                &url,
                "--username",
                &srv.user,
                "--key",
                s(&ctx.pem),
                "--to",
                s(&to),
                "--preserve-special-bits",
                "--json",
            ],
            None,
            &pw,
        )
        .ok();
    assert_eq!(r.doc()["backupId"], id.as_str());
    assert_same_tree(&src, &to.join("data"));

    // libsmbclient's own messages stay off stdout even when it has something to say.
    let noisy = ctx.path("noisy-home");
    std::fs::create_dir_all(noisy.join(".smb")).unwrap();
    std::fs::write(
        noisy.join(".smb/smb.conf"),
        "[global]\n azs bogus parameter = 1\n log level = 3\n",
    )
    .unwrap();
    let noisy = s(&noisy);
    for args in [&["list"][..], &["status"], &["show", &id]] {
        let mut all = vec!["--config", s(&cfg)];
        all.extend_from_slice(args);
        all.push("--json");
        let r = ctx.run_with(&all, None, &[("HOME", noisy)]).ok();
        assert!(
            r.stderr.contains("azs bogus parameter"),
            "libsmbclient did not complain (on stderr):\n{}",
            r.stderr
        );
    }
}

/// Wrong password, missing share, a port where nothing listens: exit 4 and a message that says
/// what to check, with and without --json; nothing is configured.
#[test]
fn unusable_targets_fail_with_advice() {
    let Some(mut ctx) = Ctx::new("unusable_targets_fail_with_advice", false) else {
        return;
    };
    let srv = ctx.srv.clone();
    let src = ctx.path("src");
    make_tree(&src, &[]);
    let wrong = format!("{}-wrong", srv.password);
    ctx.secrets.push(wrong.clone());
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src_arg = format!("data={}", s(&src));
    let cases: [(&str, String, &str, Vec<&str>); 3] = [
        (
            "wrong-password",
            srv.url(&srv.share, &ctx.folder("x")),
            wrong.as_str(),
            vec!["access denied", "check the username and password"],
        ),
        (
            "missing-share",
            srv.url("no-such-share-azs", "x"),
            srv.password.as_str(),
            vec!["\"no-such-share-azs\"", "not found", "check the share name"],
        ),
        (
            "closed-port",
            format!("smb://127.0.0.1:{closed_port}/{}/x", srv.share),
            srv.password.as_str(),
            vec!["cannot reach", "check the network", "port"],
        ),
    ];
    for (name, url, password, says) in &cases {
        for json in [false, true] {
            let cfg = ctx.config(&format!("{name}-{json}"));
            let mut args = vec![
                "--config",
                s(&cfg),
                "configure",
                "--path",
                url,
                "--username",
                &srv.user,
                "--password-stdin",
                "--cert",
                s(&ctx.cer),
                "--source",
                &src_arg,
            ];
            if json {
                args.push("--json");
            }
            let r = ctx
                .run(&args, Some(&format!("{password}\n")))
                .fails(4)
                .says(says);
            if json {
                assert!(r.stdout.trim().is_empty(), "{}", r.stdout);
            }
            assert!(!cfg.exists(), "{name}: a failed configure wrote settings");
        }
    }

    // Settings saved without the probe (--no-verify) and a wrong password: every command that
    // needs the share fails with exit 4 and says so; status reports it as a health warning.
    let folder = ctx.folder("noverify");
    let cfg = ctx.config("noverify");
    ctx.run(
        &[
            "--config",
            s(&cfg),
            "configure",
            "--path",
            &srv.url(&srv.share, &folder),
            "--username",
            &format!("AZSTEST\\{}", srv.user),
            "--password-stdin",
            "--cert",
            s(&ctx.cer),
            "--source",
            &src_arg,
            "--no-verify",
            "--json",
        ],
        Some(&format!("{wrong}\n")),
    )
    .ok();
    for json in [false, true] {
        for args in [
            &["start-backup"][..],
            &["list"],
            &["verify", "2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d"],
        ] {
            let mut all = vec!["--config", s(&cfg)];
            all.extend_from_slice(args);
            if json {
                all.push("--json");
            }
            ctx.run(&all, None)
                .fails(4)
                .says(&["check the username and password"]);
        }
    }
    let r = ctx.json(&cfg, &["status"]).ok();
    let d = r.doc();
    assert!(d["availableCapacity"].is_null(), "{d}");
    let h = d["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["code"] == "targetUnreachable")
        .unwrap_or_else(|| panic!("no targetUnreachable warning: {d}"));
    assert!(
        h["message"]
            .as_str()
            .unwrap()
            .contains("username and password"),
        "{h}"
    );
    ctx.run(&["--config", s(&cfg), "status", "--check", "--json"], None)
        .fails(11);
    if let Some(local) = srv.local(&srv.share, &folder) {
        assert!(!local.exists(), "a denied run created {}", local.display());
    }
}

/// A backup bigger than the `tiny` share: refused up front by the capacity check, then (with
/// a smaller estimate) failing mid-upload: exit 4 "full", no new Succeeded backup listed, no
/// temporary file and no manifest left; the next backup that fits succeeds.
#[test]
fn full_share_fails_cleanly() {
    let Some(ctx) = Ctx::new("full_share_fails_cleanly", true) else {
        return;
    };
    let srv = &ctx.srv;
    let Some(tiny) = srv.tiny_share.clone() else {
        if smb_common::required() {
            panic!("AZS_TEST_SMB=required but the server has no tiny share (AZS_TEST_SMB_TINY_SHARE is empty: could the script mount a tmpfs?)");
        }
        eprintln!("skipping full_share_fails_cleanly: the server has no tiny share");
        return;
    };
    assert!(srv.tiny_bytes > 0);
    let src = ctx.path("src");
    make_tree(&src, &["café"]);
    write_random_file(&src.join("too-big.bin"), srv.tiny_bytes + (4 << 20));
    let folder = ctx.folder("full");
    let url = srv.url(&tiny, &folder);
    let cfg = ctx.config("settings");
    // DOMAIN\user this time.
    ctx.configure(
        &cfg,
        &url,
        &format!("AZSTEST\\{}", srv.user),
        &[("data", &src)],
    )
    .ok();
    let local = srv.local(&tiny, &folder);

    // The capacity check refuses a backup that cannot fit before anything is written (its
    // estimate is the sources' plain size: there is no earlier backup).
    ctx.run(&["--config", s(&cfg), "start-backup"], None)
        .fails(4)
        .says(&["is full", "free space"]);
    let (backups, incomplete) = ctx.listing(&cfg);
    assert!(
        backups.is_empty() && incomplete.is_empty(),
        "{backups:?} {incomplete:?}"
    );

    // After a small backup the estimate is its size, so the next runs start and meet the full
    // share mid-upload.
    let big = std::fs::read(src.join("too-big.bin")).unwrap();
    std::fs::remove_file(src.join("too-big.bin")).unwrap();
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let first = r.doc()["backupId"].as_str().unwrap().to_string();
    std::fs::write(src.join("too-big.bin"), &big).unwrap();
    drop(big);

    for json in [false, true] {
        let mut args = vec!["--config", s(&cfg), "start-backup"];
        if json {
            args.push("--json");
        }
        let r = ctx
            .run(&args, None)
            .fails(4)
            .says(&["is full", "free space"]);
        if json {
            assert!(r.stdout.trim().is_empty(), "{}", r.stdout);
        }
        if let Some(local) = &local {
            assert!(
                files_ending(local, ".partial").is_empty(),
                "a failed run left temporary files: {:?}",
                files_ending(local, ".partial")
            );
            // Only the first backup's manifest and archive.
            assert_eq!(files_ending(local, "manifest.json").len(), 1);
            assert_eq!(files_ending(local, ".enc").len(), 1);
        }
    }
    let (backups, incomplete) = ctx.listing(&cfg);
    assert_eq!(backups, vec![(first.clone(), "Succeeded".to_string())]);
    assert_eq!(incomplete.len(), 2, "{incomplete:?}");
    let r = ctx.json(&cfg, &["status"]).ok();
    let d = r.doc();
    let avail = d["availableCapacity"].as_u64().expect("availableCapacity");
    assert!(
        avail <= srv.tiny_bytes && avail > srv.tiny_bytes / 2,
        "the failed runs' space was not freed: {d}"
    );
    assert_eq!(d["lastBackupStatus"], "Failed");
    assert!(
        d["lastBackupError"].as_str().unwrap().contains("is full"),
        "{d}"
    );

    // Small enough now (about 5 MiB of the 8): succeeds, and leaves no temporary file either.
    std::fs::remove_file(src.join("too-big.bin")).unwrap();
    write_random_file(&src.join("fits.bin"), 4 << 20);
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let id = r.doc()["backupId"].as_str().unwrap().to_string();
    let size = r.doc()["backupDataSizeInBytes"].as_u64().unwrap();
    let (backups, incomplete) = ctx.listing(&cfg);
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert!(
        backups.contains(&(id.clone(), "Succeeded".to_string())),
        "{backups:?}"
    );
    assert_eq!(incomplete.len(), 2, "{incomplete:?}");
    if let Some(local) = &local {
        assert!(files_ending(local, ".partial").is_empty());
    }
    // Less room left than the last backup took: status warns that the share is almost full.
    let r = ctx.json(&cfg, &["status"]).ok();
    let d = r.doc();
    let avail = d["availableCapacity"].as_u64().expect("availableCapacity");
    assert!(avail < size, "{size} bytes written, {d}");
    assert!(
        d["health"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "targetAlmostFull"),
        "{d}"
    );
    ctx.run(&["--config", s(&cfg), "status", "--check", "--json"], None)
        .fails(11)
        .says(&["targetAlmostFull"]);
    ctx.prune_leftovers(&cfg, &incomplete);
    if let Some(local) = &local {
        let mut want = vec![first.clone(), id.clone()];
        want.sort();
        let mut got = dir_names(&local.join("MASBackup"));
        got.sort();
        assert_eq!(got, want);
    }
    let to = ctx.path("restored");
    ctx.restore_matches(&cfg, &id, &to, &src);
}

/// Restarts smbd (if it is down) when dropped, so that a failing test leaves a working server.
struct RestartOnDrop {
    dir: PathBuf,
}

impl RestartOnDrop {
    fn running(&self) -> bool {
        StdCommand::new("bash")
            .arg(smb_common::script())
            .arg("status")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn restart(&self) {
        let out = StdCommand::new("bash")
            .arg(smb_common::script())
            .arg("restart")
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restarting smbd failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !self.running() {
            let _ = StdCommand::new("bash")
                .arg(smb_common::script())
                .arg("restart")
                .arg(&self.dir)
                .status();
        }
    }
}

/// An exclusive context whose server runs on this machine, so that a test may kill it, with a
/// guard that restarts the server when the test ends; `None` (the test is skipped) otherwise.
fn killable_server(test: &str) -> Option<(Ctx, PathBuf, RestartOnDrop)> {
    let ctx = Ctx::new(test, true)?;
    let Some(dir) = ctx.srv.dir.clone() else {
        eprintln!("skipping {test}: the server is not on this machine (AZS_TEST_SMB_DIR)");
        return None;
    };
    let guard = RestartOnDrop { dir: dir.clone() };
    Some((ctx, dir, guard))
}

/// Kills smbd's whole process group, as a crash would.
fn kill_smbd(dir: &Path) {
    let pid = std::fs::read_to_string(dir.join("run/smbd.pid")).expect("smbd pid file");
    let pid = pid.trim();
    let st = StdCommand::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    if !st.success() {
        StdCommand::new("kill")
            .args(["-KILL", pid])
            .status()
            .unwrap();
    }
}

/// Polls `found` until it gives something, while `child` runs (panics if it ends first, or
/// after 2 minutes).
fn wait_while_running<T>(child: &mut Child, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(t) = found() {
            return t;
        }
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the binary ended ({st}) before {what}: {err}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("not in 2 minutes: {what}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not end within {limit:?} after smbd was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// smbd killed while a ~300 MiB backup uploads: the run fails cleanly (exit 4, one line), a
/// dead server is reported as unreachable, nothing is listed as Succeeded, the leftover is shown
/// by `list --all`, and after a restart the next backup succeeds.
#[test]
fn server_killed_during_backup() {
    let Some((ctx, dir, guard)) = killable_server("server_killed_during_backup") else {
        return;
    };
    let srv = &ctx.srv;
    let (_, folder, cfg) = ctx.share_with_big_file("killed", "ü", 300 << 20);
    let local = srv.local(&srv.share, &folder).unwrap();

    let args = ["--config", s(&cfg), "start-backup"];
    let mut child = spawn_binary(&ctx, &args, &[]);
    // Its command line holds no secret.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&srv.password));
    // Wait until the upload is well under way.
    let partial = wait_while_running(&mut child, "a .partial file grew", || {
        files_ending(&local, ".partial")
            .into_iter()
            .find(|p| p.metadata().map(|m| m.len() >= 16 << 20).unwrap_or(false))
    });
    kill_smbd(&dir);
    let status = wait_child(&mut child, Duration::from_secs(90));
    let out = child.wait_with_output().unwrap();
    assert!(status.code().is_some(), "start-backup died: {status}");
    assert_eq!(out.status, status);
    let run = ctx.check(&args, out).fails(4);
    let run = run.says(&["cannot reach", "check the network"]);
    // One error line; anything else on stderr is a warning or a note (e.g. that the lock on the
    // dead target could not be released).
    run.only_diagnostics();
    assert!(run.stdout.trim().is_empty(), "{}", run.stdout);
    let failed_id = partial
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(!local
        .join("MASBackup")
        .join(&failed_id)
        .join("manifest.json")
        .exists());

    // While the server is down: unreachable, with advice, for every command.
    ctx.json(&cfg, &["start-backup"])
        .fails(4)
        .says(&["cannot reach", "check the network"]);
    ctx.run(&["--config", s(&cfg), "list"], None)
        .fails(4)
        .says(&["cannot reach"]);
    let r = ctx.json(&cfg, &["status"]).ok();
    assert!(r.doc()["availableCapacity"].is_null());
    assert!(
        r.doc()["health"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "targetUnreachable"),
        "{}",
        r.doc()
    );

    guard.restart();
    let (backups, incomplete) = ctx.listing(&cfg);
    assert!(backups.is_empty(), "{backups:?}");
    assert_eq!(incomplete, vec![failed_id.clone()]);
    let r = ctx.json(&cfg, &["show", &failed_id]).fails(9);
    assert!(r.stdout.trim().is_empty());

    // The next backup succeeds.
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    assert_eq!(r.doc()["status"], "Succeeded");
    let id = r.doc()["backupId"].as_str().unwrap().to_string();
    assert!(r.doc()["plainSizeInBytes"].as_u64().unwrap() >= 300 << 20);
    let (backups, incomplete) = ctx.listing(&cfg);
    assert_eq!(backups, vec![(id.clone(), "Succeeded".to_string())]);
    assert_eq!(incomplete, vec![failed_id.clone()]);
    let partials = files_ending(&local, ".partial");
    assert!(
        partials
            .iter()
            .all(|p| p.starts_with(local.join("MASBackup").join(&failed_id))),
        "{partials:?}"
    );
    ctx.prune_leftovers(&cfg, &[failed_id]);
    assert!(files_ending(&local, ".partial").is_empty());
    assert_eq!(dir_names(&local.join("MASBackup")), vec![id]);
    drop(guard);
}

/// Manifests planted on the share by someone who can write to it steer nothing: they are listed
/// as invalid, never deleted, never used to build a path (issue: the share is untrusted input).
#[test]
fn planted_manifests_on_the_share_steer_nothing() {
    let Some(ctx) = Ctx::new("planted_manifests", false) else {
        return;
    };
    let srv = &ctx.srv;
    let src = ctx.path("sources/data");
    make_tree(&src, &[]);
    let folder = ctx.folder("planted");
    let url = srv.url(&srv.share, &folder);
    let cfg = ctx.config("settings");
    ctx.configure(&cfg, &url, &srv.user, &[("data", &src)]).ok();
    let good = ctx.json(&cfg, &["start-backup"]).ok().doc()["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    let Some(local) = srv.local(&srv.share, &folder) else {
        eprintln!("notice: the share's folder is not on this machine; nothing planted");
        return;
    };
    let root = local.join("MASBackup");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join(&good).join("manifest.json")).unwrap())
            .unwrap();
    // A folder outside MASBackup/ that a traversal would reach, and its sentinel.
    std::fs::create_dir_all(local.join("x/precious")).unwrap();
    std::fs::write(local.join("x/precious/keep.txt"), b"keep").unwrap();
    let plant = |id: &str, edit: &dyn Fn(&mut Value)| {
        let mut m = manifest.clone();
        edit(&mut m);
        std::fs::create_dir_all(root.join(id)).unwrap();
        std::fs::write(
            root.join(id).join("manifest.json"),
            serde_json::to_vec_pretty(&m).unwrap(),
        )
        .unwrap();
    };
    let failed = |id: &'static str| {
        move |m: &mut Value| {
            m["backupId"] = id.into();
            m["status"] = "Failed".into();
            m["roleStatus"][0]["status"] = "Failed".into();
        }
    };
    let ids = [
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "aaaaaaaa-0000-4000-8000-000000000003",
        "aaaaaaaa-0000-4000-8000-000000000004",
    ];
    plant(ids[0], &failed("../x/precious"));
    plant(ids[1], &failed(""));
    let good_id = good.clone();
    plant(ids[2], &move |m: &mut Value| {
        m["backupId"] = good_id.clone().into();
        m["status"] = "Failed".into();
    });
    plant(ids[3], &|m: &mut Value| {
        m["backupId"] = "aaaaaaaa-0000-4000-8000-000000000004".into();
        m["roleStatus"][0]["roleName"] = "../../x/role".into();
        m["roleStatus"][0]["fileName"] = "../../x/precious/keep.txt".into();
    });
    let (backups, incomplete) = ctx.listing(&cfg);
    assert_eq!(backups, vec![(good.clone(), "Succeeded".to_string())]);
    let mut incomplete = incomplete;
    incomplete.sort();
    assert_eq!(incomplete, ids.to_vec());
    let all = ctx.json(&cfg, &["list", "--all"]).ok();
    for i in all.doc()["incomplete"].as_array().unwrap() {
        assert_eq!(i["state"], "invalid", "{i}");
    }
    // Prune (every leftover counts as old) deletes none of them and keeps the good backup.
    let r = ctx
        .run_with(
            &["--config", s(&cfg), "prune", "--json"],
            None,
            &[("AZS_BACKUP_TEST_LEASE_SECONDS", "0")],
        )
        .ok();
    assert_eq!(
        r.doc()["deleted"].as_array().unwrap().len(),
        0,
        "{}",
        r.doc()
    );
    for id in ids {
        assert!(root.join(id).join("manifest.json").exists(), "{id} deleted");
    }
    assert!(local.join("x/precious/keep.txt").exists());
    assert!(root.join(&good).join("data.tar.zst.enc").exists());
    ctx.json(&cfg, &["verify", &good, "--key", s(&ctx.pem)])
        .ok();
    // The traversing names are never used: verify and restore refuse the manifest (exit 7).
    ctx.json(&cfg, &["verify", ids[3]]).fails(7);
    let to = ctx.path("o1/o2/out");
    ctx.json(
        &cfg,
        &["restore", ids[3], "--key", s(&ctx.pem), "--to", s(&to)],
    )
    .fails(7);
    assert!(!ctx.path("o1/x").exists() && !ctx.path("x").exists());
    assert!(!to.join("data").exists());
}

/// The share in a network namespace of its own, on its own address; its link is taken down in
/// the middle of an upload (scripts/samba-netns.sh). Needs root (skipped with a notice
/// otherwise; CI runs as root).
#[test]
fn link_down_mid_upload_to_a_share_in_another_network_namespace() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("notice: not root; the network-namespace test is skipped");
        return;
    }
    let _serial = SERIAL.read().unwrap_or_else(|p| p.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("srv");
    let script = root.join("scripts/samba-netns.sh");
    struct Stop(PathBuf, PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = StdCommand::new("bash")
                .arg(&self.0)
                .arg("stop")
                .arg(&self.1)
                .status();
        }
    }
    let started = StdCommand::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&d)
        .output()
        .unwrap();
    let _stop = Stop(script.clone(), d.clone());
    assert!(
        started.status.success(),
        "samba-netns.sh start: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let env: BTreeMap<String, String> = std::fs::read_to_string(d.join("env"))
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (host, port) = (&env["AZS_TEST_SMB_HOST"], &env["AZS_TEST_SMB_PORT"]);
    let (user, password) = (&env["AZS_TEST_SMB_USER"], &env["AZS_TEST_SMB_PASSWORD"]);
    let w = dir.path();
    let cfg = w.join("s.toml");
    let cmd = || {
        let mut c = common::bin();
        c.arg("--config")
            .arg(&cfg)
            .env("HOME", w)
            .env("AZS_BACKUP_SMB_TIMEOUT_SECS", "4")
            .current_dir(w);
        c
    };
    let out = cmd()
        .args([
            "new-cert",
            "--dns-name",
            "ns.contoso.com",
            "--no-pfx",
            "--out-dir",
        ])
        .arg(w.join("certs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let src = w.join("src");
    std::fs::create_dir_all(&src).unwrap();
    write_random_file(&src.join("big.bin"), 3 << 20);
    let url = format!("smb://{host}:{port}/backups/nsfolder");
    let out = cmd()
        .args([
            "configure",
            "--path",
            &url,
            "--username",
            user,
            "--password-stdin",
        ])
        .arg("--encryption-cert-path")
        .arg(w.join("certs/ns.contoso.com.cer"))
        .arg("--source")
        .arg(format!("data={}", src.display()))
        .write_stdin(format!("{password}\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = cmd().args(["start-backup", "--json"]).output().unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let good: Value = serde_json::from_slice(&good.stdout).unwrap();
    let good_id = good["backupId"].as_str().unwrap().to_string();
    let archive = d.join(format!(
        "share/backups/nsfolder/MASBackup/{good_id}/data.tar.zst.enc"
    ));
    let good_bytes = std::fs::read(&archive).unwrap();

    // A slow backup (each read of file data sleeps), and the link goes down mid-upload.
    let bin = assert_cmd::cargo::cargo_bin("azs-backup");
    let mut child = StdCommand::new(bin)
        .arg("--config")
        .arg(&cfg)
        .args(["start-backup"])
        .env("HOME", w)
        .env("AZS_BACKUP_SMB_TIMEOUT_SECS", "4")
        .env("AZS_BACKUP_TEST_HOOK", "pack.read=sleep:100")
        .env_remove("AZS_BACKUP_NOW")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let share_root = d.join("share/backups/nsfolder/MASBackup");
    let t = Instant::now();
    while files_ending(&share_root, ".partial").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let down = StdCommand::new("bash")
        .arg(&script)
        .args(["link-down"])
        .arg(&d)
        .status()
        .unwrap();
    assert!(down.success());
    let status = wait_child(&mut child, Duration::from_secs(90));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!err.contains(password.as_str()));
    StdCommand::new("bash")
        .arg(&script)
        .args(["link-up"])
        .arg(&d)
        .status()
        .unwrap();
    // Invariants: only the good backup is listed, and it is intact.
    let list = cmd().args(["list", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let ids: Vec<&str> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["backupId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![good_id.as_str()]);
    assert_eq!(std::fs::read(&archive).unwrap(), good_bytes);
    // The next run succeeds (the dead run's lock on the share is taken over), and prune
    // removes what the failed one left.
    let next = cmd().args(["start-backup", "--json"]).output().unwrap();
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    let prune = || {
        let out = cmd()
            .env("AZS_BACKUP_TEST_LEASE_SECONDS", "0")
            .args(["prune", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // The server may still hold the dead session's upload open: prune then leaves it for later
    // (a note, exit 0) rather than failing.
    let first = prune();
    if !files_ending(&share_root, ".partial").is_empty() {
        assert!(
            first["notes"].to_string().contains("still in use"),
            "{first}"
        );
        // The server drops the dead session (here: restarted); the next prune removes it.
        let restarted = StdCommand::new("bash")
            .arg(&script)
            .arg("restart")
            .arg(&d)
            .output()
            .unwrap();
        assert!(
            restarted.status.success(),
            "{}",
            String::from_utf8_lossy(&restarted.stderr)
        );
        prune();
    }
    assert!(files_ending(&share_root, ".partial").is_empty());
    assert_eq!(
        dir_names(&share_root).len(),
        2,
        "{:?}",
        dir_names(&share_root)
    );
    let v = cmd()
        .args(["verify", &good_id, "--key"])
        .arg(w.join("certs/ns.contoso.com.pem"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// The binary with the test's environment, spawned (not waited for), output piped.
fn spawn_binary(ctx: &Ctx, args: &[&str], env: &[(&str, &str)]) -> Child {
    common::std_bin()
        .env("HOME", ctx.path("home"))
        .env("AZS_BACKUP_SMB_TIMEOUT_SECS", SMB_TIMEOUT_SECS)
        .envs(env.iter().copied())
        .current_dir(ctx.world.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary")
}

/// The upload helper processes (`__smb-upload-helper`) whose parent is `parent`.
fn upload_helpers(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent)
            && cmdline
                .split(|b| *b == 0)
                .any(|a| a == b"__smb-upload-helper")
        {
            out.push(pid);
        }
    }
    out
}

/// Bytes a process has read (its `/proc/PID/io` `rchar`), 0 once it is gone.
fn bytes_read(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// An archive larger than a few 8 MiB writes goes up over several connections (the backup's
/// own and helper processes, `AZS_BACKUP_SMB_CONNECTIONS`), each writing its batches at their
/// offsets: the backup verifies with the key and restores the same bytes, with 1, 3 and 8
/// connections. A value out of range (of it, or of `AZS_BACKUP_SMB_TIMEOUT_SECS`) is refused as a
/// usage error (exit 2) naming the variable and its range.
#[test]
fn several_connections_upload_the_same_bytes() {
    let Some(ctx) = Ctx::new("several_connections_upload_the_same_bytes", false) else {
        return;
    };
    let srv = &ctx.srv;
    let (src, folder, cfg) = ctx.share_with_big_file("lanes", "é", 40 << 20);
    for bad in ["0", "9", "many"] {
        ctx.run_with(
            &["--config", s(&cfg), "start-backup"],
            None,
            &[("AZS_BACKUP_SMB_CONNECTIONS", bad)],
        )
        .fails(2)
        .says(&["AZS_BACKUP_SMB_CONNECTIONS", "1..=8"]);
    }
    ctx.run_with(
        &["--config", s(&cfg), "list"],
        None,
        &[("AZS_BACKUP_SMB_TIMEOUT_SECS", "0")],
    )
    .fails(2)
    .says(&["AZS_BACKUP_SMB_TIMEOUT_SECS", "1..=86400"]);
    for n in ["1", "3", "8"] {
        let r = ctx
            .run_with(
                &["--config", s(&cfg), "start-backup", "--json"],
                None,
                &[("AZS_BACKUP_SMB_CONNECTIONS", n)],
            )
            .ok();
        let id = r.doc()["backupId"].as_str().unwrap().to_string();
        ctx.json(&cfg, &["verify", &id, "--key", s(&ctx.pem)]).ok();
        let to = ctx.path(&format!("restored-{n}"));
        ctx.restore_matches(&cfg, &id, &to, &src);
    }
    if let Some(local) = srv.local(&srv.share, &folder) {
        assert!(files_ending(&local, ".partial").is_empty());
    }
}

/// A helper process killed mid-upload (after it has taken a batch) fails the backup with one
/// line naming the helper, leaves no archive and no temporary file, and the next backup
/// succeeds. Its command line is only the helper argument and holds no secret, nor does its
/// environment.
#[test]
fn upload_helper_killed_during_backup() {
    let Some(ctx) = Ctx::new("upload_helper_killed_during_backup", false) else {
        return;
    };
    let srv = &ctx.srv;
    let (_, folder, cfg) = ctx.share_with_big_file("helper-killed", "ü", 200 << 20);

    let args = ["--config", s(&cfg), "start-backup"];
    // The password is in the backup's environment too: its helpers must not inherit it.
    let mut child = spawn_binary(
        &ctx,
        &args,
        &[
            ("AZS_BACKUP_SMB_CONNECTIONS", "3"),
            ("AZS_BACKUP_PASSWORD", &srv.password),
        ],
    );
    let pid = child.id();
    // A helper that has read more than a batch is past its start and holds (or held) a batch.
    let victim = wait_while_running(&mut child, "an upload helper took a batch", || {
        upload_helpers(pid)
            .into_iter()
            .find(|p| bytes_read(*p) > 8 << 20)
    });
    let cmdline = std::fs::read(format!("/proc/{victim}/cmdline")).unwrap();
    let argv: Vec<&[u8]> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(argv.len(), 2, "{:?}", String::from_utf8_lossy(&cmdline));
    assert_eq!(argv[1], b"__smb-upload-helper");
    let environ = std::fs::read(format!("/proc/{victim}/environ")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&environ).contains(&srv.password));
    let helpers = upload_helpers(child.id());
    StdCommand::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    let status = wait_child(&mut child, Duration::from_secs(90));
    let out = child.wait_with_output().unwrap();
    assert!(status.code().is_some(), "start-backup died: {status}");
    let run = ctx.check(&args, out).fails(4);
    let run = run.says(&[&format!("SMB upload helper process {victim} stopped")]);
    run.only_diagnostics();
    // No helper outlives the backup (each was waited for: no zombie either).
    for pid in helpers {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "helper {pid} outlived the backup"
        );
    }
    let (backups, _) = ctx.listing(&cfg);
    assert!(
        backups.iter().all(|(_, st)| st != "Succeeded"),
        "{backups:?}"
    );
    if let Some(local) = srv.local(&srv.share, &folder) {
        // Gone when the backup has exited: the server refuses the deletion while the dead
        // helper's session still has the file open, and the backup retries until it has
        // noticed the session is gone (a CI run once caught it before that).
        assert!(files_ending(&local, ".partial").is_empty());
    }
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let id = r.doc()["backupId"].as_str().unwrap().to_string();
    ctx.json(&cfg, &["verify", &id, "--key", s(&ctx.pem)]).ok();
}

/// `bench/latency_proxy.py` between the binary and Samba: a share in another site.
struct LatencyProxy {
    child: Child,
    port: u16,
}

impl LatencyProxy {
    /// A proxy to the test server that delays each direction by `delay_ms`.
    fn start(srv: &smb_common::Server, delay_ms: u32) -> LatencyProxy {
        LatencyProxy::start_traced(srv, delay_ms, None)
    }

    /// The same, appending each SMB2 message the client sends to `trace` ("CONN COMMAND").
    fn start_traced(srv: &smb_common::Server, delay_ms: u32, trace: Option<&Path>) -> LatencyProxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/latency_proxy.py");
        let mut child = StdCommand::new("python3")
            .arg(&script)
            .args(["0", &srv.host, &srv.port.to_string(), &delay_ms.to_string()])
            .args(trace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start bench/latency_proxy.py (python3)");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the latency proxy said {line:?}"));
        LatencyProxy { child, port }
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Through a link with latency (50 ms each way) the upload waits for the network, so helper
/// processes start without `AZS_BACKUP_SMB_CONNECTIONS`, and the backup succeeds; its archive
/// has the size its manifest gives.
#[test]
fn a_slow_link_starts_upload_helpers() {
    let Some(ctx) = Ctx::new("a_slow_link_starts_upload_helpers", false) else {
        return;
    };
    let srv = &ctx.srv;
    let proxy = LatencyProxy::start(srv, 50);
    let src = ctx.path("src");
    make_tree(&src, &["a"]);
    write_random_file(&src.join("big.bin"), 64 << 20);
    let folder = ctx.folder("slow-link");
    let url = format!("smb://127.0.0.1:{}/{}/{folder}", proxy.port, srv.share);
    let cfg = ctx.config("settings");
    ctx.configure(&cfg, &url, &srv.user, &[("data", &src)]).ok();
    let args = ["--config", s(&cfg), "start-backup", "--json"];
    let mut child = spawn_binary(&ctx, &args, &[]);
    let pid = child.id();
    wait_while_running(&mut child, "upload helpers started", || {
        (!upload_helpers(pid).is_empty()).then_some(())
    });
    let status = wait_child(&mut child, Duration::from_secs(120));
    assert!(status.code().is_some(), "start-backup died: {status}");
    let run = ctx.check(&args, child.wait_with_output().unwrap()).ok();
    let id = run.doc()["backupId"].as_str().unwrap().to_string();
    drop(proxy);
    if let Some(local) = srv.local(&srv.share, &folder) {
        let dir = local.join("MASBackup").join(&id);
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let want = manifest["roleStatus"][0]["encryptedSizeInBytes"]
            .as_u64()
            .unwrap();
        let got = std::fs::metadata(dir.join("data.tar.zst.enc"))
            .unwrap()
            .len();
        assert_eq!(got, want);
        assert!(files_ending(&local, ".partial").is_empty());
    }
}

/// Every request of a backup to a remote share is a round trip (95 of them were 1.9 s of a
/// backup of one small file through a 20 ms round trip: docs/BENCHMARKS.md, sixth pass). A
/// second small backup uses one connection (the lock's keep-alive connection opens only when
/// a refresh is due), reads a lock in two read requests, asks an upload's size on its open
/// handle, and reads no manifest for a source the state knows; the lock and the size checks
/// are all still made.
#[test]
fn a_small_backup_makes_few_requests() {
    let Some(ctx) = Ctx::new("a_small_backup_makes_few_requests", false) else {
        return;
    };
    let (proxy, trace, _, cfg) = traced_share(&ctx, 0, "few-requests", None);
    let args = ["--config", s(&cfg), "start-backup", "--json"];
    ctx.run(&args, None).ok();
    let (id, text) = traced_backup(&ctx, &args, &trace);
    let lines = trace_lines(&text);
    let connections: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.0).collect();
    assert_eq!(connections.len(), 1, "one connection:\n{text}");
    let count = |cmd: &str| lines.iter().filter(|l| l.1 == cmd).count();
    // The lock is not read back: within a minute of writing it the run trusts it (before the
    // source, before the manifest and before deleting it: src/lock.rs, TRUSTED_FOR).
    assert_eq!(count("READ"), 0, "{text}");
    assert_eq!(
        count("WRITE"),
        3,
        "the lock, the archive and the manifest:\n{text}"
    );
    // 95 before the sixth pass, 65 after it, 52 after the seventh (libsmbclient 4.17): a
    // little room for a newer one.
    assert!(lines.len() <= 55, "{} requests:\n{text}", lines.len());
    // The checks are still made: the backup is there, whole.
    ctx.json(&cfg, &["verify", &id]).ok();
    drop(proxy);
}

/// On a slow link (here 5 ms each way: connecting takes about 100 ms), a backup has its
/// target connect the upload's helper processes while it takes its lock and checks the room
/// (`src/store/smb/warm.rs`): the helpers' connections begin before the archive's first
/// write, and write some of its batches. A backup this machine remembers as small (the
/// state's `sourceSizes`) starts none: one connection.
#[test]
fn a_slow_link_connects_the_helpers_before_the_upload() {
    let Some(ctx) = Ctx::new("a_slow_link_connects_the_helpers_before_the_upload", false) else {
        return;
    };
    let (proxy, trace, src, cfg) = traced_share(&ctx, 5, "warm", Some(48 << 20));
    let args = ["--config", s(&cfg), "start-backup", "--json"];
    // The first backup of the source: its size is unknown here, so the helpers start.
    let (id, text) = traced_backup(&ctx, &args, &trace);
    let lines = trace_lines(&text);
    let first = |conn: &str, cmd: &str, nth: usize| {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.0 == conn && l.1 == cmd)
            .nth(nth)
            .map(|(i, _)| i)
    };
    let main = lines[0].0;
    // The main connection's writes: the lock, then the archive's batches.
    let archive_starts = first(main, "WRITE", 1).expect("the archive's first write");
    let helpers: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l.0).filter(|c| *c != main).collect();
    assert_eq!(helpers.len(), 2, "two helpers:\n{text}");
    for h in &helpers {
        let connects = first(h, "NEGOTIATE", 0).unwrap();
        assert!(
            connects < archive_starts,
            "helper {h} connects at line {connects}, the archive starts at {archive_starts}:\n{text}"
        );
    }
    assert!(
        helpers.iter().any(|h| first(h, "WRITE", 0).is_some()),
        "the helpers write batches:\n{text}"
    );
    ctx.json(&cfg, &["verify", &id]).ok();
    let to = ctx.path("restored");
    ctx.restore_matches(&cfg, &id, &to, &src);

    // Now small, and known to be: one connection.
    std::fs::remove_file(src.join("big.bin")).unwrap();
    ctx.run(&args, None).ok();
    let (_, text) = traced_backup(&ctx, &args, &trace);
    let conns: std::collections::BTreeSet<&str> = trace_lines(&text).iter().map(|l| l.0).collect();
    assert_eq!(conns.len(), 1, "one connection:\n{text}");
    drop(proxy);
}

/// A restore reads its archive ahead of the decryption, by a thread of its own, in 8 MiB
/// requests (`src/store/smb/download.rs`). smbd killed while a ~300 MiB restore reads: the
/// restore fails (one error line: the share cannot be reached), leaves nothing in the
/// destination, and after a restart the same restore succeeds with the same bytes. Never a
/// shortened file taken for the end.
#[test]
fn server_killed_during_restore() {
    let Some((ctx, dir, guard)) = killable_server("server_killed_during_restore") else {
        return;
    };
    let (src, _, cfg) = ctx.share_with_big_file("restore-killed", "a", 300 << 20);
    let r = ctx.json(&cfg, &["start-backup"]).ok();
    let id = r.doc()["backupId"].as_str().unwrap().to_string();
    let to = ctx.path("restored");
    let args = [
        "--config",
        s(&cfg),
        "restore",
        &id,
        "--key",
        s(&ctx.pem),
        "--to",
        s(&to),
    ];
    let mut child = spawn_binary(&ctx, &args, &[]);
    // (Its socket reads do not count in /proc/PID/io: the files it writes do.)
    wait_while_running(&mut child, "the restore wrote 40 MiB", || {
        (bytes_under(&to) > 40 << 20).then_some(())
    });
    kill_smbd(&dir);
    let status = wait_child(&mut child, Duration::from_secs(90));
    assert!(status.code().is_some(), "restore died: {status}");
    let run = ctx.check(&args, child.wait_with_output().unwrap());
    let run = run.fails(4).says(&["cannot reach", "check the network"]);
    run.only_diagnostics();
    let left: Vec<_> = std::fs::read_dir(&to)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    guard.restart();
    let again = ctx.path("restored-again");
    ctx.restore_matches(&cfg, &id, &again, &src);
    drop(guard);
}

/// A share reached through a latency proxy (`delay_ms` each way) that traces the requests:
/// the proxy, the trace file, the source (a small tree, plus `big.bin` of `big` random bytes)
/// and the settings.
fn traced_share(
    ctx: &Ctx,
    delay_ms: u32,
    what: &str,
    big: Option<u64>,
) -> (LatencyProxy, PathBuf, PathBuf, PathBuf) {
    let trace = ctx.path("trace.txt");
    let proxy = LatencyProxy::start_traced(&ctx.srv, delay_ms, Some(&trace));
    let src = ctx.path("src");
    make_tree(&src, &["a"]);
    if let Some(n) = big {
        write_random_file(&src.join("big.bin"), n);
    }
    let folder = ctx.folder(what);
    let url = format!("smb://127.0.0.1:{}/{}/{folder}", proxy.port, ctx.srv.share);
    let cfg = ctx.config("settings");
    ctx.configure(&cfg, &url, &ctx.srv.user, &[("data", &src)])
        .ok();
    (proxy, trace, src, cfg)
}

/// Runs the backup `args` with the trace emptied first: its id and its requests.
fn traced_backup(ctx: &Ctx, args: &[&str], trace: &Path) -> (String, String) {
    std::fs::write(trace, "").unwrap();
    let id = ctx.run(args, None).ok().doc()["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    (id, std::fs::read_to_string(trace).unwrap())
}

/// The lines of a trace as (connection, commands).
fn trace_lines(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect()
}

/// Bytes of the files under `dir` (0 when it is missing).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

//! The shape of the binary's output under a closed stdout (`azs-backup list | head -2`): the
//! process ends quietly with exit 0, without a panic and without an error line, and a failure
//! verdict (`status --check`) still gets its own exit code.

use crate::common;

use common::World;
use std::io::Read;
use std::process::{Command, Output, Stdio};

/// The binary, as `common::bin` sets it up, as a plain `std::process::Command`.
fn command(w: Option<&World>, args: &[&str]) -> Command {
    let mut c = common::std_bin();
    if let Some(w) = w {
        c.arg("--config").arg(w.config()).current_dir(w.dir.path());
    }
    c.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
    c
}

/// Runs `c`, reads the first `n` bytes of its stdout, then closes the reading end (as `head -c`
/// does) and waits.
fn read_then_close(mut c: Command, n: usize) -> (Vec<u8>, Output) {
    let mut child = c.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut first = vec![0u8; n];
    child
        .stdout
        .take()
        .expect("stdout piped")
        .read_exact(&mut first)
        .expect("the first bytes");
    // The reader is dropped here: every later write of the child fails with EPIPE.
    (first, child.wait_with_output().expect("wait"))
}

/// Runs `c` with a stdout whose reading end is closed before it starts: its first write fails.
fn closed_from_the_start(mut c: Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    c.stdout(writer).output().expect("run")
}

fn assert_quiet_success(what: &str, out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{what}: nothing on stderr, got: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A configured world whose target holds `count` backups: one real backup, its manifest copied
/// under new ids (`list` reads manifests only).
fn world_with_backups(count: usize) -> World {
    let w = World::new();
    let (cer, _) = w.new_cert("shape", None);
    w.write("src/identity/users.db", b"alice\nbob\n");
    w.configure(&cer, &["identity=src/identity"]);
    let id = w.backup();
    let root = w.path("backups/MASBackup");
    let manifest = std::fs::read_to_string(root.join(&id).join("manifest.json")).unwrap();
    for i in 1..count {
        let copy = format!("{i:08x}-0000-4000-8000-{i:012x}");
        let dir = root.join(&copy);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("manifest.json"), manifest.replace(&id, &copy)).unwrap();
    }
    w
}

#[test]
fn a_closed_stdout_ends_list_quietly() {
    // 700 lines of `list` (about 95 KB) and more of `list --json` do not fit in a pipe's buffer
    // (64 KiB): the binary is still writing when the reader goes away.
    let w = world_with_backups(700);
    let full = command(Some(&w), &["list"]).output().unwrap();
    assert_quiet_success("list", &full);
    assert_eq!(String::from_utf8_lossy(&full.stdout).lines().count(), 701);
    assert!(full.stdout.len() > 64 * 1024);

    for args in [&["list"][..], &["list", "--json"]] {
        let (first, out) = read_then_close(command(Some(&w), args), 10);
        assert_eq!(first, full_prefix(&w, args, 10), "{args:?}");
        assert_quiet_success(&format!("{args:?} | head -c 10"), &out);
        assert_quiet_success(
            &format!("{args:?} > closed pipe"),
            &closed_from_the_start(command(Some(&w), args)),
        );
    }
}

fn full_prefix(w: &World, args: &[&str], n: usize) -> Vec<u8> {
    let out = command(Some(w), args).output().unwrap();
    out.stdout[..n].to_vec()
}

#[test]
fn a_closed_stdout_ends_man_and_completions_quietly() {
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["--json", "new-encryption-key"],
        &["new-encryption-key"],
    ] {
        let (_, out) = read_then_close(command(None, args), 10);
        assert_quiet_success(&format!("{args:?} | head -c 10"), &out);
        assert_quiet_success(
            &format!("{args:?} > closed pipe"),
            &closed_from_the_start(command(None, args)),
        );
    }
}

#[test]
fn a_closed_stdout_does_not_hide_a_failure() {
    // No backup yet: `status --check` finds `noRecentBackup` and exits 11, printed report or not.
    let w = World::new();
    let (cer, _) = w.new_cert("verdict", None);
    w.write("src/identity/users.db", b"alice\n");
    w.configure(&cer, &["identity=src/identity"]);
    let out = closed_from_the_start(command(Some(&w), &["status", "--check", "--offline"]));
    assert_eq!(out.status.code(), Some(11), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("noRecentBackup"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn errors_keep_their_exit_codes_and_kinds() {
    let w = World::new();
    let missing = w.path("nowhere.toml");
    let out = command(None, &["--json", "status"])
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(doc["error"]["kind"], "settings");
    assert_eq!(doc["error"]["code"], 3);
    assert!(out.stdout.is_empty());

    // A usage error found after parsing.
    let out = command(None, &["verify", "2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d"])
        .args(["--key-password-stdin", "--from"])
        .arg(w.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "azs-backup: error: --key-password-stdin needs --key FILE.pfx"
    );
}

//! `completions/` and `man/` hold generated files; this fails when they are out of date.
//! Regenerate with `AZS_BACKUP_BLESS=1 cargo test --test cli generated_files` (or
//! `scripts/generate.sh`).

use crate::common;

use common::bin;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var_os("AZS_BACKUP_BLESS").is_some()
}

fn check(dir: &str, expected: BTreeMap<String, Vec<u8>>) {
    let dir = root().join(dir);
    if bless() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in &expected {
            fs::write(dir.join(name), data).unwrap();
        }
        return;
    }
    let mut committed = BTreeMap::new();
    for e in fs::read_dir(&dir).unwrap_or_else(|_| panic!("{} is missing", dir.display())) {
        let e = e.unwrap();
        committed.insert(
            e.file_name().to_string_lossy().into_owned(),
            fs::read(e.path()).unwrap(),
        );
    }
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&expected),
        "{}: files differ; run AZS_BACKUP_BLESS=1 cargo test --test cli generated_files",
        dir.display()
    );
    for (name, data) in &expected {
        assert!(
            committed[name] == *data,
            "{}/{name} is out of date; run AZS_BACKUP_BLESS=1 cargo test --test cli generated_files",
            dir.display()
        );
    }
}

#[test]
fn completions_are_up_to_date() {
    let mut expected = BTreeMap::new();
    for (shell, file) in [
        ("bash", "azs-backup.bash"),
        ("zsh", "_azs-backup"),
        ("fish", "azs-backup.fish"),
        ("powershell", "_azs-backup.ps1"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("start-backup"),
            "{shell} completions name the subcommands"
        );
        expected.insert(file.to_string(), out.stdout);
    }
    check("completions", expected);
}

#[test]
fn man_pages_are_up_to_date() {
    let tmp = tempfile::tempdir().unwrap();
    bin()
        .args(["man", "--out-dir"])
        .arg(tmp.path())
        .assert()
        .success();
    let mut expected = BTreeMap::new();
    for e in fs::read_dir(tmp.path()).unwrap() {
        let e = e.unwrap();
        expected.insert(
            e.file_name().to_string_lossy().into_owned(),
            fs::read(e.path()).unwrap(),
        );
    }
    assert!(expected.contains_key("azs-backup.1"));
    assert!(expected.contains_key("azs-backup-start-backup.1"));
    // `azs-backup man` prints the main page.
    let out = bin().arg("man").output().unwrap();
    assert_eq!(out.stdout, expected["azs-backup.1"]);
    check("man", expected);
}

/// The module graph of the crate has no cycles (dependencies run one way: leaf helpers, domain,
/// operations, cli). Checked with the shared `modcycles.py` where it is beside the checkout (as in
/// CI); skipped with a notice elsewhere.
#[test]
fn modules_have_no_dependency_cycles() {
    let tool = root().join("../shared/tools/modcycles.py");
    if !tool.exists() {
        eprintln!("notice: {} not found; cycle check skipped", tool.display());
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(&tool)
        .arg(root().join("src"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("cycle"),
        "module cycles:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

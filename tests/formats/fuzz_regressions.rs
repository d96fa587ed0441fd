//! The fuzz targets' inputs under plain `cargo test`: every seed (`fuzz/seeds/<target>/`) and
//! every input a fuzzer once crashed with (`tests/fuzz_regressions/<target>/`) goes through the
//! same harness function the fuzz target calls (`fuzz/src/lib.rs`, included here), which
//! panics if the library panics or breaks one of the properties it checks. See docs/FUZZING.md.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Runs every file of the target's seed and regression folders through `harness`.
fn run(target: &str, harness: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs: Vec<PathBuf> = Vec::new();
    for dir in [
        root.join("fuzz/seeds").join(target),
        root.join("tests/fuzz_regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("listing inputs").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        inputs.extend(files);
    }
    assert!(!inputs.is_empty(), "no inputs for the {target} target");
    for path in inputs {
        let data = std::fs::read(&path).expect("reading an input");
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            panic!(
                "{target}: {} made the harness panic (message above)",
                path.display()
            );
        }
    }
}

#[test]
fn envelope() {
    run("envelope", harness::envelope);
}

#[test]
fn manifest() {
    run("manifest", harness::manifest);
}

#[test]
fn settings() {
    run("settings", harness::settings);
}

#[test]
fn certificate() {
    run("certificate", harness::certificate);
}

#[test]
fn target_spec() {
    run("target_spec", harness::target_spec);
}

#[test]
fn azurestack() {
    run("azurestack", harness::azurestack);
}

#[test]
fn unpack() {
    run("unpack", harness::unpack);
}

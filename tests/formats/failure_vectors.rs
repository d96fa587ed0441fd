//! Known-failure vectors (`tests/vectors/fail/`, made by `tests/vectors/fail/generate.py`; see
//! `tests/vectors/README.md`), in the style of age's CCTV test kit: each vector is a file and the
//! outcome it must have, `ok` or one failure kind, for three formats: the encrypted file
//! (`docs/FORMAT.md` §2-4), `manifest.json` (`docs/FORMAT.md` §1) and Azure Stack Hub snapshots
//! (`docs/AZURESTACK.md`).
//!
//! Every vector goes through the library (`crypto::Decryptor` read to the end,
//! `manifest::parse`, `azurestack::unprotect`) AND through the independent Python readers
//! (`tests/python/check_vectors.py`: `decrypt_backup.py`, `check_manifest.py`,
//! `unprotect_snapshot.py`). Both must give exactly the expected kind: a vector refused for
//! another reason than the one it was made for is a bad vector (or a bug). Both must also accept
//! the `ok` vectors and the known-answer vectors of `tests/vectors/vectors.json`, with the same
//! content, so a reader that refuses everything cannot pass.
//!
//! Needs `python3` with the `cryptography` package (`bash scripts/test.sh` installs it); without
//! it these tests FAIL, they never skip.

use azs_backup::azurestack::{unprotect, UnprotectRequest};
use azs_backup::certificate::{private_key_from_bytes, PrivateKey};
use azs_backup::crypto::{CryptoError, Decryptor, Identity, LegacyKey};
use azs_backup::{manifest, Error};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The failure kinds each format's readers distinguish (tests/vectors/README.md).
const ENCRYPTED_KINDS: &[&str] = &[
    "truncated",
    "bad_magic",
    "version",
    "header",
    "wrong_key",
    "unwrap",
    "auth",
];
const MANIFEST_KINDS: &[&str] = &[
    "too_large",
    "json",
    "manifest_version",
    "backup_id",
    "text",
    "recipient",
    "compression_level",
    "role_count",
    "role_name",
    "duplicate_role",
    "file_name",
    "succeeded_role",
    "status",
    "size",
    "changed_files",
    "error_message",
];
const SNAPSHOT_KINDS: &[&str] = &[
    "sidecar",
    "wrong_key",
    "unwrap",
    "snapshot_key",
    "truncated",
    "header",
    "length",
    "checksum",
    "padding",
    "zip",
    "zip_data",
    "unsafe_entry",
    "zip_encrypted",
];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn fail_dir() -> PathBuf {
    vectors_dir().join("fail")
}

#[derive(Debug, Clone)]
struct Vector {
    /// Relative to tests/vectors/.
    path: String,
    format: String,
    expected: String,
    args: BTreeMap<String, String>,
    description: String,
}

impl Vector {
    fn arg(&self, name: &str) -> &str {
        self.args
            .get(name)
            .unwrap_or_else(|| panic!("{}: no {name}= in its args", self.path))
    }
}

/// The known-failure vectors of fail/expected.tsv.
fn failure_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(fail_dir().join("expected.tsv")).expect("expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "expected.tsv: 5 tab-separated fields: {line:?}");
            let args = f[3]
                .split(',')
                .filter(|a| !a.is_empty() && *a != "-")
                .map(|a| {
                    let (k, v) = a.split_once('=').expect("args are NAME=VALUE");
                    (k.to_string(), v.to_string())
                })
                .collect();
            Vector {
                path: format!("fail/{}", f[0]),
                format: f[1].to_string(),
                expected: f[2].to_string(),
                args,
                description: f[4].to_string(),
            }
        })
        .collect()
}

fn kat_index() -> Value {
    serde_json::from_slice(&std::fs::read(vectors_dir().join("vectors.json")).unwrap()).unwrap()
}

fn kat_index_v2() -> Value {
    serde_json::from_slice(&std::fs::read(vectors_dir().join("vectors-v2.json")).unwrap()).unwrap()
}

/// Every known-answer vector's entry, version 1 then version 2.
fn kat_entries() -> Vec<Value> {
    [kat_index(), kat_index_v2()]
        .iter()
        .flat_map(|ix| ix["vectors"].as_array().unwrap().clone())
        .collect()
}

/// The known-answer vectors, as `ok` vectors of format `encrypted`: version 1 with its one
/// key, version 2 with the recovery key and its certificate (tests/formats/vectors.rs and
/// python.rs try every key).
fn known_answer_vectors() -> Vec<Vector> {
    kat_entries()
        .iter()
        .map(|v| Vector {
            path: v["file"].as_str().unwrap().to_string(),
            format: "encrypted".into(),
            expected: "ok".into(),
            args: [(
                "key".to_string(),
                match v["kind"].as_u64() {
                    Some(1) => "rsa",
                    Some(_) => "legacy",
                    None => "recovery",
                }
                .to_string(),
            )]
            .into(),
            description: "known-answer vector".into(),
        })
        .collect()
}

/// The vector's bytes (a `.gz` file is stored compressed).
fn read_vector(path: &str) -> Vec<u8> {
    let raw = std::fs::read(vectors_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    if path.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{path}: gzip: {e}"));
        out
    } else {
        raw
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The test key with its certificate (so that its thumbprint is known).
fn rsa_key() -> PrivateKey {
    let ix = kat_index();
    let mut pem =
        std::fs::read(vectors_dir().join(ix["rsa_private_key"].as_str().unwrap())).unwrap();
    pem.extend_from_slice(
        &std::fs::read(vectors_dir().join(ix["rsa_certificate"].as_str().unwrap())).unwrap(),
    );
    private_key_from_bytes(&pem, "test key + certificate", None).expect("test key loads")
}

fn legacy_key() -> LegacyKey {
    let ix = kat_index();
    let text = std::fs::read_to_string(vectors_dir().join(ix["legacy_key_file"].as_str().unwrap()))
        .unwrap();
    LegacyKey::parse(&text).unwrap()
}

/// What a reader made of a vector: `ok` (with a digest of the content) or a failure kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    kind: String,
    message: String,
    digest: Option<String>,
}

impl Outcome {
    fn ok(digest: String) -> Outcome {
        Outcome {
            kind: "ok".into(),
            message: String::new(),
            digest: Some(digest),
        }
    }

    fn failed(kind: impl Into<String>, message: impl Into<String>) -> Outcome {
        Outcome {
            kind: kind.into(),
            message: message.into(),
            digest: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The library

fn crypto_kind(e: &std::io::Error) -> String {
    match CryptoError::from_io(e) {
        Some(CryptoError::BadMagic) => "bad_magic".into(),
        Some(CryptoError::UnsupportedVersion(_)) => "version".into(),
        Some(CryptoError::BadHeader(_)) => "header".into(),
        Some(CryptoError::WrongRecipient { .. }) => "wrong_key".into(),
        Some(CryptoError::UnwrapFailed { .. }) => "unwrap".into(),
        Some(CryptoError::ChunkAuth { chunk }) => format!("auth:{chunk}"),
        Some(CryptoError::Truncated) => "truncated".into(),
        Some(CryptoError::Encrypt(_)) => "unexpected CryptoError::Encrypt".into(),
        None => format!("unexpected io::Error ({:?})", e.kind()),
    }
}

fn library_encrypted(v: &Vector, keys: &Keys) -> Outcome {
    let identity = match v.arg("key") {
        "rsa" => &keys.rsa,
        "legacy" => &keys.legacy,
        "recovery" => &keys.recovery,
        "recovery-bare" => &keys.recovery_bare,
        k => panic!("{}: unknown key {k}", v.path),
    };
    let data = read_vector(&v.path);
    let result = Decryptor::new(&data[..], identity).and_then(|mut d| {
        let mut out = Vec::new();
        d.read_to_end(&mut out)
            .map(|_| (out, d.opened_by().to_string()))
    });
    match result {
        // Same digest as check_vectors.py: the plaintext and the entry that opened it.
        Ok((plain, opened)) => Outcome::ok(format!("{} opened by {opened}", sha256_hex(&plain))),
        Err(e) => Outcome::failed(crypto_kind(&e), e.to_string()),
    }
}

/// True for a serde_json error message ("... at line L column C").
fn is_serde_message(msg: &str) -> bool {
    let Some(i) = msg.rfind(" at line ") else {
        return false;
    };
    let rest = &msg[i + " at line ".len()..];
    let mut parts = rest.split(" column ");
    let line_ok = parts
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    let col_ok = parts
        .next()
        .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    line_ok && col_ok && parts.next().is_none()
}

/// Maps a `manifest::parse` error to the vocabulary by what its message says.
fn manifest_kind(e: &Error) -> String {
    let Error::VerificationFailed(msg) = e else {
        return format!("unexpected error variant: {e:?}");
    };
    if is_serde_message(msg) {
        // serde_json refused the document itself; an unknown status is an unknown enum variant.
        return if msg.contains("unknown variant") {
            "status".into()
        } else {
            "json".into()
        };
    }
    const KINDS: &[(&str, &str)] = &[
        // A document that serde_json reads but that is not one UTF-8 JSON object.
        ("not UTF-8", "json"),
        ("not a JSON object", "json"),
        ("bytes, more than the", "too_large"),
        ("manifestVersion", "manifest_version"),
        ("backupId", "backup_id"),
        ("holds control characters", "text"),
        ("exactly one of encryptionCertThumbprint", "recipient"),
        ("recoveryCertThumbprints", "recipient"),
        ("is not a zstd level", "compression_level"),
        ("roleStatus has more than", "role_count"),
        ("is not a valid source name", "role_name"),
        ("appears twice", "duplicate_role"),
        ("fileName must be", "file_name"),
        (
            "a succeeded source needs fileName and a sha256",
            "succeeded_role",
        ),
        ("status must be Succeeded or Failed", "status"),
        ("does not agree with its sources", "status"),
        ("a size or count is larger than", "size"),
        ("changedFiles is too long", "changed_files"),
        ("errorMessage is too long", "error_message"),
    ];
    KINDS
        .iter()
        .find(|(words, _)| msg.contains(words))
        .map(|(_, kind)| kind.to_string())
        .unwrap_or_else(|| format!("unclassified manifest error: {msg}"))
}

fn library_manifest(v: &Vector) -> Outcome {
    match manifest::parse(&read_vector(&v.path), v.arg("folder")) {
        Ok(m) => Outcome::ok(format!(
            "{} {} {} {}",
            m.backup_id,
            m.status,
            m.recipient_ids().join("+"),
            m.role_status
                .iter()
                .map(|r| format!("{}:{}", r.role_name, r.status))
                .collect::<Vec<_>>()
                .join(",")
        )),
        Err(e) => Outcome::failed(manifest_kind(&e), e.to_string()),
    }
}

/// Maps an `unprotect` error to the vocabulary (the snapshot's paths are taken out of the
/// message first, so that a vector's name cannot steer the mapping).
fn snapshot_kind(e: &Error, snapshot: &Path) -> String {
    let scrub = |m: &str| {
        m.replace(
            &snapshot.with_extension("xml").display().to_string(),
            "<sidecar>",
        )
        .replace(&snapshot.display().to_string(), "<snapshot>")
    };
    match e {
        Error::WrongKey(m) if m.contains("Thumbprint mismatch") => "wrong_key".into(),
        Error::WrongKey(m) if m.contains("cannot unwrap") => "unwrap".into(),
        Error::UnsafeEntry(_) => "unsafe_entry".into(),
        Error::VerificationFailed(m) => {
            let m = scrub(m);
            const KINDS: &[(&str, &str)] = &[
                ("is not a usable Azure Stack snapshot sidecar", "sidecar"),
                (
                    "EncryptedBackupEncryptionKey in the sidecar is not base64",
                    "sidecar",
                ),
                ("the unwrapped snapshot key", "snapshot_key"),
                ("it ends inside the header", "truncated"),
                ("is not an encrypted Azure Stack snapshot", "header"),
                ("not a whole number of AES blocks", "length"),
                ("checksum mismatch", "checksum"),
                ("PKCS#7 padding is not valid", "padding"),
                ("is password-protected", "zip_encrypted"),
                ("is not a valid zip archive", "zip"),
                ("<snapshot>: zip entry ", "zip_data"),
            ];
            KINDS
                .iter()
                .find(|(words, _)| m.contains(words))
                .map(|(_, kind)| kind.to_string())
                .unwrap_or_else(|| format!("unclassified snapshot error: {m}"))
        }
        other => format!("unexpected error variant: {other:?}"),
    }
}

/// Regular files under `dir`: sorted "relative/path sha256" lines.
fn tree_digest(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                assert!(ft.is_file(), "{} is not a regular file", p.display());
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                out.push(format!("{rel} {}", sha256_hex(&std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines);
    lines.sort();
    lines.join("\n")
}

fn library_snapshot(v: &Vector, keys: &Keys) -> Outcome {
    assert_eq!(v.arg("key"), "rsa", "{}", v.path);
    let snapshot = vectors_dir().join(&v.path);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let req = UnprotectRequest {
        snapshot: &snapshot,
        key: &keys.rsa_key,
        destination: Some(&dest),
        force: false,
    };
    match unprotect(&req, &mut |_, _| {}) {
        Ok(_) => Outcome::ok(tree_digest(&dest)),
        Err(e) => {
            // Nothing may be left in the destination of a refused snapshot.
            let left = std::fs::read_dir(&dest).map(|d| d.count()).unwrap_or(0);
            let kind = if left == 0 {
                snapshot_kind(&e, &snapshot)
            } else {
                format!("refused but left {left} entries in the destination")
            };
            Outcome::failed(kind, e.to_string())
        }
    }
}

struct Keys {
    rsa: Identity,
    legacy: Identity,
    rsa_key: PrivateKey,
    /// `key=recovery`: the recovery key with its certificate (vectors-v2.json).
    recovery: Identity,
    /// `key=recovery-bare`: the recovery key alone, which tries every certificate entry.
    recovery_bare: Identity,
}

/// The recovery key, with its certificate appended when `with_cert`.
fn recovery_key(with_cert: bool) -> PrivateKey {
    let ix = kat_index_v2();
    let mut pem =
        std::fs::read(vectors_dir().join(ix["recovery_private_key"].as_str().unwrap())).unwrap();
    if with_cert {
        pem.extend_from_slice(
            &std::fs::read(vectors_dir().join(ix["recovery_certificate"].as_str().unwrap()))
                .unwrap(),
        );
    }
    let key = private_key_from_bytes(&pem, "recovery key", None).expect("recovery key loads");
    assert_eq!(
        key.thumbprint(),
        with_cert.then_some(ix["recovery_certificate_thumbprint"].as_str().unwrap())
    );
    key
}

fn keys() -> Keys {
    Keys {
        rsa: Identity::PrivateKey(Box::new(rsa_key())),
        legacy: Identity::LegacyKey(legacy_key()),
        rsa_key: rsa_key(),
        recovery: Identity::PrivateKey(Box::new(recovery_key(true))),
        recovery_bare: Identity::PrivateKey(Box::new(recovery_key(false))),
    }
}

fn library(v: &Vector, keys: &Keys) -> Outcome {
    match v.format.as_str() {
        "encrypted" => library_encrypted(v, keys),
        "manifest" => library_manifest(v),
        "snapshot" => library_snapshot(v, keys),
        f => panic!("{}: unknown format {f}", v.path),
    }
}

// ---------------------------------------------------------------------------------------------
// Python

/// `python3`, leaving no `__pycache__` behind in the source tree.
fn python3() -> Command {
    let mut c = Command::new("python3");
    c.env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// Fails (never skips) when python3 or its `cryptography` package is missing.
fn require_python() {
    let ok = python3()
        .args(["-c", "import cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with the `cryptography` package is required for the independent readers: run \
         the README's test command `bash scripts/test.sh`, which installs it \
         (python3 -m pip install cryptography)"
    );
}

/// What the Python readers made of every vector (tests/python/check_vectors.py).
fn python_outcomes() -> BTreeMap<String, Outcome> {
    require_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_vectors.py");
    let out = python3()
        .arg(script)
        .arg(vectors_dir())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "check_vectors.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let r: Value = serde_json::from_str(line).expect("check_vectors.py prints JSON lines");
            (
                r["vector"].as_str().unwrap().to_string(),
                Outcome {
                    kind: r["kind"].as_str().unwrap().to_string(),
                    message: r["message"].as_str().unwrap().to_string(),
                    digest: r["digest"].as_str().map(str::to_string),
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Checks each vector's outcome against its expectation; returns one line per mismatch.
fn mismatches(reader: &str, outcomes: &[(Vector, Outcome)]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|(v, o)| o.kind != v.expected)
        .map(|(v, o)| {
            format!(
                "{reader}: {} ({}): expected {}, got {}: {}",
                v.path, v.description, v.expected, o.kind, o.message
            )
        })
        .collect()
}

#[test]
fn the_index_is_well_formed_and_covers_every_file() {
    let vs = failure_vectors();
    let mut per_format: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    for v in &vs {
        assert!(listed.insert(v.path.clone()), "{} listed twice", v.path);
        let vocabulary = match v.format.as_str() {
            "encrypted" => ENCRYPTED_KINDS,
            "manifest" => MANIFEST_KINDS,
            "snapshot" => SNAPSHOT_KINDS,
            f => panic!("{}: unknown format {f}", v.path),
        };
        let base = v.expected.split(':').next().unwrap();
        assert!(
            v.expected == "ok" || vocabulary.contains(&base),
            "{}: kind {} is not in the {} vocabulary",
            v.path,
            v.expected,
            v.format
        );
        if base == "auth" {
            let chunk = v.expected.strip_prefix("auth:").expect("auth:N");
            chunk.parse::<u32>().expect("auth:N names a chunk");
        }
        assert!(!v.description.is_empty(), "{}: no description", v.path);
        assert!(
            v.path.starts_with(&format!("fail/{}/", v.format)),
            "{} is not in the folder of its format",
            v.path
        );
        let e = per_format.entry(v.format.clone()).or_default();
        if v.expected == "ok" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        if v.format == "snapshot" {
            assert!(v.path.ends_with(".zip"), "{}", v.path);
            listed.insert(v.path.replace(".zip", ".xml"));
        }
    }
    let failures: usize = per_format.values().map(|(_, f)| f).sum();
    assert!(failures >= 20, "only {failures} failure vectors");
    for format in ["encrypted", "manifest", "snapshot"] {
        let (ok, failed) = per_format.get(format).copied().unwrap_or_default();
        assert!(
            ok >= 1 && failed >= 10,
            "{format}: {ok} ok and {failed} failure vectors"
        );
    }
    // Every file of fail/<format>/ is a listed vector (or a listed snapshot's sidecar).
    for format in ["encrypted", "manifest", "snapshot"] {
        for e in std::fs::read_dir(fail_dir().join(format)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let path = format!("fail/{format}/{name}");
            assert!(listed.contains(&path), "{path} is not in expected.tsv");
            assert!(vectors_dir().join(&path).is_file(), "{path}");
        }
    }
    for path in &listed {
        assert!(vectors_dir().join(path).is_file(), "{path} is missing");
    }
}

#[test]
fn the_library_gives_every_vector_its_expected_outcome() {
    let keys = keys();
    let vs: Vec<Vector> = known_answer_vectors()
        .into_iter()
        .chain(failure_vectors())
        .collect();
    let outcomes: Vec<(Vector, Outcome)> = vs
        .into_iter()
        .map(|v| {
            let o = library(&v, &keys);
            (v, o)
        })
        .collect();
    let bad = mismatches("library", &outcomes);
    assert!(
        bad.is_empty(),
        "{} of {} vectors do not get their expected outcome from the library:\n{}",
        bad.len(),
        outcomes.len(),
        bad.join("\n")
    );
    // The accepted known-answer vectors decrypt to their documented plaintext.
    for (v, o) in outcomes
        .iter()
        .filter(|(v, _)| !v.path.starts_with("fail/"))
    {
        let want = kat_entries()
            .into_iter()
            .find(|k| k["file"] == v.path.as_str())
            .unwrap()["plaintext_sha256"]
            .clone();
        let digest = o.digest.as_deref().unwrap_or_default();
        assert_eq!(
            digest.split(' ').next(),
            want.as_str(),
            "{}: {digest}",
            v.path
        );
    }
}

#[test]
fn the_python_readers_agree_with_the_expected_outcomes_and_with_the_library() {
    let python = python_outcomes();
    let keys = keys();
    let vs: Vec<Vector> = known_answer_vectors()
        .into_iter()
        .chain(failure_vectors())
        .collect();
    assert_eq!(
        python.keys().cloned().collect::<BTreeSet<_>>(),
        vs.iter().map(|v| v.path.clone()).collect::<BTreeSet<_>>(),
        "check_vectors.py read another set of vectors"
    );
    let outcomes: Vec<(Vector, Outcome)> = vs
        .iter()
        .map(|v| (v.clone(), python[&v.path].clone()))
        .collect();
    let bad = mismatches("python", &outcomes);
    assert!(
        bad.is_empty(),
        "{} of {} vectors do not get their expected outcome from the Python readers:\n{}",
        bad.len(),
        outcomes.len(),
        bad.join("\n")
    );
    // What both accept, they read the same way: same plaintext, manifest or extracted files.
    for v in vs.iter().filter(|v| v.expected == "ok") {
        let lib = library(v, &keys);
        assert_eq!(lib.kind, "ok", "{}: {}", v.path, lib.message);
        assert!(python[&v.path].digest.is_some(), "{}", v.path);
        assert_eq!(
            python[&v.path].digest, lib.digest,
            "{}: the Python reader and the library read different content",
            v.path
        );
    }
}

/// The committed files are exactly what the generator makes (it is deterministic).
#[test]
fn the_generator_reproduces_the_committed_vectors() {
    require_python();
    let out = python3()
        .arg(fail_dir().join("generate.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "tests/vectors/fail/generate.py --check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The readers' command lines give the same answers as check_vectors.py (one vector each way).
#[test]
fn the_python_command_lines_report_the_failure_kind() {
    require_python();
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let ix = kat_index();
    let key = vectors_dir().join(ix["rsa_private_key"].as_str().unwrap());
    let cert = vectors_dir().join(ix["rsa_certificate"].as_str().unwrap());
    let run = |args: Vec<&std::ffi::OsStr>| {
        let out = python3().args(&args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let manifest = |name: &str, folder: &str| {
        let p = fail_dir().join("manifest").join(name);
        run(vec![
            py.join("check_manifest.py").as_os_str(),
            p.as_os_str(),
            "--folder".as_ref(),
            folder.as_ref(),
            "--error-kind".as_ref(),
        ])
    };
    let folder = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    assert_eq!(
        manifest("ok-certificate.json", folder),
        (Some(0), String::new())
    );
    assert_eq!(
        manifest("duplicate-role-case.json", folder),
        (Some(1), "duplicate_role".to_string())
    );
    let snapshot = |name: &str| {
        let p = fail_dir().join("snapshot").join(name);
        run(vec![
            py.join("unprotect_snapshot.py").as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--cert".as_ref(),
            cert.as_os_str(),
            p.as_os_str(),
            "--verify-only".as_ref(),
            "--error-kind".as_ref(),
        ])
    };
    assert_eq!(snapshot("ok.zip").0, Some(0));
    assert_eq!(
        snapshot("tag-flipped.zip"),
        (Some(1), "checksum".to_string())
    );
}

/// `cargo test --test formats failure_vectors -- --ignored --nocapture`: what each reader says about
/// each vector (for writing or reviewing vectors).
#[test]
#[ignore]
fn print_every_outcome() {
    let keys = keys();
    let python = python_outcomes();
    for v in failure_vectors() {
        let o = library(&v, &keys);
        println!("{} (expected {})", v.path, v.expected);
        println!("    library: {}: {}", o.kind, o.message);
        let p = &python[&v.path];
        println!("    python:  {}: {}", p.kind, p.message);
    }
}

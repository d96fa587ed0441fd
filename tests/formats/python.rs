//! `docs/FORMAT.md` is enough to decrypt a backup without this tool: an independent
//! implementation (`tests/python/decrypt_backup.py`, Python 3 + the `cryptography` package)
//! decrypts real backups made by the binary and the committed vectors, and rejects tampering.
//! Decompression uses the `zstd` CLI when present (else the `zstd` crate); untarring uses
//! Python's `tarfile`.
//!
//! Needs `python3` with `cryptography`: the README's test command (`bash scripts/test.sh`)
//! installs it (`python3 -m pip install cryptography`). Missing, these tests FAIL.

use crate::common;

use common::World;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHUNK: usize = 65536;
const TAG: usize = 16;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("tests/python/decrypt_backup.py")
}

fn vectors_dir() -> PathBuf {
    root().join("tests/vectors")
}

/// Fails (never skips) when python3 or its `cryptography` package is missing.
fn require_python() {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with the `cryptography` package is required for the independent decryption \
         tests: run the README's test command `bash scripts/test.sh`, which installs it \
         (python3 -m pip install cryptography)"
    );
}

fn python(args: &[&std::ffi::OsStr]) -> Output {
    Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Runs the decryption script with `key_args`, on `archive`, writing to `out`.
fn decrypt(key_args: &[&str], archive: &Path, out: &Path) -> Output {
    let script = script();
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(key_args.iter().map(std::ffi::OsStr::new));
    args.push(archive.as_os_str());
    args.push("-o".as_ref());
    args.push(out.as_os_str());
    python(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn python_sha256(path: &Path) -> String {
    let out = python(&[
        "-c".as_ref(),
        "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"
            .as_ref(),
        path.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// zstd-decompresses `src` into `dst`: with the `zstd` CLI when installed, else the crate.
fn unzstd(src: &Path, dst: &Path) {
    let cli = Command::new("zstd")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if cli {
        let out = Command::new("zstd")
            .args(["-q", "-d", "-f", "-o"])
            .arg(dst)
            .arg(src)
            .output()
            .unwrap();
        assert!(out.status.success(), "zstd -d: {}", text(&out.stderr));
    } else {
        let data = zstd::decode_all(std::fs::File::open(src).unwrap()).expect("zstd frame");
        std::fs::write(dst, data).unwrap();
    }
}

/// How many zstd frames `data` holds (one after the other, to its end).
fn zstd_frames(mut data: &[u8]) -> usize {
    let mut n = 0;
    while !data.is_empty() {
        let len = zstd::zstd_safe::find_frame_compressed_size(data).expect("a zstd frame");
        data = &data[len..];
        n += 1;
    }
    n
}

/// Extracts a tar file with Python's `tarfile` (independent of the `tar` crate).
fn untar(tar: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let out = python(&[
        "-c".as_ref(),
        "import sys, tarfile\n\
         t = tarfile.open(sys.argv[1], 'r:')\n\
         if hasattr(tarfile, 'tar_filter'):\n\
         \x20   t.extractall(sys.argv[2], filter='tar')\n\
         else:\n\
         \x20   t.extractall(sys.argv[2])\n"
            .as_ref(),
        tar.as_os_str(),
        dest.as_os_str(),
    ]);
    assert!(out.status.success(), "tarfile: {}", text(&out.stderr));
}

/// Every entry under `dir` (relative path, kind), sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, &'static str)>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let ft = std::fs::symlink_metadata(root.join(&r))
                .unwrap()
                .file_type();
            if ft.is_symlink() {
                out.push((r, "symlink"));
            } else if ft.is_dir() {
                out.push((r.clone(), "dir"));
                walk(root, &r, out);
            } else {
                out.push((r, "file"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}

/// Same entries, same file contents byte for byte, same symlink targets.
fn assert_same_tree(src: &Path, got: &Path) {
    let a = tree(src);
    assert_eq!(
        a,
        tree(got),
        "extracted tree differs from {}",
        src.display()
    );
    for (rel, kind) in a {
        match kind {
            "file" => assert!(
                std::fs::read(src.join(&rel)).unwrap() == std::fs::read(got.join(&rel)).unwrap(),
                "{} differs",
                rel.display()
            ),
            "symlink" => assert_eq!(
                std::fs::read_link(src.join(&rel)).unwrap(),
                std::fs::read_link(got.join(&rel)).unwrap(),
                "{}",
                rel.display()
            ),
            _ => {}
        }
    }
}

/// Length of the header at the start of an encrypted file (FORMAT.md §2.1 and §2.3).
fn header_len(data: &[u8]) -> usize {
    let (entries, kind_bytes) = if data[8] == 2 {
        (data[9] as usize, 1)
    } else {
        (1, 0)
    };
    let mut at = 12;
    for _ in 0..entries {
        at += kind_bytes;
        let id_len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
        at += 2 + id_len;
        let wrap_len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
        at += 2 + wrap_len;
    }
    at + 7
}

/// Tampered copies of an encrypted file with at least two chunks: (what, bytes, expected
/// words in the error).
fn tampered(data: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let hl = header_len(data);
    let rec = CHUNK + TAG;
    let chunks = (data.len() - hl).div_ceil(rec);
    assert!(chunks >= 2, "tamper tests need at least two chunks");
    let mut out = Vec::new();

    let mut t = data.to_vec();
    t[hl + rec + 10] ^= 0x01;
    out.push(("flipped byte in chunk 1", t, "chunk 1"));

    let mut t = data.to_vec();
    t[hl + 3] ^= 0x80;
    out.push(("flipped byte in chunk 0", t, "chunk 0"));

    let mut t = data.to_vec();
    *t.last_mut().unwrap() ^= 0x01;
    out.push(("flipped last tag byte", t, "authentication failed"));

    let mut t = data.to_vec();
    t[hl - 1] ^= 0x01;
    out.push(("flipped nonce prefix byte in the header", t, "chunk 0"));

    let boundary = hl + (chunks - 1) * rec;
    out.push((
        "truncated at the last chunk boundary",
        data[..boundary].to_vec(),
        "authentication failed",
    ));
    // Cutting 5 bytes leaves a last chunk that is too short for a tag, or one that fails.
    let last_len = data.len() - boundary;
    out.push((
        "truncated inside the last chunk",
        data[..data.len() - 5].to_vec(),
        if last_len - 5 < TAG {
            "truncated"
        } else {
            "authentication failed"
        },
    ));
    out.push((
        "truncated inside chunk 0",
        data[..hl + 1000].to_vec(),
        "chunk 0",
    ));
    out.push(("header only", data[..hl].to_vec(), "truncated"));
    out.push((
        "truncated inside the header",
        data[..hl - 3].to_vec(),
        "truncated",
    ));

    let mut t = data.to_vec();
    let end = data.len().min(hl + 2 * rec);
    let (a, b) = (data[hl..hl + rec].to_vec(), data[hl + rec..end].to_vec());
    if b.len() == rec {
        t[hl..hl + rec].copy_from_slice(&b);
        t[hl + rec..hl + 2 * rec].copy_from_slice(&a);
    } else {
        // Two chunks, the second short: put the last chunk first.
        t.truncate(hl);
        t.extend_from_slice(&data[hl + rec..]);
        t.extend_from_slice(&a);
    }
    out.push(("swapped chunks 0 and 1", t, "chunk 0"));

    let mut t = data.to_vec();
    t.extend_from_slice(&data[hl..hl + rec]);
    out.push(("chunk 0 appended again", t, "authentication failed"));

    let mut t = data.to_vec();
    t[8] = 3;
    out.push(("version changed", t, "version"));
    out
}

/// Runs the script on every tampered copy: each must fail and leave no output behind.
fn assert_rejects_tampering(dir: &Path, name: &str, data: &[u8], key_args: &[&str]) {
    for (what, bytes, words) in tampered(data) {
        let path = dir.join(format!("{name}.tampered"));
        let out_path = dir.join(format!("{name}.tampered.out"));
        std::fs::write(&path, &bytes).unwrap();
        let out = decrypt(key_args, &path, &out_path);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {what}: the script must fail (stderr: {})",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains(words), "{name}: {what}: {err}");
        assert!(!out_path.exists(), "{name}: {what}: output left behind");
        let partial = dir.join(format!("{name}.tampered.out.partial"));
        assert!(!partial.exists(), "{name}: {what}: partial output left");
    }
}

#[test]
fn python_decrypts_a_real_backup_byte_for_byte() {
    require_python();
    let w = World::new();
    let (cer, pem) = w.new_cert("format", None);

    // Source "alpha": a 2.5 MiB random file (many chunks; several zstd frames, one per MiB of
    // tar stream), an empty file, nested and empty directories, a name longer than 100 bytes,
    // a symlink.
    let mut random = vec![0u8; 5 * 512 * 1024];
    getrandom::fill(&mut random).unwrap();
    w.write("alpha/data/random.bin", &random);
    w.write("alpha/empty.dat", b"");
    w.write("alpha/hello.txt", b"hello, world\n");
    w.write("alpha/data/nested/deeper/small.txt", &[b'x'; 1000]);
    let long = format!("alpha/data/{}.txt", "long-name-".repeat(12));
    w.write(&long, b"a name longer than 100 bytes\n");
    std::fs::create_dir_all(w.path("alpha/data/empty-dir")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("hello.txt", w.path("alpha/link-to-hello")).unwrap();
    // A file with a hole (stored with its hole as zeros).
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let sparse = std::fs::File::create(w.path("alpha/data/sparse.bin")).unwrap();
        sparse.set_len(1024 * 1024).unwrap();
        sparse
            .write_all_at(b"end of a sparse file", 1024 * 1024)
            .unwrap();
    }
    // Source "beta": only an empty file (a one-chunk archive).
    w.write("beta/only-empty", b"");

    let alpha = format!("alpha={}", w.path("alpha").display());
    let beta = format!("beta={}", w.path("beta").display());
    w.configure(&cer, &[&alpha, &beta]);
    let id = w.backup();

    let dir = w.path(&format!("backups/MASBackup/{id}"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backupId"], id.as_str());
    let thumbprint = manifest["encryptionCertThumbprint"].as_str().unwrap();
    let roles = manifest["roleStatus"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    let pem_arg = pem.to_str().unwrap();
    let work = w.path("work");
    std::fs::create_dir_all(&work).unwrap();

    for role in roles {
        let name = role["roleName"].as_str().unwrap();
        let file = role["fileName"].as_str().unwrap();
        assert_eq!(file, format!("{name}.tar.zst.enc"));
        let archive = dir.join(file);
        let data = std::fs::read(&archive).unwrap();
        // The manifest's checksum and size are those of the file, by an independent hash.
        assert_eq!(python_sha256(&archive), role["sha256"].as_str().unwrap());
        assert_eq!(
            data.len() as u64,
            role["encryptedSizeInBytes"].as_u64().unwrap()
        );

        // The header names the certificate of the manifest.
        let out = python(&[
            script().as_os_str(),
            "--header".as_ref(),
            archive.as_os_str(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let header: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(header["version"], 1);
        assert_eq!(header["recipients"].as_array().unwrap().len(), 1);
        assert_eq!(header["recipients"][0]["kind"], 1);
        assert_eq!(header["recipients"][0]["recipientId"], thumbprint);
        assert_eq!(
            header["headerLen"].as_u64().unwrap() as usize,
            header_len(&data)
        );

        // Decrypt, decompress, untar, compare.
        let zst = work.join(format!("{name}.tar.zst"));
        let out = decrypt(&["--key", pem_arg], &archive, &zst);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        if name == "alpha" {
            let frames = zstd_frames(&std::fs::read(&zst).unwrap());
            assert!(
                frames >= 4,
                "{frames} zstd frames: one per MiB of tar stream expected"
            );
        }
        let tar = work.join(format!("{name}.tar"));
        unzstd(&zst, &tar);
        let dest = work.join(format!("{name}-restored"));
        untar(&tar, &dest);
        assert_same_tree(&w.path(name), &dest);

        // Streaming to stdout gives the same bytes.
        let out = python(&[
            script().as_os_str(),
            "--key".as_ref(),
            pem.as_os_str(),
            archive.as_os_str(),
            "-o".as_ref(),
            "-".as_ref(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            out.stdout == std::fs::read(&zst).unwrap(),
            "{name}: stdout differs"
        );
    }

    // Tampering with the multi-chunk archive is rejected.
    let alpha_data = std::fs::read(dir.join("alpha.tar.zst.enc")).unwrap();
    assert!(
        alpha_data.len() > 3 * (CHUNK + TAG),
        "alpha has at least 4 chunks"
    );
    assert_rejects_tampering(&work, "alpha", &alpha_data, &["--key", pem_arg]);

    // The published test key is not this backup's key: refused, naming the certificate, or
    // (without a certificate beside the key) failing to unwrap.
    let wrong = vectors_dir().join("test-only-rsa2048-key.pem");
    let out = decrypt(
        &["--key", wrong.to_str().unwrap()],
        &dir.join("beta.tar.zst.enc"),
        &work.join("x"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot unwrap"),
        "{}",
        text(&out.stderr)
    );
    let (_, other_pem) = w.new_cert("other", None);
    let out = decrypt(
        &["--key", other_pem.to_str().unwrap()],
        &dir.join("beta.tar.zst.enc"),
        &work.join("x"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(thumbprint),
        "{}",
        text(&out.stderr)
    );
    assert!(!work.join("x").exists());
}

fn vector_index() -> Value {
    serde_json::from_slice(&std::fs::read(vectors_dir().join("vectors.json")).unwrap()).unwrap()
}

fn vector_key_args(ix: &Value, kind: u64) -> Vec<String> {
    let field = |f: &str| {
        vectors_dir()
            .join(ix[f].as_str().unwrap())
            .to_str()
            .unwrap()
            .to_string()
    };
    match kind {
        1 => vec!["--key".into(), field("rsa_private_key")],
        2 => vec!["--legacy-key-file".into(), field("legacy_key_file")],
        k => panic!("kind {k}"),
    }
}

#[test]
fn python_decrypts_the_committed_vectors() {
    require_python();
    let ix = vector_index();
    let tmp = tempfile::tempdir().unwrap();
    for v in ix["vectors"].as_array().unwrap() {
        let name = v["file"].as_str().unwrap();
        let args = vector_key_args(&ix, v["kind"].as_u64().unwrap());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out_path = tmp.path().join(format!("{name}.plain"));
        let out = decrypt(&args, &vectors_dir().join(name), &out_path);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let plain = std::fs::read(&out_path).unwrap();
        assert_eq!(plain.len() as u64, v["plaintext_len"].as_u64().unwrap());
        assert_eq!(
            sha256_hex(&plain),
            v["plaintext_sha256"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn python_rejects_tampered_vectors_and_wrong_keys() {
    require_python();
    let ix = vector_index();
    let tmp = tempfile::tempdir().unwrap();
    for kind in [1u64, 2] {
        let name = format!("kind{kind}-len65537.enc");
        let data = std::fs::read(vectors_dir().join(&name)).unwrap();
        let args = vector_key_args(&ix, kind);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_rejects_tampering(tmp.path(), &name, &data, &args);
    }
    // A different legacy key: refused, naming the key id needed.
    let other = tmp.path().join("other-key.txt");
    std::fs::write(
        &other,
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ekFCQ0RFRkdISUpL\n",
    )
    .unwrap();
    let out = decrypt(
        &["--legacy-key-file", other.to_str().unwrap()],
        &vectors_dir().join("kind2-len1.enc"),
        &tmp.path().join("x"),
    );
    assert_eq!(out.status.code(), Some(1));
    let needed = ix["legacy_key_id"].as_str().unwrap();
    assert!(text(&out.stderr).contains(needed), "{}", text(&out.stderr));
    // The wrong kind of key.
    let out = decrypt(
        &vector_key_args(&ix, 2)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &vectors_dir().join("kind1-len1.enc"),
        &tmp.path().join("x"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!tmp.path().join("x").exists());
}

/// The version-2 vectors (`vectors-v2.json`: the test certificate or the legacy key, then the
/// recovery certificate) decrypt with every key that should open them, through the command
/// line: each private key with and without its certificate, and the legacy key. Any other key
/// is refused, leaving no output. `--header` lists both recipients in order.
#[test]
fn python_decrypts_the_version_2_vectors_with_each_key() {
    require_python();
    let ix: Value =
        serde_json::from_slice(&std::fs::read(vectors_dir().join("vectors-v2.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let field = |f: &str| vectors_dir().join(ix[f].as_str().unwrap());
    let with_cert = |key: &str, cert: &str, name: &str| {
        let p = tmp.path().join(name);
        let mut pem = std::fs::read(field(key)).unwrap();
        pem.extend_from_slice(&std::fs::read(field(cert)).unwrap());
        std::fs::write(&p, pem).unwrap();
        p
    };
    let main_thumbprint = ix["certificate_thumbprint"].as_str().unwrap();
    let recovery_thumbprint = ix["recovery_certificate_thumbprint"].as_str().unwrap();
    let legacy_id = ix["legacy_key_id"].as_str().unwrap();
    let keys: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "test key",
            vec![
                "--key".into(),
                field("rsa_private_key").display().to_string(),
            ],
            main_thumbprint,
        ),
        (
            "test key + certificate",
            vec![
                "--key".into(),
                with_cert("rsa_private_key", "rsa_certificate", "main.pem")
                    .display()
                    .to_string(),
            ],
            main_thumbprint,
        ),
        (
            "recovery key",
            vec![
                "--key".into(),
                field("recovery_private_key").display().to_string(),
            ],
            recovery_thumbprint,
        ),
        (
            "recovery key + certificate",
            vec![
                "--key".into(),
                with_cert("recovery_private_key", "recovery_certificate", "rec.pem")
                    .display()
                    .to_string(),
            ],
            recovery_thumbprint,
        ),
        (
            "legacy key",
            vec![
                "--legacy-key-file".into(),
                field("legacy_key_file").display().to_string(),
            ],
            legacy_id,
        ),
    ];
    for v in ix["vectors"].as_array().unwrap() {
        let name = v["file"].as_str().unwrap();
        let archive = vectors_dir().join(name);
        let ids: Vec<&str> = v["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["recipient_id"].as_str().unwrap())
            .collect();

        let out = python(&[
            script().as_os_str(),
            "--header".as_ref(),
            archive.as_os_str(),
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let header: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(header["version"], 2, "{name}");
        let listed: Vec<&str> = header["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["recipientId"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ids, "{name}");
        assert_eq!(header["headerLen"], v["header_len"], "{name}");
        assert_eq!(header["headerSha256"], v["header_sha256"], "{name}");

        for (what, args, id) in &keys {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out_path = tmp.path().join(format!("{name}.plain"));
            let _ = std::fs::remove_file(&out_path);
            let out = decrypt(&args, &archive, &out_path);
            if ids.contains(id) {
                assert!(
                    out.status.success(),
                    "{name} with the {what}: {}",
                    text(&out.stderr)
                );
                let plain = std::fs::read(&out_path).unwrap();
                assert_eq!(
                    sha256_hex(&plain),
                    v["plaintext_sha256"].as_str().unwrap(),
                    "{name} with the {what}"
                );
                // Which entry opened is reported.
                assert!(
                    text(&out.stderr).contains(id),
                    "{name} with the {what}: {}",
                    text(&out.stderr)
                );
            } else {
                assert_eq!(out.status.code(), Some(1), "{name} with the {what}");
                let err = text(&out.stderr);
                for id in &ids {
                    assert!(err.contains(id), "{name} with the {what}: {err}");
                }
                assert!(!out_path.exists(), "{name} with the {what}: output left");
            }
        }
    }
    // Tampering with a version-2 file is rejected like with a version-1 file (a changed
    // version byte now reads the count as a kind or the first kind as a count).
    let name = "v2-cert+recovery-len65537.enc";
    let data = std::fs::read(vectors_dir().join(name)).unwrap();
    let args = ["--key", keys[3].1[1].as_str()];
    assert_rejects_tampering(tmp.path(), name, &data, &args);
}

/// A real backup made with a recovery certificate (`configure --recovery-cert-path`): its
/// archives have version-2 headers (the encryption certificate, then the recovery
/// certificate), the manifest lists the recovery thumbprint (and `check_manifest.py` accepts
/// it), and the independent reader restores it with the recovery key alone, byte for byte.
#[test]
fn python_restores_a_real_backup_with_its_recovery_key() {
    require_python();
    let w = World::new();
    let vectors = vectors_dir();
    let cert = vectors.join("test-only-rsa2048-cert.pem");
    let recovery_cert = vectors.join("test-only-recovery-rsa2048-cert.pem");
    let recovery_key = vectors.join("test-only-recovery-rsa2048-key.pem");
    let mut random = vec![0u8; 150 * 1024];
    getrandom::fill(&mut random).unwrap();
    w.write("gamma/random.bin", &random);
    w.write("gamma/sub/hello.txt", b"hello, recovery\n");
    let gamma = format!("gamma={}", w.path("gamma").display());
    w.configure(&cert, &[&gamma]);
    w.cmd()
        .arg("configure")
        .arg("--recovery-cert-path")
        .arg(&recovery_cert)
        .assert()
        .success();
    let id = w.backup();
    let dir = w.path(&format!("backups/MASBackup/{id}"));
    let manifest_path = dir.join("manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let main = manifest["encryptionCertThumbprint"].as_str().unwrap();
    assert_eq!(main, "B9916D6CF6AF4E4BE5BB21619C09DE3360D24385");
    let recovery = "D2DB1880764AD95F0911022B14F68FBAE6B1EB2D";
    assert_eq!(
        manifest["recoveryCertThumbprints"],
        serde_json::json!([recovery])
    );
    let out = python(&[
        root().join("tests/python/check_manifest.py").as_os_str(),
        manifest_path.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let archive = dir.join("gamma.tar.zst.enc");
    let out = python(&[
        script().as_os_str(),
        "--header".as_ref(),
        archive.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let header: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(header["version"], 2);
    let ids: Vec<&str> = header["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recipientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [main, recovery]);
    let data = std::fs::read(&archive).unwrap();
    assert_eq!(
        header["headerLen"].as_u64().unwrap() as usize,
        header_len(&data)
    );

    let work = w.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let zst = work.join("gamma.tar.zst");
    let out = decrypt(&["--key", recovery_key.to_str().unwrap()], &archive, &zst);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(recovery),
        "{}",
        text(&out.stderr)
    );
    let tar = work.join("gamma.tar");
    unzstd(&zst, &tar);
    let dest = work.join("gamma-restored");
    untar(&tar, &dest);
    assert_same_tree(&w.path("gamma"), &dest);
    assert_rejects_tampering(
        &work,
        "gamma",
        &data,
        &["--key", recovery_key.to_str().unwrap()],
    );
}

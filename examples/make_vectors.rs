//! Writes the encrypted-file test vectors of `docs/FORMAT.md` into `tests/vectors/`.
//!
//! ```text
//! cargo run --example make_vectors -- [--force] [DIR]        # version 1: vectors.json
//! cargo run --example make_vectors -- --v2 [--force] [DIR]   # version 2: vectors-v2.json
//! ```
//!
//! DIR defaults to tests/vectors. The vectors are committed: run this only to make a new set
//! (it refuses to overwrite the set's index, `vectors.json` or `vectors-v2.json`, without
//! `--force`; each set writes only its own files). Everything is fixed (file keys, nonce
//! prefixes, the kind-2 wrap salt, the plaintexts) except the RSA-OAEP padding of kind 1, which
//! is randomized, so a new run changes the files with a certificate entry and their hashes.
//!
//! Version 1 (`kind{1,2}-len{0,1,65536,65537}.enc`): one recipient, the test certificate or the
//! legacy key. Version 2 (docs/FORMAT.md §2.3): `v2-cert+recovery-len{0,1,65536,65537}.enc`
//! (the test certificate, then the recovery certificate) and `v2-key+recovery-len{1,65537}.enc`
//! (the legacy key, then the recovery certificate).
//!
//! Inputs, committed in DIR (TEST ONLY, published keys): `test-only-rsa2048-cert.pem`,
//! `test-only-recovery-rsa2048-cert.pem` (kind 1) and `test-only-legacy-key.txt` (kind 2).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use azs_backup::certificate::Certificate;
use azs_backup::crypto::{
    encrypted_len, Encryptor, Header, LegacyKey, Stanza, KIND_CERTIFICATE, KIND_LEGACY_KEY,
    NONCE_PREFIX, VERSION,
};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Plaintext lengths of the vectors: empty, one byte, exactly one chunk, one chunk and a byte.
const LENGTHS: [usize; 4] = [0, 1, 65536, 65537];
/// Plaintext lengths of the version-2 vectors for the legacy key and a recovery certificate.
const LENGTHS_KEY_RECOVERY: [usize; 2] = [1, 65537];

/// The plaintext of every vector: byte i is i mod 251.
fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// 32 fixed bytes derived from a label (the vectors' file keys, prefixes and salts).
fn fixed(label: &str) -> [u8; 32] {
    Sha256::digest(format!("azs-backup test vector {label}").as_bytes()).into()
}

/// The keys the vectors are made for.
struct Keys {
    cert: Certificate,
    recovery: Certificate,
    legacy: LegacyKey,
    legacy_bytes: Vec<u8>,
}

/// Who a vector's file key is wrapped for.
#[derive(Clone, Copy)]
enum Who {
    Cert,
    Recovery,
    Legacy,
}

/// Wraps `file_key` for `who`: the header entry, and for the legacy key the fixed salt and the
/// derived KEK (recorded in the index).
fn wrap(
    keys: &Keys,
    who: Who,
    name: &str,
    file_key: &[u8; 32],
) -> Result<(Stanza, serde_json::Map<String, serde_json::Value>), Box<dyn std::error::Error>> {
    let mut extra = serde_json::Map::new();
    let (kind, recipient_id, wrapped_key) = match who {
        Who::Cert => (
            KIND_CERTIFICATE,
            keys.cert.thumbprint.clone(),
            keys.cert.wrap_key(file_key)?,
        ),
        Who::Recovery => (
            KIND_CERTIFICATE,
            keys.recovery.thumbprint.clone(),
            keys.recovery.wrap_key(file_key)?,
        ),
        Who::Legacy => {
            // The kind-2 wrap of docs/FORMAT.md, with a fixed salt instead of a random one.
            let salt = &fixed(&format!("salt {name}"))[..16];
            let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), &keys.legacy_bytes);
            let mut kek = [0u8; 32];
            hk.expand(b"azs-backup v1 legacy key wrap", &mut kek)
                .map_err(|_| "HKDF failed")?;
            let wrapped_tail = Aes256Gcm::new_from_slice(&kek)?
                .encrypt(
                    &[0u8; 12].into(),
                    Payload {
                        msg: file_key,
                        aad: b"azs-backup v1 legacy wrap",
                    },
                )
                .map_err(|_| "AES-GCM failed")?;
            extra.insert("legacy_salt".into(), hex::encode(salt).into());
            extra.insert("legacy_kek".into(), hex::encode(kek).into());
            let mut wrapped = salt.to_vec();
            wrapped.extend_from_slice(&wrapped_tail);
            (KIND_LEGACY_KEY, keys.legacy.key_id(), wrapped)
        }
    };
    Ok((
        Stanza {
            kind,
            recipient_id,
            wrapped_key,
        },
        extra,
    ))
}

/// Writes the vector `name` (plaintext of `len` bytes) for `recipients`, in that order, and
/// returns its entry of the index.
fn write_vector(
    dir: &Path,
    keys: &Keys,
    name: &str,
    recipients: &[Who],
    len: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, Box<dyn std::error::Error>> {
    let file_key = fixed(&format!("file key {name}"));
    let mut nonce_prefix = [0u8; NONCE_PREFIX];
    nonce_prefix.copy_from_slice(&fixed(&format!("nonce prefix {name}"))[..NONCE_PREFIX]);
    let mut stanzas = Vec::new();
    let mut extras = Vec::new();
    for &who in recipients {
        let (stanza, extra) = wrap(keys, who, name, &file_key)?;
        stanzas.push(stanza);
        extras.push(extra);
    }
    let header = Header::new(stanzas, nonce_prefix);
    let raw = header.to_bytes();
    let data = plaintext(len);
    let mut out = raw.clone();
    let mut enc = Encryptor::with_parts(&mut out, &file_key, &header, &raw);
    enc.write_all(&data)?;
    enc.finish()?;
    assert_eq!(
        out.len() as u64,
        encrypted_len(len as u64, raw.len() as u64)
    );
    std::fs::write(dir.join(name), &out)?;
    println!("wrote {}", dir.join(name).display());
    let mut v = serde_json::Map::new();
    v.insert("file".into(), name.into());
    if header.version == VERSION {
        // The version-1 index's shape: the one recipient's fields at the top level.
        let s = &header.recipients[0];
        v.insert("kind".into(), s.kind.into());
        v.insert("recipient_id".into(), s.recipient_id.clone().into());
        v.extend(extras.pop().unwrap_or_default());
    } else {
        v.insert("version".into(), header.version.into());
        let list: Vec<serde_json::Value> = header
            .recipients
            .iter()
            .zip(extras)
            .map(|(s, extra)| {
                let mut r = serde_json::Map::new();
                r.insert("kind".into(), s.kind.into());
                r.insert("recipient_id".into(), s.recipient_id.clone().into());
                r.insert("wrapped_key_len".into(), s.wrapped_key.len().into());
                r.extend(extra);
                serde_json::Value::Object(r)
            })
            .collect();
        v.insert("recipients".into(), list.into());
    }
    v.insert("plaintext_len".into(), len.into());
    v.insert(
        "plaintext_sha256".into(),
        hex::encode(Sha256::digest(&data)).into(),
    );
    v.insert("file_key".into(), hex::encode(file_key).into());
    v.insert("nonce_prefix".into(), hex::encode(nonce_prefix).into());
    v.insert("header_len".into(), raw.len().into());
    v.insert(
        "header_sha256".into(),
        hex::encode(Sha256::digest(&raw)).into(),
    );
    v.insert("ciphertext_len".into(), out.len().into());
    v.insert(
        "ciphertext_sha256".into(),
        hex::encode(Sha256::digest(&out)).into(),
    );
    Ok(v)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut force = false;
    let mut v2 = false;
    let mut dir = PathBuf::from("tests/vectors");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--force" => force = true,
            "--v2" => v2 = true,
            a if a.starts_with('-') => return Err(format!("unknown option {a}").into()),
            a => dir = PathBuf::from(a),
        }
    }
    let index_path = dir.join(if v2 {
        "vectors-v2.json"
    } else {
        "vectors.json"
    });
    if index_path.exists() && !force {
        return Err(format!(
            "{} exists; the vectors are committed (give --force to make a new set)",
            index_path.display()
        )
        .into());
    }
    let legacy_text = std::fs::read_to_string(dir.join("test-only-legacy-key.txt"))?;
    let keys = Keys {
        cert: Certificate::load(&dir.join("test-only-rsa2048-cert.pem"))?,
        recovery: Certificate::load(&dir.join("test-only-recovery-rsa2048-cert.pem"))?,
        legacy: LegacyKey::parse(&legacy_text)?,
        legacy_bytes: base64::engine::general_purpose::STANDARD.decode(legacy_text.trim())?,
    };

    let mut vectors: Vec<serde_json::Value> = Vec::new();
    if v2 {
        for len in LENGTHS {
            let name = format!("v2-cert+recovery-len{len}.enc");
            let who = [Who::Cert, Who::Recovery];
            vectors.push(write_vector(&dir, &keys, &name, &who, len)?.into());
        }
        for len in LENGTHS_KEY_RECOVERY {
            let name = format!("v2-key+recovery-len{len}.enc");
            let who = [Who::Legacy, Who::Recovery];
            vectors.push(write_vector(&dir, &keys, &name, &who, len)?.into());
        }
    } else {
        for (kind, who) in [
            (KIND_CERTIFICATE, Who::Cert),
            (KIND_LEGACY_KEY, Who::Legacy),
        ] {
            for len in LENGTHS {
                let name = format!("kind{kind}-len{len}.enc");
                vectors.push(write_vector(&dir, &keys, &name, &[who], len)?.into());
            }
        }
    }
    let mut index = serde_json::json!({
        "comment": "TEST ONLY. Test vectors of docs/FORMAT.md, made by examples/make_vectors.rs. \
                    Keys here are published: never use them for real backups.",
        "plaintext": "byte i of a vector's plaintext is i mod 251 (i from 0), plaintext_len bytes",
        "rsa_private_key": "test-only-rsa2048-key.pem",
        "rsa_certificate": "test-only-rsa2048-cert.pem",
        "certificate_thumbprint": keys.cert.thumbprint,
        "legacy_key_file": "test-only-legacy-key.txt",
        "legacy_key_id": keys.legacy.key_id(),
        "vectors": vectors,
    });
    if v2 {
        index["comment"] = "TEST ONLY. Version-2 test vectors of docs/FORMAT.md (§2.3: several \
                            recipients), made by examples/make_vectors.rs --v2. Keys here are \
                            published: never use them for real backups."
            .into();
        index["recovery_private_key"] = "test-only-recovery-rsa2048-key.pem".into();
        index["recovery_certificate"] = "test-only-recovery-rsa2048-cert.pem".into();
        index["recovery_certificate_thumbprint"] = keys.recovery.thumbprint.clone().into();
    }
    let mut text = serde_json::to_string_pretty(&index)?;
    text.push('\n');
    std::fs::write(&index_path, text)?;
    println!("wrote {}", index_path.display());
    Ok(())
}

//! Writes the encrypted-file test vectors of `docs/FORMAT.md` into `tests/vectors/`.
//!
//! ```text
//! cargo run --example make_vectors -- [--force] [DIR]     # DIR defaults to tests/vectors
//! ```
//!
//! The vectors are committed: run this only to make a new set (it refuses to overwrite
//! `vectors.json` without `--force`). Everything is fixed (file keys, nonce prefixes, the kind-2
//! wrap salt, the plaintexts) except the RSA-OAEP padding of kind 1, which is randomized, so a
//! new run changes the kind-1 files and their hashes.
//!
//! Inputs, committed in DIR: `test-only-rsa2048-cert.pem` (kind 1) and
//! `test-only-legacy-key.txt` (kind 2).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use azs_backup::certificate::Certificate;
use azs_backup::crypto::{
    encrypted_len, Encryptor, Header, LegacyKey, Stanza, KIND_CERTIFICATE, KIND_LEGACY_KEY,
    NONCE_PREFIX,
};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// Plaintext lengths of the vectors: empty, one byte, exactly one chunk, one chunk and a byte.
const LENGTHS: [usize; 4] = [0, 1, 65536, 65537];

/// The plaintext of every vector: byte i is i mod 251.
fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// 32 fixed bytes derived from a label (the vectors' file keys, prefixes and salts).
fn fixed(label: &str) -> [u8; 32] {
    Sha256::digest(format!("azs-backup test vector {label}").as_bytes()).into()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut force = false;
    let mut dir = PathBuf::from("tests/vectors");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--force" => force = true,
            a if a.starts_with('-') => return Err(format!("unknown option {a}").into()),
            a => dir = PathBuf::from(a),
        }
    }
    let index_path = dir.join("vectors.json");
    if index_path.exists() && !force {
        return Err(format!(
            "{} exists; the vectors are committed (give --force to make a new set)",
            index_path.display()
        )
        .into());
    }
    let cert = Certificate::load(&dir.join("test-only-rsa2048-cert.pem"))?;
    let legacy_text = std::fs::read_to_string(dir.join("test-only-legacy-key.txt"))?;
    let legacy = LegacyKey::parse(&legacy_text)?;
    let legacy_bytes = base64::engine::general_purpose::STANDARD.decode(legacy_text.trim())?;

    let mut vectors = Vec::new();
    for kind in [KIND_CERTIFICATE, KIND_LEGACY_KEY] {
        for len in LENGTHS {
            let name = format!("kind{kind}-len{len}.enc");
            let file_key = fixed(&format!("file key {name}"));
            let mut nonce_prefix = [0u8; NONCE_PREFIX];
            nonce_prefix.copy_from_slice(&fixed(&format!("nonce prefix {name}"))[..NONCE_PREFIX]);
            let mut extra = serde_json::Map::new();
            let (recipient_id, wrapped_key) = if kind == KIND_CERTIFICATE {
                (cert.thumbprint.clone(), cert.wrap_key(&file_key)?)
            } else {
                // The kind-2 wrap of docs/FORMAT.md, with a fixed salt instead of a random one.
                let salt = &fixed(&format!("salt {name}"))[..16];
                let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), &legacy_bytes);
                let mut kek = [0u8; 32];
                hk.expand(b"azs-backup v1 legacy key wrap", &mut kek)
                    .map_err(|_| "HKDF failed")?;
                let wrapped_tail = Aes256Gcm::new_from_slice(&kek)?
                    .encrypt(
                        &[0u8; 12].into(),
                        Payload {
                            msg: &file_key,
                            aad: b"azs-backup v1 legacy wrap",
                        },
                    )
                    .map_err(|_| "AES-GCM failed")?;
                extra.insert("legacy_salt".into(), hex::encode(salt).into());
                extra.insert("legacy_kek".into(), hex::encode(kek).into());
                let mut wrapped = salt.to_vec();
                wrapped.extend_from_slice(&wrapped_tail);
                (legacy.key_id(), wrapped)
            };
            let header = Header::new(
                vec![Stanza {
                    kind,
                    recipient_id: recipient_id.clone(),
                    wrapped_key,
                }],
                nonce_prefix,
            );
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
            std::fs::write(dir.join(&name), &out)?;
            let mut v = serde_json::Map::new();
            v.insert("file".into(), name.clone().into());
            v.insert("kind".into(), kind.into());
            v.insert("recipient_id".into(), recipient_id.into());
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
            v.extend(extra);
            vectors.push(serde_json::Value::Object(v));
            println!("wrote {}", dir.join(&name).display());
        }
    }
    let index = serde_json::json!({
        "comment": "TEST ONLY. Test vectors of docs/FORMAT.md, made by examples/make_vectors.rs. \
                    Keys here are published: never use them for real backups.",
        "plaintext": "byte i of a vector's plaintext is i mod 251 (i from 0), plaintext_len bytes",
        "rsa_private_key": "test-only-rsa2048-key.pem",
        "rsa_certificate": "test-only-rsa2048-cert.pem",
        "certificate_thumbprint": cert.thumbprint,
        "legacy_key_file": "test-only-legacy-key.txt",
        "legacy_key_id": legacy.key_id(),
        "vectors": vectors,
    });
    let mut text = serde_json::to_string_pretty(&index)?;
    text.push('\n');
    std::fs::write(&index_path, text)?;
    println!("wrote {}", index_path.display());
    Ok(())
}

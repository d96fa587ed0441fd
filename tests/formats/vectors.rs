//! The committed test vectors of `docs/FORMAT.md` (`tests/vectors/`, made by
//! `examples/make_vectors.rs`): the library decrypts every one, re-encrypting reproduces the
//! committed bytes, and the key wrap and key id follow the documented derivations.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use azs_backup::certificate::{load_private_key, private_key_from_bytes, Certificate};
use azs_backup::crypto::{
    encrypted_len, CryptoError, Decryptor, Encryptor, Header, Identity, LegacyKey, CHUNK,
    KIND_CERTIFICATE, KIND_LEGACY_KEY, TAG, VERSION,
};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn index() -> Value {
    let text = std::fs::read_to_string(dir().join("vectors.json")).expect("vectors.json");
    serde_json::from_str(&text).expect("vectors.json parses")
}

fn vectors() -> Vec<Value> {
    index()["vectors"].as_array().expect("vectors").clone()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The documented plaintext: byte i is i mod 251.
fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn legacy_text() -> String {
    std::fs::read_to_string(dir().join(s(&index(), "legacy_key_file"))).unwrap()
}

fn identity(kind: u8) -> Identity {
    match kind {
        KIND_CERTIFICATE => Identity::PrivateKey(Box::new(
            load_private_key(&dir().join(s(&index(), "rsa_private_key")), None)
                .expect("test key loads"),
        )),
        KIND_LEGACY_KEY => Identity::LegacyKey(LegacyKey::parse(&legacy_text()).unwrap()),
        k => panic!("unknown kind {k}"),
    }
}

fn read_vector(v: &Value) -> Vec<u8> {
    std::fs::read(dir().join(s(v, "file"))).expect("vector file")
}

fn file_key(v: &Value) -> [u8; 32] {
    hex::decode(s(v, "file_key")).unwrap().try_into().unwrap()
}

fn decrypt(identity: &Identity, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut d = Decryptor::new(data, identity)?;
    let mut out = Vec::new();
    d.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn the_vector_set_is_complete_and_small() {
    let vs = vectors();
    let mut seen: Vec<(u64, u64)> = vs
        .iter()
        .map(|v| (n(v, "kind"), n(v, "plaintext_len")))
        .collect();
    seen.sort();
    let mut want = Vec::new();
    for kind in [1, 2] {
        for len in [0, 1, 65536, 65537] {
            want.push((kind, len));
        }
    }
    assert_eq!(seen, want);
    let total: u64 = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 512 * 1024, "vectors take {total} bytes");
}

#[test]
fn every_vector_decrypts_to_its_plaintext() {
    let ix = index();
    for v in vectors() {
        let name = s(&v, "file");
        let kind = n(&v, "kind") as u8;
        let data = read_vector(&v);
        assert_eq!(sha256_hex(&data), s(&v, "ciphertext_sha256"), "{name}");
        assert_eq!(data.len() as u64, n(&v, "ciphertext_len"), "{name}");

        let (header, raw) = Header::read_from(&mut &data[..]).unwrap();
        assert_eq!(header.version, VERSION, "{name}");
        assert_eq!(header.recipients.len(), 1, "{name}");
        assert_eq!(header.recipients[0].kind, kind, "{name}");
        assert_eq!(
            header.recipients[0].recipient_id,
            s(&v, "recipient_id"),
            "{name}"
        );
        assert_eq!(hex::encode(header.nonce_prefix), s(&v, "nonce_prefix"));
        assert_eq!(raw.len() as u64, n(&v, "header_len"), "{name}");
        assert_eq!(sha256_hex(&raw), s(&v, "header_sha256"), "{name}");
        assert_eq!(raw, header.to_bytes(), "{name}: header round trip");
        let expected_id = if kind == KIND_CERTIFICATE {
            s(&ix, "certificate_thumbprint")
        } else {
            s(&ix, "legacy_key_id")
        };
        assert_eq!(header.recipients[0].recipient_id, expected_id, "{name}");

        let len = n(&v, "plaintext_len");
        assert_eq!(
            data.len() as u64,
            encrypted_len(len, raw.len() as u64),
            "{name}"
        );
        let plain = decrypt(&identity(kind), &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sha256_hex(&plain), s(&v, "plaintext_sha256"), "{name}");
        assert_eq!(plain, plaintext(len as usize), "{name}");
    }
}

#[test]
fn reencrypting_with_the_same_parts_reproduces_the_committed_bytes() {
    for v in vectors() {
        let name = s(&v, "file");
        let data = read_vector(&v);
        let (header, raw) = Header::read_from(&mut &data[..]).unwrap();
        let mut out = raw.clone();
        let mut enc = Encryptor::with_parts(&mut out, &file_key(&v), &header, &raw);
        // Odd-sized writes: the chunking must not depend on how the plaintext arrives.
        for piece in plaintext(n(&v, "plaintext_len") as usize).chunks(1000) {
            enc.write_all(piece).unwrap();
        }
        let (_, written) = enc.finish().unwrap();
        assert_eq!(written, n(&v, "plaintext_len"), "{name}");
        assert!(out == data, "{name}: re-encryption differs from the vector");
    }
}

#[test]
fn the_file_keys_unwrap_as_documented() {
    let ix = index();
    let key = load_private_key(&dir().join(s(&ix, "rsa_private_key")), None).unwrap();
    let cert = Certificate::load(&dir().join(s(&ix, "rsa_certificate"))).unwrap();
    assert_eq!(cert.thumbprint, s(&ix, "certificate_thumbprint"));
    assert!(
        key.matches(&cert),
        "the test key belongs to the test certificate"
    );

    let text = legacy_text();
    let legacy = LegacyKey::parse(&text).unwrap();
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    assert_eq!(key_bytes.len(), 64);
    assert!(key_bytes.iter().all(u8::is_ascii_alphabetic));
    // key id = "key:" + hex(SHA-256("azs-backup v1 key id" | key bytes)[..8])
    let mut h = Sha256::new();
    h.update(b"azs-backup v1 key id");
    h.update(&key_bytes);
    let id = format!("key:{}", hex::encode(&h.finalize()[..8]));
    assert_eq!(id, legacy.key_id());
    assert_eq!(id, s(&ix, "legacy_key_id"));

    for v in vectors() {
        let name = s(&v, "file");
        let (header, _) = Header::read_from(&mut &read_vector(&v)[..]).unwrap();
        let header = &header.recipients[0];
        match header.kind {
            KIND_CERTIFICATE => {
                // RSA-OAEP, SHA-256, MGF1-SHA-256, empty label; one modulus long.
                assert_eq!(header.wrapped_key.len(), 256, "{name}");
                let fk = key.unwrap_key(&header.wrapped_key).unwrap();
                assert_eq!(&fk[..], &file_key(&v)[..], "{name}");
            }
            KIND_LEGACY_KEY => {
                // salt (16) | AES-256-GCM(KEK, nonce 0^12, aad, file key) (32 + 16 tag)
                assert_eq!(header.wrapped_key.len(), 64, "{name}");
                let salt = &header.wrapped_key[..16];
                assert_eq!(hex::encode(salt), s(&v, "legacy_salt"), "{name}");
                let mut kek = [0u8; 32];
                hkdf::Hkdf::<Sha256>::new(Some(salt), &key_bytes)
                    .expand(b"azs-backup v1 legacy key wrap", &mut kek)
                    .unwrap();
                assert_eq!(hex::encode(kek), s(&v, "legacy_kek"), "{name}");
                let wrapped = Aes256Gcm::new_from_slice(&kek)
                    .unwrap()
                    .encrypt(
                        &[0u8; 12].into(),
                        Payload {
                            msg: &file_key(&v),
                            aad: b"azs-backup v1 legacy wrap",
                        },
                    )
                    .unwrap();
                assert_eq!(&header.wrapped_key[16..], &wrapped[..], "{name}");
            }
            k => panic!("{name}: kind {k}"),
        }
    }
}

/// Decrypts the payload of a vector with AES-256-GCM directly (no STREAM helper): checks the
/// nonce layout prefix | u32be counter | last flag and the AAD SHA-256(header).
#[test]
fn chunks_follow_the_documented_nonce_and_aad() {
    for v in vectors() {
        let name = s(&v, "file");
        let data = read_vector(&v);
        let hl = n(&v, "header_len") as usize;
        let aad = Sha256::digest(&data[..hl]);
        let prefix = hex::decode(s(&v, "nonce_prefix")).unwrap();
        let gcm = Aes256Gcm::new_from_slice(&file_key(&v)).unwrap();
        let payload = &data[hl..];
        let records: Vec<&[u8]> = payload.chunks(CHUNK + TAG).collect();
        let mut plain = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let last = i + 1 == records.len();
            let mut nonce = prefix.clone();
            nonce.extend_from_slice(&(i as u32).to_be_bytes());
            nonce.push(last as u8);
            let p = gcm
                .decrypt(
                    nonce[..].try_into().unwrap(),
                    Payload {
                        msg: record,
                        aad: &aad,
                    },
                )
                .unwrap_or_else(|_| panic!("{name}: chunk {i}"));
            assert!(
                !p.is_empty() || n(&v, "plaintext_len") == 0,
                "{name}: empty chunk"
            );
            plain.extend_from_slice(&p);
        }
        assert_eq!(sha256_hex(&plain), s(&v, "plaintext_sha256"), "{name}");
    }
}

#[test]
fn keys_with_their_certificate_are_matched_by_thumbprint() {
    let ix = index();
    let mut pem = std::fs::read(dir().join(s(&ix, "rsa_private_key"))).unwrap();
    pem.extend_from_slice(&std::fs::read(dir().join(s(&ix, "rsa_certificate"))).unwrap());
    let key = private_key_from_bytes(&pem, "key+cert", None).unwrap();
    assert_eq!(key.thumbprint(), Some(s(&ix, "certificate_thumbprint")));
    let id = Identity::PrivateKey(Box::new(key));
    for v in vectors() {
        let data = read_vector(&v);
        let result = decrypt(&id, &data);
        if n(&v, "kind") == 1 {
            assert_eq!(sha256_hex(&result.unwrap()), s(&v, "plaintext_sha256"));
        } else {
            let e = result.expect_err("an RSA key cannot open a legacy-key file");
            let msg = CryptoError::from_io(&e).expect("crypto error").to_string();
            assert!(msg.contains(s(&ix, "legacy_key_id")), "{msg}");
        }
    }
    // And the legacy key cannot open a certificate file.
    let legacy = identity(KIND_LEGACY_KEY);
    for v in vectors().iter().filter(|v| n(v, "kind") == 1) {
        let e = decrypt(&legacy, &read_vector(v)).expect_err("wrong identity");
        let msg = CryptoError::from_io(&e).expect("crypto error").to_string();
        assert!(msg.contains(s(&ix, "certificate_thumbprint")), "{msg}");
    }
}

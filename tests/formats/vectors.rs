//! The committed test vectors of `docs/FORMAT.md` (`tests/vectors/`, made by
//! `examples/make_vectors.rs`): the library decrypts every one, re-encrypting reproduces the
//! committed bytes, and the key wrap and key id follow the documented derivations. Version 1
//! (`vectors.json`: one recipient) and version 2 (`vectors-v2.json`: the test certificate or
//! the legacy key, then the recovery certificate), each opened with every key that should open
//! it. TEST ONLY keys (published).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use azs_backup::certificate::{load_private_key, private_key_from_bytes, Certificate};
use azs_backup::crypto::{
    encrypted_len, CryptoError, Decryptor, Encryptor, Header, Identity, LegacyKey, CHUNK,
    KIND_CERTIFICATE, KIND_LEGACY_KEY, TAG, VERSION, VERSION_MULTI,
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

fn index_v2() -> Value {
    let text = std::fs::read_to_string(dir().join("vectors-v2.json")).expect("vectors-v2.json");
    serde_json::from_str(&text).expect("vectors-v2.json parses")
}

fn vectors_v2() -> Vec<Value> {
    index_v2()["vectors"].as_array().expect("vectors").clone()
}

/// Both sets: what holds for every file whatever its header (payload, re-encryption).
fn all_vectors() -> Vec<Value> {
    vectors().into_iter().chain(vectors_v2()).collect()
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
    let mut v2: Vec<String> = vectors_v2().iter().map(|v| s(v, "file").into()).collect();
    v2.sort();
    assert_eq!(
        v2,
        [
            "v2-cert+recovery-len0.enc",
            "v2-cert+recovery-len1.enc",
            "v2-cert+recovery-len65536.enc",
            "v2-cert+recovery-len65537.enc",
            "v2-key+recovery-len1.enc",
            "v2-key+recovery-len65537.enc",
        ]
    );
    let total: u64 = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 640 * 1024, "vectors take {total} bytes");
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
    for v in all_vectors() {
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
    for v in all_vectors() {
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

// ---------------------------------------------------------------------------------------------
// Version 2 (docs/FORMAT.md §2.3)

/// A private key from `tests/vectors/`, with its certificate appended when `cert` is given (so
/// that its thumbprint is known and it opens only its own entry).
fn rsa_identity(key: &str, cert: Option<&str>) -> Identity {
    let mut pem = std::fs::read(dir().join(key)).unwrap();
    if let Some(cert) = cert {
        pem.extend_from_slice(&std::fs::read(dir().join(cert)).unwrap());
    }
    let k = private_key_from_bytes(&pem, key, None).expect("test key loads");
    assert_eq!(k.thumbprint().is_some(), cert.is_some());
    Identity::PrivateKey(Box::new(k))
}

/// The keys that may open a version-2 vector, by name, with the recipient id each answers to.
fn v2_identities() -> Vec<(&'static str, Identity, String)> {
    let ix = index_v2();
    let main = s(&ix, "certificate_thumbprint").to_string();
    let recovery = s(&ix, "recovery_certificate_thumbprint").to_string();
    vec![
        (
            "test key",
            rsa_identity(s(&ix, "rsa_private_key"), None),
            main.clone(),
        ),
        (
            "test key + certificate",
            rsa_identity(s(&ix, "rsa_private_key"), Some(s(&ix, "rsa_certificate"))),
            main,
        ),
        (
            "recovery key",
            rsa_identity(s(&ix, "recovery_private_key"), None),
            recovery.clone(),
        ),
        (
            "recovery key + certificate",
            rsa_identity(
                s(&ix, "recovery_private_key"),
                Some(s(&ix, "recovery_certificate")),
            ),
            recovery,
        ),
        (
            "legacy key",
            Identity::LegacyKey(LegacyKey::parse(&legacy_text()).unwrap()),
            s(&ix, "legacy_key_id").to_string(),
        ),
    ]
}

#[test]
fn version_2_headers_list_every_recipient_and_round_trip() {
    let ix = index_v2();
    for v in vectors_v2() {
        let name = s(&v, "file");
        let data = read_vector(&v);
        assert_eq!(sha256_hex(&data), s(&v, "ciphertext_sha256"), "{name}");
        assert_eq!(data.len() as u64, n(&v, "ciphertext_len"), "{name}");
        let (header, raw) = Header::read_from(&mut &data[..]).unwrap();
        assert_eq!(header.version, VERSION_MULTI, "{name}");
        assert_eq!(n(&v, "version"), 2, "{name}");
        assert_eq!(
            data[8..12],
            [2, 2, 16, 0],
            "{name}: version 2, 2 recipients"
        );
        let listed = v["recipients"].as_array().unwrap();
        assert_eq!(header.recipients.len(), listed.len(), "{name}");
        for (got, want) in header.recipients.iter().zip(listed) {
            assert_eq!(got.kind as u64, n(want, "kind"), "{name}");
            assert_eq!(got.recipient_id, s(want, "recipient_id"), "{name}");
            assert_eq!(got.wrapped_key.len() as u64, n(want, "wrapped_key_len"));
        }
        // The encryption certificate or legacy key first, then the recovery certificate.
        let first = if name.starts_with("v2-cert") {
            s(&ix, "certificate_thumbprint")
        } else {
            s(&ix, "legacy_key_id")
        };
        assert_eq!(
            header.recipient_ids(),
            [first, s(&ix, "recovery_certificate_thumbprint")],
            "{name}"
        );
        assert_eq!(hex::encode(header.nonce_prefix), s(&v, "nonce_prefix"));
        assert_eq!(raw.len() as u64, n(&v, "header_len"), "{name}");
        assert_eq!(sha256_hex(&raw), s(&v, "header_sha256"), "{name}");
        // FORMAT.md §2.3: H = 19 + Σ (5 + L + W).
        let h: usize = 19
            + header
                .recipients
                .iter()
                .map(|r| 5 + r.recipient_id.len() + r.wrapped_key.len())
                .sum::<usize>();
        assert_eq!(raw.len(), h, "{name}");
        assert_eq!(raw, header.to_bytes(), "{name}: header round trip");
        assert_eq!(
            Header::new(header.recipients.clone(), header.nonce_prefix),
            header,
            "{name}: a writer picks version 2 for two recipients"
        );
        assert_eq!(
            data.len() as u64,
            encrypted_len(n(&v, "plaintext_len"), raw.len() as u64),
            "{name}"
        );
    }
}

#[test]
fn version_2_vectors_open_with_each_of_their_keys_and_no_other() {
    let identities = v2_identities();
    for v in vectors_v2() {
        let name = s(&v, "file");
        let data = read_vector(&v);
        let ids: Vec<&str> = v["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| s(r, "recipient_id"))
            .collect();
        for (what, identity, id) in &identities {
            let result = Decryptor::new(&data[..], identity).and_then(|mut d| {
                let mut out = Vec::new();
                d.read_to_end(&mut out)?;
                Ok((out, d.opened_by().to_string()))
            });
            if ids.contains(&id.as_str()) {
                let (plain, opened_by) =
                    result.unwrap_or_else(|e| panic!("{name} with the {what}: {e}"));
                assert_eq!(sha256_hex(&plain), s(&v, "plaintext_sha256"), "{name}");
                assert_eq!(plain, plaintext(n(&v, "plaintext_len") as usize), "{name}");
                assert_eq!(&opened_by, id, "{name} with the {what}: entry opened");
            } else {
                let e = result.expect_err("a key for no entry opens nothing");
                let err = CryptoError::from_io(&e).expect("a crypto error");
                // A key that knows its id is told which keys are needed; a bare RSA key tries
                // every certificate entry and none opens.
                match err {
                    CryptoError::WrongRecipient { needed, .. }
                    | CryptoError::UnwrapFailed { needed } => {
                        for id in &ids {
                            assert!(needed.contains(id), "{name} with the {what}: {err}");
                        }
                    }
                    other => panic!("{name} with the {what}: {other}"),
                }
                let bare = what.ends_with("key") && *what != "legacy key";
                assert_eq!(
                    matches!(err, CryptoError::UnwrapFailed { .. }),
                    bare,
                    "{name} with the {what}: {err}"
                );
            }
        }
    }
}

#[test]
fn each_version_2_wrap_unwraps_to_the_recorded_file_key() {
    let ix = index_v2();
    let main = load_private_key(&dir().join(s(&ix, "rsa_private_key")), None).unwrap();
    let recovery = load_private_key(&dir().join(s(&ix, "recovery_private_key")), None).unwrap();
    let recovery_cert = Certificate::load(&dir().join(s(&ix, "recovery_certificate"))).unwrap();
    assert_eq!(
        recovery_cert.thumbprint,
        s(&ix, "recovery_certificate_thumbprint")
    );
    assert!(recovery.matches(&recovery_cert));
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(legacy_text().trim())
        .unwrap();
    for v in vectors_v2() {
        let name = s(&v, "file");
        let (header, _) = Header::read_from(&mut &read_vector(&v)[..]).unwrap();
        for (stanza, listed) in header
            .recipients
            .iter()
            .zip(v["recipients"].as_array().unwrap())
        {
            let fk = match stanza.kind {
                KIND_CERTIFICATE => {
                    assert_eq!(stanza.wrapped_key.len(), 256, "{name}");
                    let key = if stanza.recipient_id == s(&ix, "certificate_thumbprint") {
                        &main
                    } else {
                        assert_eq!(
                            stanza.recipient_id,
                            s(&ix, "recovery_certificate_thumbprint")
                        );
                        &recovery
                    };
                    key.unwrap_key(&stanza.wrapped_key).unwrap().to_vec()
                }
                KIND_LEGACY_KEY => {
                    assert_eq!(stanza.wrapped_key.len(), 64, "{name}");
                    let salt = &stanza.wrapped_key[..16];
                    assert_eq!(hex::encode(salt), s(listed, "legacy_salt"), "{name}");
                    let mut kek = [0u8; 32];
                    hkdf::Hkdf::<Sha256>::new(Some(salt), &key_bytes)
                        .expand(b"azs-backup v1 legacy key wrap", &mut kek)
                        .unwrap();
                    assert_eq!(hex::encode(kek), s(listed, "legacy_kek"), "{name}");
                    Aes256Gcm::new_from_slice(&kek)
                        .unwrap()
                        .decrypt(
                            &[0u8; 12].into(),
                            Payload {
                                msg: &stanza.wrapped_key[16..],
                                aad: b"azs-backup v1 legacy wrap",
                            },
                        )
                        .unwrap()
                }
                k => panic!("{name}: kind {k}"),
            };
            assert_eq!(fk, file_key(&v), "{name}: {}", stanza.recipient_id);
        }
    }
}

//! Keys and certificates the unit tests of this module share.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use rsa::pkcs8::EncodePrivateKey as _;

use super::pem::pem_encode;
use super::self_signed::{build_self_signed, OsRng};
use super::Certificate;

pub(super) fn key2048() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut OsRng, 2048).expect("key generation"))
}

pub(super) fn other_key2048() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut OsRng, 2048).expect("key generation"))
}

pub(super) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) fn cert_der(key: &rsa::PrivateKey, dns: &str) -> Vec<u8> {
    build_self_signed(
        key,
        dns,
        at("2025-01-01T00:00:00Z"),
        at("2026-01-01T00:00:00Z"),
    )
    .unwrap()
}

pub(super) fn cert() -> Certificate {
    Certificate::from_bytes(&cert_der(key2048(), "unit.example"), "unit.cer").unwrap()
}

pub(super) fn key_pem(key: &rsa::PrivateKey) -> String {
    pem_encode("PRIVATE KEY", key.to_pkcs8_der().unwrap().as_bytes())
}

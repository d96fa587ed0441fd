//! The formats checked against fixed vectors and independent implementations (OpenSSL CLI,
//! Python `cryptography`), property tests, and the fuzz targets' seeds.

#[path = "../common/mod.rs"]
mod common;

mod certificate_openssl;
mod failure_vectors;
mod fuzz_regressions;
mod props;
mod python;
mod vectors;

#![no_main]
//! `cargo +nightly fuzz run certificate`: see azs_backup_fuzz::certificate and docs/FUZZING.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azs_backup_fuzz::certificate(data));

#![no_main]
//! `cargo +nightly fuzz run settings`: see azs_backup_fuzz::settings and docs/FUZZING.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azs_backup_fuzz::settings(data));

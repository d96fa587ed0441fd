#![no_main]
//! `cargo +nightly fuzz run manifest`: see azs_backup_fuzz::manifest and docs/FUZZING.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azs_backup_fuzz::manifest(data));

#![no_main]
//! `cargo +nightly fuzz run target_spec`: see azs_backup_fuzz::target_spec and docs/FUZZING.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azs_backup_fuzz::target_spec(data));

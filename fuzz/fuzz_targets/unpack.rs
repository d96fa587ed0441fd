#![no_main]
//! `cargo +nightly fuzz run unpack`: see azs_backup_fuzz::unpack and docs/FUZZING.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azs_backup_fuzz::unpack(data));

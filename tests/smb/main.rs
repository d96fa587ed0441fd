//! End-to-end tests of the binary against the throwaway Samba server that `scripts/test.sh`
//! starts (see `tests/smb_common/`). `tests/smb_target.rs`, which changes the process's
//! environment, is a binary of its own.

#[path = "../common/mod.rs"]
mod common;
#[path = "../smb_common/mod.rs"]
mod smb_common;

mod cli;
mod schedule;

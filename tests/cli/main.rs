//! Tests of the `azs-backup` binary through its command line, one module per area, all in
//! one test binary (one link instead of one per area). Shared helpers are in `tests/common/`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../smb_common/mod.rs"]
mod smb_common;

mod azurestack;
mod core_commands;
mod crash;
mod faults;
mod generated_files;
mod hostile;
mod integrity;
mod keys;
mod legacy;
mod lock;
mod manifest;
mod ops;
mod prune;
mod recovery;
mod schedule;
mod shape;
mod ux;

//! azs-backup: Azure Stack Hub style infrastructure backups for ordinary servers.
//!
//! The library holds all behaviour; the `azs-backup` binary only parses arguments, calls in
//! here and renders results. Dependencies run one way (a test keeps the module graph acyclic):
//! leaf helpers ← domain ← operations ← the binary's `cli`.
//!
//! Leaf helpers: [`clock`] (the time, `AZS_BACKUP_NOW`), [`host`] (host name, machine id),
//! [`private_file`] (0600 atomic files), [`read_full`] (filling a buffer), [`testhook`] (test-only fault points), [`observer`]
//! (progress callbacks), [`error`].
//! Domain: [`settings`] and [`state`] (docs/SETTINGS.md), [`certificate`] (certificates, private
//! keys, PEM, PKCS#12, `new-cert`), [`crypto`] (the encrypted file, docs/FORMAT.md: header,
//! recipients and key ids, the chunk stream), [`archive`] (tar + zstd, confined unpacking),
//! [`manifest`] (the layout on the target and its validation), [`store`] (local folder and SMB
//! share), [`azurestack`] (Azure Stack Hub's own snapshots, docs/AZURESTACK.md).
//! Operations: [`backup`], [`verify`], [`restore`], [`retention`] (prune), [`lock`] (one run at a
//! time), [`schedule`] (tick), [`configure`], [`status`], [`monitor`] (notifications,
//! metrics). docs/THREAT-MODEL.md and docs/RELIABILITY.md say what each guarantees.

pub mod archive;
pub mod azurestack;
pub mod backup;
pub mod capacity;
pub mod certificate;
pub mod clock;
pub mod configure;
pub mod crypto;
pub mod error;
pub mod host;
pub mod lock;
pub mod manifest;
pub mod monitor;
pub mod observer;
pub mod private_file;
pub mod read_full;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod status;
pub mod store;
pub mod testhook;
pub mod verify;

pub use error::Error;

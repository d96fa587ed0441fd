//! azs-backup: Azure Stack Hub style infrastructure backups for ordinary servers.
//!
//! The library holds all behaviour; the `azs-backup` binary only parses arguments, calls in
//! here and renders results. Modules are named after the domain (README.md and docs/):
//! [`settings`], [`state`], [`certificate`], [`crypto`] (the envelope format), [`archive`],
//! [`target`], [`backup`], [`restore`], [`verify`], [`manifest`], [`clock`].

pub mod archive;
pub mod azurestack;
pub mod backup;
pub mod certificate;
pub mod clock;
pub mod configure;
pub mod crypto;
pub mod error;
pub mod host;
pub mod lock;
pub mod manifest;
pub mod observer;
pub mod private_file;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod status;
pub mod target;
pub mod testhook;
pub mod verify;

pub use error::Error;

//! Azure Stack Hub's own backup snapshots (docs/AZURESTACK.md): `unprotect` (`Unprotect-AzsBackup`)
//! of one snapshot file, and of a whole backup read from the share (`Validate-AzsBackup`
//! without SQL Server).
//!
//! Azure Stack Hub writes each repository's snapshot as
//! `MASBackup/progressivebackup/<stampVersion>/<repository>/<yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C].zip`
//! with a sidecar `.xml` of the same base name. The sidecar holds
//! `/BackupSnapshot/EncryptedBackupEncryptionKey` (base64 of an RSA-OAEP ciphertext, SHA-256 or
//! SHA-1), `/BackupSnapshot/EncryptionCertThumbprint` and
//! `/BackupSnapshot/SnapshotProperties/BackupStatus`. The key unwraps to the UTF-8 bytes of a base64
//! string whose bytes are a 32-byte AES-256 key followed by the HMAC key (32 bytes).
//!
//! The `.zip` file itself (despite its name, encrypted):
//!
//! ```text
//! i16le tag (= 1) | i16le encAlg (0 = AES-256-CBC, PKCS#7) | i16le authAlg (0 = HMAC-SHA512)
//! | i16le ivLen | i16le tagLen | IV (ivLen bytes) | tag (tagLen bytes) | ciphertext (to the end)
//! ```
//!
//! The tag is HMAC-SHA512 over the ciphertext alone; the plaintext is a zip archive.
//!
//! - [`sidecar`]: the `.xml`.
//! - [`snapshot`]: the header, the keys, the HMAC and the decryption (streamed).
//! - [`extract`]: the decrypted zip, checked entry by entry, extracted or only decoded.
//! - [`single`]: `unprotect SNAPSHOT.zip` (one file, two passes).
//! - [`store`]: the layout on the share, read through a [`crate::store::Store`].
//! - [`chain`]: which snapshots a backup id needs (progressive chains), and `--list`.
//! - [`batch`]: `unprotect --from PATH --backup-id ID` (every snapshot of a backup).

pub mod batch;
pub mod chain;
pub mod extract;
pub mod sidecar;
pub mod single;
pub mod snapshot;
pub mod store;

pub use crate::certificate::normalise_thumbprint;
pub use batch::{
    unprotect_backup, BackupOutcome, BackupProgress, BackupReport, BackupRequest, SnapshotReport,
    SnapshotResult,
};
pub use chain::{list, BackupSummary, RepositorySummary};
pub use extract::safe_entry_path;
pub use sidecar::{parse_sidecar, read_sidecar, sidecar_path, Sidecar};
pub use single::{unprotect, UnprotectReport, UnprotectRequest};
pub use snapshot::{
    unwrap_keys, OaepHash, SnapshotHeader, SnapshotKeys, AUTH_HMAC_SHA512, ENC_AES256_CBC,
    FIXED_HEADER_LEN, HEADER_TAG,
};
pub use store::{scan, BackupType, SnapshotStore};

//! The sidecar `.xml` beside each snapshot (docs/AZURESTACK.md, "The sidecar").

use crate::certificate::normalise_thumbprint;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest sidecar read.
pub const MAX_SIDECAR: u64 = 4 << 20;

/// What the sidecar `.xml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    pub path: PathBuf,
    /// `EncryptedBackupEncryptionKey`: base64 of the RSA-OAEP ciphertext.
    pub encrypted_key: String,
    /// `EncryptionCertThumbprint`, upper-case, without spaces.
    pub thumbprint: String,
    /// `SnapshotProperties/BackupStatus`, when present.
    pub backup_status: Option<String>,
    /// `BackupId`, when present.
    pub backup_id: Option<String>,
    /// `SnapshotProperties/BackupType` (`Full` or `Progressive`), when present.
    pub backup_type: Option<String>,
    /// `CreatedDateTime`, as written, when present.
    pub created_date_time: Option<String>,
    /// `StampVersion`, when present.
    pub stamp_version: Option<String>,
    /// `RepositoryName`, when present.
    pub repository_name: Option<String>,
    /// `IsContemporaneousBackup`, when present and `true` or `false`.
    pub is_contemporaneous: Option<bool>,
}

/// The sidecar of a snapshot: the same path with the extension `.xml`.
pub fn sidecar_path(snapshot: &Path) -> PathBuf {
    snapshot.with_extension("xml")
}

/// Reads and parses a sidecar file.
pub fn read_sidecar(path: &Path) -> Result<Sidecar> {
    let ctx = || format!("reading the snapshot's sidecar {}", path.display());
    let f = File::open(path).map_err(|e| Error::io(ctx(), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_SIDECAR + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(ctx(), e))?;
    parse_sidecar_bytes(&bytes, path)
}

/// Parses the bytes of a sidecar (at most [`MAX_SIDECAR`]; UTF-8 or UTF-16 with a BOM).
pub fn parse_sidecar_bytes(bytes: &[u8], path: &Path) -> Result<Sidecar> {
    if bytes.len() as u64 > MAX_SIDECAR {
        return Err(bad_sidecar(path, "it is larger than 4 MiB"));
    }
    let text =
        decode_text(bytes).ok_or_else(|| bad_sidecar(path, "it is not UTF-8 or UTF-16 text"))?;
    parse_sidecar(&text, path)
}

/// Parses sidecar XML (`path` names it in errors and is kept in the result).
pub fn parse_sidecar(xml: &str, path: &Path) -> Result<Sidecar> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| bad_sidecar(path, &format!("it is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "BackupSnapshot" {
        return Err(bad_sidecar(
            path,
            &format!(
                "its root element is <{}>, not <BackupSnapshot>",
                root.tag_name().name()
            ),
        ));
    }
    let required = |name: &str, normalise: fn(&str) -> String| {
        child(root, name)
            .map(|n| normalise(&text_of(n)))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                bad_sidecar(path, &format!("/BackupSnapshot/{name} is missing or empty"))
            })
    };
    let encrypted_key = required("EncryptedBackupEncryptionKey", str::to_string)?;
    let thumbprint = required("EncryptionCertThumbprint", normalise_thumbprint)?;
    let properties = child(root, "SnapshotProperties");
    // Each optional field is read at the root or under SnapshotProperties (versions differ).
    let field = |name: &str| {
        child(root, name)
            .or_else(|| properties.and_then(|p| child(p, name)))
            .map(text_of)
    };
    let is_contemporaneous =
        field("IsContemporaneousBackup").and_then(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    Ok(Sidecar {
        path: path.to_path_buf(),
        encrypted_key,
        thumbprint,
        backup_status: properties
            .and_then(|p| child(p, "BackupStatus"))
            .map(text_of),
        backup_id: field("BackupId").filter(|s| !s.is_empty()),
        backup_type: field("BackupType").filter(|s| !s.is_empty()),
        created_date_time: field("CreatedDateTime").filter(|s| !s.is_empty()),
        stamp_version: field("StampVersion").filter(|s| !s.is_empty()),
        repository_name: field("RepositoryName").filter(|s| !s.is_empty()),
        is_contemporaneous,
    })
}

fn child<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    parent
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_string()
}

fn bad_sidecar(path: &Path, why: &str) -> Error {
    Error::VerificationFailed(format!(
        "{} is not a usable Azure Stack snapshot sidecar: {why}",
        path.display()
    ))
}

/// UTF-8 (with or without BOM) or UTF-16 with a BOM, as .NET writes XML.
pub(crate) fn decode_text(bytes: &[u8]) -> Option<String> {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BackupSnapshot xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
            <SnapshotProperties><BackupStatus>Succeeded</BackupStatus></SnapshotProperties>\
            <EncryptionCertThumbprint> ab cd ef </EncryptionCertThumbprint>\
            <EncryptedBackupEncryptionKey>\n QUJD\n</EncryptedBackupEncryptionKey></BackupSnapshot>";
        let bytes = xml.as_bytes();
        let s = parse_sidecar(&decode_text(bytes).unwrap(), Path::new("x.xml")).unwrap();
        assert_eq!(s.thumbprint, "ABCDEF");
        assert_eq!(s.encrypted_key, "QUJD");
        assert_eq!(s.backup_status.as_deref(), Some("Succeeded"));
        assert_eq!(s.backup_id, None);
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(
                "<BackupSnapshot><EncryptionCertThumbprint>AA</EncryptionCertThumbprint><EncryptedBackupEncryptionKey>QQ==</EncryptedBackupEncryptionKey></BackupSnapshot>"
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes()),
            )
            .collect();
        let s = parse_sidecar(&decode_text(&utf16).unwrap(), Path::new("x.xml")).unwrap();
        assert_eq!(s.backup_status, None);
        assert!(parse_sidecar("<Other/>", Path::new("x.xml")).is_err());
        assert!(parse_sidecar(
            "<BackupSnapshot><EncryptionCertThumbprint>AA</EncryptionCertThumbprint></BackupSnapshot>",
            Path::new("x.xml")
        )
        .is_err());
        assert!(parse_sidecar(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><BackupSnapshot/>",
            Path::new("x.xml")
        )
        .is_err());
    }

    #[test]
    fn optional_fields_at_the_root_or_under_snapshot_properties() {
        let xml = "<BackupSnapshot><BackupId>b-1</BackupId><StampVersion>1.2</StampVersion>\
            <SnapshotProperties><BackupStatus>Failed</BackupStatus><BackupType>Progressive</BackupType>\
            <CreatedDateTime>2019-01-15T12:00:00Z</CreatedDateTime><IsContemporaneousBackup>True</IsContemporaneousBackup>\
            </SnapshotProperties><RepositoryName>WAS;WasService;-;X</RepositoryName>\
            <EncryptionCertThumbprint>aa</EncryptionCertThumbprint>\
            <EncryptedBackupEncryptionKey>QQ==</EncryptedBackupEncryptionKey></BackupSnapshot>";
        let s = parse_sidecar(xml, Path::new("x.xml")).unwrap();
        assert_eq!(s.backup_id.as_deref(), Some("b-1"));
        assert_eq!(s.backup_type.as_deref(), Some("Progressive"));
        assert_eq!(s.backup_status.as_deref(), Some("Failed"));
        assert_eq!(s.created_date_time.as_deref(), Some("2019-01-15T12:00:00Z"));
        assert_eq!(s.stamp_version.as_deref(), Some("1.2"));
        assert_eq!(s.repository_name.as_deref(), Some("WAS;WasService;-;X"));
        assert_eq!(s.is_contemporaneous, Some(true));
        assert!(
            parse_sidecar_bytes(&vec![b' '; (MAX_SIDECAR + 1) as usize], Path::new("x")).is_err()
        );
    }
}

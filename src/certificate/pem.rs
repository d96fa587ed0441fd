//! PEM text: finding the blocks of a `.pem`/`.cer` file, and writing one.

use base64::Engine as _;
use zeroize::Zeroizing;

pub(super) fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
    )
}

pub(super) struct PemBlock {
    pub(super) label: String,
    /// RFC 1421 "Proc-Type: 4,ENCRYPTED" header (traditional encrypted OpenSSL keys).
    pub(super) encrypted: bool,
    complete: bool,
    body: Zeroizing<String>,
}

impl PemBlock {
    pub(super) fn decode(&self) -> Option<Zeroizing<Vec<u8>>> {
        if !self.complete {
            return None;
        }
        base64::engine::general_purpose::STANDARD
            .decode(self.body.as_bytes())
            .ok()
            .map(Zeroizing::new)
    }
}

/// The input as text when it looks like PEM (UTF-8, optional BOM, has a BEGIN line).
pub(super) fn pem_text(bytes: &[u8]) -> Option<&str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).ok()?;
    text.contains("-----BEGIN ").then_some(text)
}

pub(super) fn parse_pem(text: &str) -> Vec<PemBlock> {
    let mut blocks = Vec::new();
    let mut current: Option<PemBlock> = None;
    for line in text.lines() {
        let line = line.trim();
        match current.as_mut() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some(PemBlock {
                        label: label.trim().to_string(),
                        encrypted: false,
                        complete: false,
                        body: Zeroizing::new(String::new()),
                    });
                }
            }
            Some(block) => {
                if line.starts_with("-----END ") {
                    let mut done = current.take().expect("a block is open");
                    done.complete = line
                        .strip_prefix("-----END ")
                        .and_then(|l| l.strip_suffix("-----"))
                        .is_some_and(|l| l.trim() == done.label);
                    blocks.push(done);
                } else if line.contains(':') {
                    if line.starts_with("Proc-Type:") && line.contains("ENCRYPTED") {
                        block.encrypted = true;
                    }
                } else {
                    block.body.push_str(line);
                }
            }
        }
    }
    if let Some(open) = current {
        blocks.push(open);
    }
    blocks
}

pub(super) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_labels_and_flags() {
        let text = "junk\r\n-----BEGIN CERTIFICATE-----\r\nQUJD\r\n-----END CERTIFICATE-----\r\n\
                    -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nQUJD\n\
                    -----END EC PRIVATE KEY-----\n-----BEGIN PRIVATE KEY-----\nQUJD\n";
        let blocks = parse_pem(pem_text(text.as_bytes()).unwrap());
        let summary: Vec<_> = blocks
            .iter()
            .map(|b| (b.label.as_str(), b.complete, b.encrypted))
            .collect();
        assert_eq!(
            summary,
            [
                ("CERTIFICATE", true, false),
                ("RSA PRIVATE KEY", false, true),
                ("PRIVATE KEY", false, false),
            ]
        );
        assert_eq!(blocks[0].decode().unwrap().as_slice(), b"ABC");
        assert!(blocks[1].decode().is_none());
        let pem = pem_encode("CERTIFICATE", &[7u8; 100]);
        assert_eq!(parse_pem(&pem)[0].decode().unwrap().as_slice(), &[7u8; 100]);
        assert!(pem_text(b"\xEF\xBB\xBF-----BEGIN X-----").is_some());
        assert!(pem_text(b"\x30\x82").is_none());
    }
}

//! Parsing of the `path` setting: a UNC share (`\\host\share\folder`), an `smb://host:port/share/folder`
//! URL (the only way to give a port), or a local directory.

use std::fmt;
use std::path::PathBuf;

/// Characters Windows and Samba refuse in share and folder names.
const FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*', '%', '/', '\\'];

/// Where the settings' `path` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Local(PathBuf),
    Smb(UncPath),
}

/// A parsed UNC share path. (Serialised only to hand it to an upload's helper process.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UncPath {
    /// IPv4 address, IPv6 address (without brackets) or host name.
    pub host: String,
    pub port: Option<u16>,
    pub share: String,
    /// Folders below the share, outermost first.
    pub folders: Vec<String>,
}

impl UncPath {
    /// Host as used in an URL: IPv6 addresses in brackets.
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for UncPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(port) = self.port {
            write!(f, "smb://{}:{}/{}", self.url_host(), port, self.share)?;
            for d in &self.folders {
                write!(f, "/{d}")?;
            }
        } else {
            write!(f, "\\\\{}\\{}", self.host, self.share)?;
            for d in &self.folders {
                write!(f, "\\{d}")?;
            }
        }
        Ok(())
    }
}

/// A `path` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid path {given:?}: {why}; expected \\\\host\\share\\folder (host: IPv4, IPv6 or FQDN), smb://host:port/share/folder, or a local directory")]
pub struct SpecError {
    pub given: String,
    pub why: String,
}

impl TargetSpec {
    /// Parses the `path` setting.
    pub fn parse(s: &str) -> Result<TargetSpec, SpecError> {
        let err = |why: &str| SpecError {
            given: s.to_string(),
            why: why.to_string(),
        };
        if s.trim().is_empty() {
            return Err(err("it is empty"));
        }
        if let Some(rest) = s.strip_prefix("smb://") {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (host, port) = split_host_port(authority).map_err(|w| err(&w))?;
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            return unc(host, port, &parts)
                .map_err(|w| err(&w))
                .map(TargetSpec::Smb);
        }
        if s.starts_with("\\\\") || s.starts_with("//") {
            if cfg!(windows) && !cfg!(feature = "smb") {
                return Ok(TargetSpec::Local(PathBuf::from(s)));
            }
            let body = &s[2..];
            let parts: Vec<&str> = body.split(['\\', '/']).collect();
            let host = parts[0];
            let rest: Vec<&str> = parts[1..].to_vec();
            if rest.is_empty() {
                return Err(err("the share name is missing"));
            }
            if rest[0].is_empty() {
                return Err(err("the share name is empty"));
            }
            // Allow one trailing separator.
            let mut rest = rest;
            if rest.len() > 1 && rest.last() == Some(&"") {
                rest.pop();
            }
            if rest.iter().any(|p| p.is_empty()) {
                return Err(err("it contains an empty folder name"));
            }
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return unc(host.to_string(), None, &rest)
                .map_err(|w| err(&w))
                .map(TargetSpec::Smb);
        }
        Ok(TargetSpec::Local(PathBuf::from(s)))
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address lacks its closing ']'".to_string())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err("unexpected characters after the IPv6 address".into()),
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((h.to_string(), Some(parse_port(p)?))),
        _ => Ok((authority.to_string(), None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("port {p:?} is not a number in 1..=65535")),
    }
}

fn unc(host: String, port: Option<u16>, parts: &[&str]) -> Result<UncPath, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    valid_host(&host)?;
    let (share, folders) = parts
        .split_first()
        .ok_or_else(|| "the share name is missing".to_string())?;
    for name in parts {
        if let Some(c) = name
            .chars()
            .find(|c| FORBIDDEN.contains(c) || c.is_control())
        {
            return Err(format!(
                "{name:?} contains {c:?}; share and folder names may not contain < > : \" | ? * % or control characters"
            ));
        }
        if *name == "." || *name == ".." {
            return Err("'.' and '..' are not allowed as folder names".into());
        }
    }
    Ok(UncPath {
        host,
        port,
        share: share.to_string(),
        folders: folders.iter().map(|s| s.to_string()).collect(),
    })
}

fn valid_host(host: &str) -> Result<(), String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(ok_label) {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is not an IPv4 address, an IPv6 address or a host name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smb(s: &str) -> UncPath {
        match TargetSpec::parse(s).unwrap() {
            TargetSpec::Smb(u) => u,
            other => panic!("{s} parsed as {other:?}"),
        }
    }

    #[test]
    fn unc_forms() {
        let u = smb(r"\\fileserver.contoso.com\AzSBackups\region1");
        assert_eq!(u.host, "fileserver.contoso.com");
        assert_eq!(u.share, "AzSBackups");
        assert_eq!(u.folders, vec!["region1"]);
        assert_eq!(u.port, None);
        assert_eq!(
            u.to_string(),
            r"\\fileserver.contoso.com\AzSBackups\region1"
        );
        let u = smb(r"\\10.0.0.5\share");
        assert_eq!((u.host.as_str(), u.share.as_str()), ("10.0.0.5", "share"));
        let u = smb(r"\\fe80::1\share\a\b");
        assert_eq!(u.host, "fe80::1");
        assert_eq!(u.folders, vec!["a", "b"]);
        let u = smb("smb://127.0.0.1:4455/backups/region1");
        assert_eq!(u.port, Some(4455));
        assert_eq!(u.to_string(), "smb://127.0.0.1:4455/backups/region1");
        let u = smb("smb://[::1]:4455/backups");
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(4455)));
    }

    #[test]
    fn malformed_unc_paths_are_refused() {
        for bad in [
            r"\\host",
            r"\\host\",
            r"\\\share",
            r"\\host\sha*re",
            r"\\host\share\a:b",
            r"\\host\share\\x",
            r"\\bad_host!\share",
            "smb://host:0/share",
            "smb://host:99999/share",
            "smb://host",
            "",
        ] {
            let e = TargetSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected \\\\host\\share"), "{bad}: {e}");
        }
    }

    #[test]
    fn local_paths_stay_local() {
        assert_eq!(
            TargetSpec::parse("./backups").unwrap(),
            TargetSpec::Local(PathBuf::from("./backups"))
        );
    }
}

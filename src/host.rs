//! This machine's identity, recorded in manifests and locks (a leaf module: it uses nothing
//! else of the crate).

/// This machine's name.
pub fn host_name() -> String {
    #[cfg(unix)]
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let s = s.trim();
        if !s.is_empty() {
            return s.to_string();
        }
    }
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// A stable id of this machine or container (`/etc/machine-id` on Linux), when there is one.
/// Two containers may share a host name; they do not share a machine id, so a lock taken by a
/// process in one is never judged by the process table of the other.
pub fn machine_id() -> Option<String> {
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Ok(s) = std::fs::read_to_string(path) {
            let s = s.trim();
            if !s.is_empty() && s.len() <= 128 {
                return Some(s.to_string());
            }
        }
    }
    None
}

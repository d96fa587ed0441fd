//! `configure --notify-url` / `--metrics-file`: the monitoring settings (docs/SCHEDULING.md,
//! Monitoring).

use super::absolute;
use crate::error::{Error, Result};
use crate::settings::Settings;
use std::path::{Path, PathBuf};

/// Sets or removes (empty value) the notification URL and the metrics file. The metrics file's
/// directory must exist; the file itself is written after the next run.
pub(super) fn apply_monitoring(
    s: &mut Settings,
    notify_url: Option<String>,
    metrics_file: Option<PathBuf>,
    changed: &mut Vec<&'static str>,
) -> Result<()> {
    if let Some(u) = notify_url {
        let u = Some(u).filter(|u| !u.is_empty());
        if u != s.notify_url {
            s.notify_url = u;
            changed.push("notifyUrl");
        }
    }
    if let Some(m) = metrics_file {
        let m = if m.as_os_str().is_empty() {
            None
        } else {
            let m = absolute(&m)?;
            let dir = m.parent().unwrap_or(Path::new("/"));
            if m.file_name().is_none() || m.is_dir() || !dir.is_dir() {
                return Err(Error::invalid(
                    "metrics-file",
                    format!(
                        "{} must name a file in an existing directory (e.g. /var/lib/node_exporter/textfile_collector/azs-backup.prom); '' removes it",
                        m.display()
                    ),
                ));
            }
            Some(m)
        };
        if m != s.metrics_file {
            s.metrics_file = m;
            changed.push("metricsFile");
        }
    }
    Ok(())
}

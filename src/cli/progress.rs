//! Progress bars (indicatif) on stderr, drawn only on a terminal.

use azs_backup::backup::Observer;
use azs_backup::manifest::{RoleStatus, Status};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows per-source and total progress of a backup; prints warnings through `note`.
pub struct BackupProgress<'a> {
    out: &'a super::out::Out,
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    current: Option<ProgressBar>,
    done_bytes: u64,
}

fn bytes_style(prefix: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{prefix} {{prefix:>12}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{binary_bytes_per_sec}} ETA {{eta}} {{msg}}"
    ))
    .expect("valid template")
    .progress_chars("=> ")
}

impl<'a> BackupProgress<'a> {
    /// Progress of a backup of `sources`; they are measured (for the total and the ETA) only
    /// when the bars are drawn.
    pub fn new(out: &'a super::out::Out, sources: &[azs_backup::settings::Source]) -> Self {
        if !out.progress() {
            return BackupProgress {
                out,
                multi: None,
                total: None,
                current: None,
                done_bytes: 0,
            };
        }
        let total_bytes: u64 = sources
            .iter()
            .map(|s| azs_backup::capacity::measure(&s.path).unwrap_or(0))
            .sum();
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(bytes_style("total "));
        total.set_prefix("all sources");
        BackupProgress {
            out,
            multi: Some(multi),
            total: Some(total),
            current: None,
            done_bytes: 0,
        }
    }

    /// Removes the bars.
    pub fn finish(&mut self) {
        if let Some(c) = self.current.take() {
            c.finish_and_clear();
        }
        if let Some(t) = self.total.take() {
            t.finish_and_clear();
        }
    }
}

impl Observer for BackupProgress<'_> {
    fn wants_sizes(&self) -> bool {
        self.multi.is_some()
    }

    fn source_started(&mut self, name: &str, total: Option<u64>) {
        self.out.step(format!("backing up source {name}"));
        if let Some(m) = &self.multi {
            let bar = m.add(ProgressBar::new(total.unwrap_or(0)));
            bar.set_style(bytes_style("source"));
            bar.set_prefix(name.to_string());
            self.current = Some(bar);
        }
    }

    fn progress(&mut self, read: u64, written: u64) {
        if let Some(b) = &self.current {
            b.set_position(read);
            b.set_message(format!("→ {} written", indicatif::HumanBytes(written)));
        }
        if let Some(t) = &self.total {
            t.set_position(self.done_bytes + read);
        }
    }

    fn source_finished(&mut self, role: &RoleStatus) {
        self.done_bytes += role.plain_size_in_bytes;
        if let Some(b) = self.current.take() {
            b.finish_and_clear();
        }
        match role.status {
            Status::Succeeded => self.out.step(format!(
                "source {}: {} files, {} read, {} written",
                role.role_name,
                role.file_count,
                indicatif::HumanBytes(role.plain_size_in_bytes),
                indicatif::HumanBytes(role.encrypted_size_in_bytes)
            )),
            _ => self.out.note(format!(
                "azs-backup: warning: source {} failed: {}",
                role.role_name,
                role.error_message.as_deref().unwrap_or("unknown error")
            )),
        }
    }

    fn warning(&mut self, message: &str) {
        let line = format!("azs-backup: warning: {message}");
        match &self.multi {
            Some(m) if !self.out.quiet => {
                let _ = m.println(line);
            }
            _ => self.out.note(line),
        }
    }
}

/// Progress of `verify` and `restore`: one bar over all sources' encrypted bytes, naming the
/// source being read; nothing when stderr is not a terminal. `--verbose` adds a line per source.
pub struct SourcesBar<'a> {
    out: &'a super::out::Out,
    bar: Option<ProgressBar>,
    verb: &'static str,
    role: String,
    base: u64,
    done: u64,
}

impl<'a> SourcesBar<'a> {
    pub fn new(out: &'a super::out::Out, total: u64, verb: &'static str) -> Self {
        SourcesBar {
            out,
            bar: bytes_bar(out, total, verb),
            verb,
            role: String::new(),
            base: 0,
            done: 0,
        }
    }

    /// `read` bytes of source `role` have been read so far.
    pub fn update(&mut self, role: &str, read: u64) {
        if role != self.role {
            self.out.step(format!("{} source {role}", self.verb));
            self.base = self.done;
            self.role = role.to_string();
            if let Some(b) = &self.bar {
                b.set_message(role.to_string());
            }
        }
        self.done = self.base + read;
        if let Some(b) = &self.bar {
            b.set_position(self.done);
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// A bytes bar (`label` before it), or nothing when not on a terminal.
pub fn bytes_bar(out: &super::out::Out, total: u64, label: &str) -> Option<ProgressBar> {
    if !out.progress() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(bytes_style(label));
    Some(bar)
}

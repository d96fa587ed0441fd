//! The output handle. Human text and JSON documents go to stdout, notes and warnings to stderr.
//! Every write to stdout is checked: a reader that went away (`| head`) becomes
//! [`CommandError::BrokenPipe`], which ends the process quietly with exit 0; stderr is best
//! effort (there is nowhere left to complain to).

use super::command_error::CommandError;
use serde::Serialize;
use std::io::Write;

/// How to print.
pub struct Out {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub stderr_tty: bool,
}

impl Out {
    /// Human output on stdout (not with --json or --quiet).
    pub fn say(&self, text: impl AsRef<str>) -> Result<(), CommandError> {
        if self.json || self.quiet {
            return Ok(());
        }
        self.print(text)
    }

    /// A line on stdout whatever the flags: the product of the command (a new key).
    pub fn print(&self, text: impl AsRef<str>) -> Result<(), CommandError> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", text.as_ref()).map_err(CommandError::stdout)
    }

    /// Bytes on stdout whatever the flags (a man page, completions), flushed.
    pub fn raw(&self, bytes: &[u8]) -> Result<(), CommandError> {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(bytes)
            .and_then(|()| stdout.flush())
            .map_err(CommandError::stdout)
    }

    /// The JSON document of a reporting command (only with --json).
    pub fn json<T: Serialize>(&self, value: &T) -> Result<(), CommandError> {
        if !self.json {
            return Ok(());
        }
        let mut doc = serde_json::to_vec_pretty(value).map_err(std::io::Error::from)?;
        doc.push(b'\n');
        self.raw(&doc)
    }

    /// Flushes stdout (at the end of a command).
    pub fn flush(&self) -> Result<(), CommandError> {
        std::io::stdout().flush().map_err(CommandError::stdout)
    }

    /// A note or warning on stderr (not with --quiet).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", text.as_ref());
        }
    }

    /// A step, on stderr, with --verbose only.
    pub fn step(&self, text: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            let _ = writeln!(std::io::stderr(), "azs-backup: {}", text.as_ref());
        }
    }

    /// Whether progress bars may be drawn.
    pub fn progress(&self) -> bool {
        self.stderr_tty && !self.quiet
    }
}

//! The thin binary: parse, call the library, render. Human text goes to stdout, notes and
//! warnings to stderr, progress bars to stderr only on a terminal; `--json` prints exactly one
//! JSON document on stdout.

pub mod args;
mod auto;
mod commands;
pub mod exit;
mod input;
mod keys;
mod progress;
mod shared;

use anyhow::Result;
use args::Cli;
use clap::Parser;
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// How to print.
pub struct Out {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub stderr_tty: bool,
}

impl Out {
    /// Human output on stdout (not with --json or --quiet).
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json && !self.quiet {
            println!("{}", text.as_ref());
        }
    }

    /// A note or warning on stderr (not with --quiet).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A step, on stderr, with --verbose only.
    pub fn step(&self, text: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            eprintln!("azs-backup: {}", text.as_ref());
        }
    }

    /// The JSON document of a reporting command (only with --json).
    pub fn json<T: Serialize>(&self, value: &T) -> Result<()> {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, value)?;
            writeln!(stdout)?;
        }
        Ok(())
    }

    /// Whether progress bars may be drawn.
    pub fn progress(&self) -> bool {
        self.stderr_tty && !self.quiet
    }
}

/// Runs the program and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
        stderr_tty: std::io::stderr().is_terminal(),
    };
    match commands::run(cli, &out) {
        Ok(code) => code,
        Err(e) => {
            let (code, kind) = exit::classify(&e);
            let message = one_line(&e);
            if out.json {
                let doc = serde_json::json!({
                    "error": { "code": code, "kind": kind, "message": message }
                });
                eprintln!("{doc}");
            } else {
                eprintln!("azs-backup: error: {message}");
            }
            code
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg.replace('\n', " ")
}

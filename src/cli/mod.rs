//! The thin binary: parse, call the library, render. Human text goes to stdout, notes and
//! warnings to stderr, progress bars to stderr only on a terminal; `--json` prints exactly one
//! JSON document on stdout.
//!
//! Layout: `commands/` holds one file per subcommand (its clap arguments beside the function
//! that runs it and renders its output); `command_error.rs` maps every error to its exit code;
//! `out.rs` is the output handle; `render.rs`, `input.rs`, `shared.rs` and `progress.rs` are
//! the pieces several commands share.

mod command_error;
mod commands;
mod exit;
mod input;
mod out;
mod progress;
mod render;
mod shared;

use clap::Parser;
use commands::Cli;
use out::Out;
use std::io::IsTerminal;

/// Runs the program and returns the exit code.
pub fn main() -> i32 {
    #[cfg(feature = "smb")]
    {
        use azs_backup::store::smb::helper;
        // An upload's helper process (its protocol is on stdin and stdout; see helper.rs).
        if std::env::args_os().nth(1).as_deref() == Some(helper::HELPER_ARG.as_ref()) {
            return helper::serve();
        }
        if let Ok(me) = std::env::current_exe() {
            helper::set_helper_program(me);
        }
    }
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
    match commands::run(cli, &out).and_then(|code| out.flush().map(|()| code)) {
        Ok(code) => code,
        Err(e) => e.report(out.json),
    }
}

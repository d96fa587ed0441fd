//! `completions`: print shell completions.

use super::{Cli, Context};
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use clap::{Args, CommandFactory};

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// Shell
    pub shell: clap_complete::Shell,
}

pub fn run(ctx: &Context, a: CompletionsArgs) -> Result<i32, CommandError> {
    // Into memory first: clap_complete panics when its writer fails (a closed stdout).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "azs-backup", &mut script);
    ctx.out.raw(&script)?;
    Ok(exit::OK)
}

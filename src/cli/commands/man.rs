//! `man`: print the man page, or write every page into a directory.

use super::{Cli, Context};
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use azs_backup::Error;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write azs-backup.1 and one page per subcommand into this directory
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(ctx: &Context, a: ManArgs) -> Result<i32, CommandError> {
    match a.out_dir {
        None => ctx.out.raw(&render(Cli::command()))?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            for (name, page) in pages() {
                std::fs::write(dir.join(&name), page)
                    .map_err(|e| Error::io(format!("writing {name}"), e))?;
            }
        }
    }
    Ok(exit::OK)
}

/// One page, rendered in memory.
fn render(cmd: clap::Command) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .expect("render to memory");
    buf
}

/// Every man page: `azs-backup.1` and `azs-backup-<sub>.1`.
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![("azs-backup.1".to_string(), render(cmd.clone()))];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("azs-backup-{}", sub.get_name());
        pages.push((format!("{name}.1"), render(sub.clone().name(name.clone()))));
    }
    pages
}

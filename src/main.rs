//! The `azs-backup` binary: parses arguments, calls the library, renders results and maps
//! errors to the exit codes documented in README.md.

mod cli;

fn main() {
    std::process::exit(cli::main());
}

//! The `emergent` binary: parse the command line, run the command, report errors plainly.

use clap::Parser;
use train::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `emergent` binary: parse the command line, run the command, report errors plainly.

use clap::Parser;

/// Training allocates and frees large activation buffers every step; mimalloc keeps freed pages
/// for reuse instead of returning them to the OS (which costs a page fault per page next time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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

//! Shared by the command-line tests: run `emergent` in-process through the binary's entry point.

use clap::Parser;
use train::cli::{run, Cli};

/// What `emergent ARGS…` prints, or its error message.
pub fn emergent(args: &[&str]) -> Result<String, String> {
    let cli =
        Cli::try_parse_from(std::iter::once("emergent").chain(args.iter().copied())).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(cli, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

/// [`emergent`] with the arguments in one line, split at whitespace (paths must have none).
#[allow(dead_code)] // not every test file uses it
pub fn emergent_line(line: &str) -> Result<String, String> {
    emergent(&line.split_whitespace().collect::<Vec<_>>())
}

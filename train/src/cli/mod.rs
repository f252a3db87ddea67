//! The `emergent` command line: one file per command, each a clap `Args` struct and its `run`.

mod forward;
mod tokenize;

use clap::{Parser, Subcommand};

pub use forward::ForwardArgs;
pub use tokenize::TokenizeArgs;

/// emergent: a from-scratch deep-learning engine — GPT-2 models, tokenizers, training.
#[derive(Debug, Parser)]
#[command(name = "emergent", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an HF-format GPT-2 checkpoint on token ids from a .npy file and write the logits.
    Forward(ForwardArgs),
    /// GPT-2 token ids of a text (as a JSON list), or with --decode the text of a JSON list of ids.
    Tokenize(TokenizeArgs),
}

/// Runs a parsed command line; what it prints goes to `out`.
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> crate::Result<()> {
    match cli.command {
        Command::Forward(args) => forward::run(&args, out),
        Command::Tokenize(args) => tokenize::run(&args, out),
    }
}

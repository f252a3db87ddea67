//! `emergent tokenize`: text → GPT-2 ids (JSON) and back.

use crate::error::{Result, TrainError};
use crate::tokenizer::{Gpt2Tokenizer, Tokenizer};
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Folder with vocab.json and merges.txt.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Decode: TEXT is a JSON list of ids; print their text.
    #[arg(long)]
    pub decode: bool,
    /// The text to encode (or with --decode the JSON ids); `-` reads standard input byte for byte.
    pub text: String,
}

pub fn run(args: &TokenizeArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let tokenizer = Gpt2Tokenizer::load(&args.vocab)?;
    let input = if args.text == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| TrainError::io(std::path::Path::new("<stdin>"), e))?;
        String::from_utf8(bytes).map_err(|e| {
            TrainError::Invalid(format!("standard input is not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()))
        })?
    } else {
        args.text.clone()
    };
    let io = |e| TrainError::io(std::path::Path::new("<stdout>"), e);
    if args.decode {
        let ids: Vec<u32> = serde_json::from_str(&input)
            .map_err(|e| TrainError::Invalid(format!("--decode expects a JSON list of ids like [15496, 995]: {e}")))?;
        writeln!(out, "{}", tokenizer.decode(&ids)?).map_err(io)
    } else {
        let ids = tokenizer.encode(&input)?;
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "[{}]", list.join(", ")).map_err(io)
    }
}

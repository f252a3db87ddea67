//! `train`: what turns a model into a trained model — optimizers, tokenizers, and the `emergent`
//! command line.

pub mod cli;
mod error;
pub mod npy;
pub mod optim;
pub mod tokenizer;

pub use error::{Result, TrainError};

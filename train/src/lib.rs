//! `train`: what turns a model into a trained model — optimizers, tokenizers, and the `emergent`
//! command line.

pub mod bert;
pub mod cli;
pub mod data;
pub mod distributed;
mod error;
pub mod fit;
pub mod lab;
pub mod metrics;
pub mod npy;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod scores;
pub mod tokenizer;
pub mod trainer;
pub mod translate;

pub use error::{Result, TrainError};

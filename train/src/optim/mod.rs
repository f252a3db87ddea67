//! Optimizers (F8): gradient descent and its adaptive variants, stepping a model's [`Params`].

mod adamw;

pub use adamw::AdamW;

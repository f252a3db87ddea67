//! Walkthroughs and demos of the emergent engine. Each program in `examples/` is a thin `main`
//! around a function here, so the same code is tested.

pub mod attention_walkthrough;
pub mod backprop_walkthrough;
pub mod xor;

/// README.md's code blocks run as doctests, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

//! The emergence lab (F17): experiments on abilities that appear abruptly, small enough for a laptop.
//!
//! - [`scaling`]: sweeps model size, training budget and seed on the arithmetic tasks; shows exact
//!   match jumping where per-token metrics climb smoothly (the "mirage" of Schaeffer et al. 2023) and
//!   fits power laws of loss against parameters and compute.
//! - [`grokking`]: delayed generalisation on modular addition (Power et al. 2022).

pub mod fit;
pub mod grokking;
mod plots;
mod report;
pub mod scaling;
pub mod summary;
pub mod sweep;

pub use grokking::{run_grokking, GrokkingConfig, GrokkingSummary};
pub use scaling::run_lab;
pub use sweep::{ModelSize, RunSpec, SweepConfig, SweepPoint};

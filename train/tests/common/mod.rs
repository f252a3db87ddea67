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

/// Runs `run` with GPU 0's kernel profile on: its result, and the names of the kernels (and library
/// calls) it launched there — to check that a run said to be on the GPU ran there. The profile is
/// the process's: such runs take turns.
#[allow(dead_code)] // only the GPU tests use it
pub fn kernels_launched<R>(run: impl FnOnce() -> R) -> (R, Vec<String>) {
    static PROFILE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
    use tensor::{kernel_profile, Device};
    kernel_profile::profile_kernels(Device::Cuda(0), true).unwrap();
    let result = run();
    kernel_profile::profile_kernels(Device::Cuda(0), false).unwrap();
    (result, kernel_profile::kernel_times(Device::Cuda(0)).unwrap().into_iter().map(|k| k.name).collect())
}

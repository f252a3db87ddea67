//! The `emergent` binary: parse the command line, run the command, report errors plainly.

use clap::Parser;

use train::cli::{run, Cli};

/// Training allocates and frees large activation and gradient buffers every step; mimalloc keeps
/// freed pages for reuse instead of returning them to the OS (which costs a zeroed page fault per
/// page the next time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the enum's index in mimalloc 2 and 3; libmimalloc-sys 0.1.49
/// has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed memory back to the OS: the next step needs the same buffers again. Without
/// this, a third of a GPT-2 124M step went into zeroing freshly faulted pages.
fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option; valid at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    match run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

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

/// The stack of each worker thread, the command's among them (more than the main thread's usual
/// 8 MiB; only what is touched is committed).
const STACK_BYTES: usize = 64 << 20;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    // The command runs on a thread of the pool that runs its parallel work: from the main thread,
    // every parallel op would hand its work to the pool's threads and wait, one more thread beside
    // as many as there are cores (measured 8% slower training steps on 2 vCPUs, fp32 and bf16).
    if let Err(e) = rayon::ThreadPoolBuilder::new().stack_size(STACK_BYTES).build_global() {
        eprintln!("error: cannot start the worker threads: {e}");
        return std::process::ExitCode::FAILURE;
    }
    // `rayon::scope` runs its closure on one of the pool's threads; this one waits.
    match rayon::scope(|_| run(cli, &mut std::io::stdout().lock())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `tbx` binary: everything lives in the library; this maps the result
//! to the process exit code.

use std::process::ExitCode;

/// The static Linux build links musl, whose allocator serialises threads and
/// made runs 2-3x slower than glibc's (docs/performance.md, "Binary size and
/// targets"); mimalloc brings it back to par. Other targets keep the system
/// allocator, which is already fast there.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(tbx::cli::main())
}

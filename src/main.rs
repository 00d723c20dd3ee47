//! The `tbx` binary: everything lives in the library; this maps the result
//! to the process exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(tbx::cli::main())
}

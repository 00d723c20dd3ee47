//! Exit codes, as tbx uses them, so scripts that branch on them keep working.

/// The run finished.
pub const SUCCESS: u8 = 0;
/// The run could not start (e.g. the job folder cannot be created).
pub const STARTUP: u8 = 2;
/// `watch -once -exit-code`: at least one change alerted (as `git diff
/// --exit-code` says a difference).
pub const ALERTED: u8 = 1;
/// Ctrl-C or another interruption.
pub const INTERRUPTED: u8 = 4;
/// The command ran and failed (API, network, file errors).
pub const FAILURE: u8 = 8;
/// No such command.
pub const INVALID_COMMAND: u8 = 9;
/// A bad option or option value.
pub const INVALID_OPTIONS: u8 = 10;
/// No usable credential, or the API refused it.
pub const AUTH_FAILED: u8 = 11;

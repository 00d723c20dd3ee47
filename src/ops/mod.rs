//! The work behind the commands, callable without a command line: a CLI
//! recipe, a watcher and an MCP tool call the same functions here. An op
//! takes validated, typed inputs and an observer for progress, talks to the
//! API and the event store, and returns typed results. It never prints,
//! never opens a job folder and knows nothing of clap.

pub mod device_status;
pub mod watch;

//! tbx: a Rust re-implementation of the watermint toolbox command
//! `tbx dropbox team backup device status`, with its own Dropbox API
//! simulator. argv → `cli` → `recipes` (one per command) → `ops` (the work)
//! → `store` / `report` / `dropbox` → `domain`; docs/architecture.md maps
//! the layers and `tests/architecture.rs` keeps imports pointing down.

// A panic is a bug (exit 8 at best): product code handles every failure.
// A function over 80 lines (clippy.toml) is a story to split.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::too_many_lines
    )
)]

pub mod build_info;
pub mod cli;
pub mod domain;
pub mod dropbox;
pub mod job;
pub mod notify;
pub mod ops;
pub mod options;
pub mod private_file;
pub mod recipes;
pub mod report;
pub mod sim;
pub mod store;

//! Recipes: one file per command, mirroring tbx's command path
//! (`recipes/dropbox/team/backup/device/status.rs` is
//! `tbx dropbox team backup device status`). Each declares its options and
//! reads top-down as the story of its command.

pub mod config;
pub mod dev;
pub mod dropbox;
pub mod license;
pub mod mcp;
pub mod session;
pub mod version;

//! `tbx dropbox ...`
pub mod team;

//! `tbx dropbox team backup device ...`
pub mod status;
pub mod watch;

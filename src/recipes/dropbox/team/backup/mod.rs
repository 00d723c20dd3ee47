//! `tbx dropbox team backup ...`
pub mod device;

//! `tbx dropbox team ...`
pub mod backup;

//! `tbx config ...`
pub mod auth;

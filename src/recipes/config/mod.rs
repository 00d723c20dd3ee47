//! `tbx config ...`
pub mod auth;
pub mod cache;

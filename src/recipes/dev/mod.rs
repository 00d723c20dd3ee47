//! `tbx dev ...`: the API simulator and the demo built on it.
pub mod baseline;
pub mod bench;
pub mod demo;
pub mod micro;
pub mod simulate;

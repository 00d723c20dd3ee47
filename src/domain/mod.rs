//! Pure domain logic: the reporting period, backup statuses, the record of
//! one backup status change, the fold that picks each device's latest
//! status, and the report rows. Nothing here does I/O, reads the clock or
//! knows about HTTP; callers pass plain data in.

pub mod change;
pub mod fold;
pub mod history;
pub mod latest;
pub mod period;
pub mod row;
pub mod select;
pub mod status;
pub mod summary;
pub mod watch;

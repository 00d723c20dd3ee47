//! The Dropbox API client: one transport and its retry policy, and one
//! module per API area with typed serde models. It knows nothing about
//! reports; it hands domain values (`LinkedDevice`, `BackupChange`, `Owner`)
//! back to the recipe.

pub mod auth;
pub mod backup_event;
pub mod bandwidth;
pub mod devices;
pub mod error;
mod lenient;
pub mod members;
pub mod paging;
mod retry;
pub mod team;
pub mod team_log;
pub mod transport;
mod union;

pub use error::ApiError;
pub use transport::{CallObserver, Transport, TransportConfig};

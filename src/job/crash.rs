//! What a panic report needs that only exists elsewhere: where the latest
//! panic happened (recorded by the command line's panic hook, before the
//! panic unwinds, so the job log can say it while the job is dropped), and
//! what became of the latest job's log (recorded when the job ends during
//! that unwinding, so the one line on stderr can name it).

use std::sync::Mutex;

use super::{lock, JobLog};

/// Where and why a panic happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicNote {
    /// `file:line:column`.
    pub at: String,
    pub message: String,
}

static LAST_PANIC: Mutex<Option<PanicNote>> = Mutex::new(None);
static LAST_LOG: Mutex<Option<JobLog>> = Mutex::new(None);

/// Called by the panic hook: the latest panic wins (one that is caught and
/// handled, such as the XLSX writer's on a full disk, is simply replaced).
pub fn record_panic(note: PanicNote) {
    *lock(&LAST_PANIC) = Some(note);
}

pub fn last_panic() -> Option<PanicNote> {
    lock(&LAST_PANIC).clone()
}

pub(super) fn set_last_log(log: Option<JobLog>) {
    *lock(&LAST_LOG) = log;
}

/// The log of the job that ended last in this process (`None` when it
/// wrote none, or no job ended).
pub fn last_job_log() -> Option<JobLog> {
    lock(&LAST_LOG).clone()
}

/// The text of a panic payload (`panic!` with a literal or a format).
pub fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

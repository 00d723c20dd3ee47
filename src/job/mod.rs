//! The job folder: `<home>/jobs/<job-id>/{reports,logs}`, where the home is
//! `-workspace`, else `TOOLBOX_HOME`, else `~/.toolbox`; and the job log
//! (`logs/toolbox.log`, JSON lines) that records what the run did and where
//! it stopped. Nothing secret is ever passed to the log.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Local};
use serde_json::{json, Value};
use thiserror::Error;

pub const ENV_HOME: &str = "TOOLBOX_HOME";

#[derive(Debug, Error)]
pub enum JobError {
    #[error("cannot find the home folder; set {ENV_HOME} or pass -workspace PATH")]
    NoHome,
    #[error("cannot create the job folder under {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
}

/// The toolbox home: `-workspace`, else `TOOLBOX_HOME`, else `~/.toolbox`.
pub fn resolve_home(workspace: Option<&Path>) -> Result<PathBuf, JobError> {
    if let Some(path) = workspace {
        return Ok(path.to_path_buf());
    }
    if let Some(home) = std::env::var_os(ENV_HOME).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().join(".toolbox"))
        .ok_or(JobError::NoHome)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

pub struct Job {
    pub id: String,
    pub dir: PathBuf,
    pub reports: PathBuf,
    pub logs: PathBuf,
    log: Option<Mutex<BufWriter<File>>>,
    min_level: Level,
    ended: AtomicBool,
}

/// The job id format: local time to the millisecond, as tbx
/// (`20190909-115959.597`).
pub fn job_id(at: DateTime<Local>) -> String {
    at.format("%Y%m%d-%H%M%S%.3f").to_string()
}

impl Job {
    /// Creates a fresh job folder. Two runs started in the same millisecond
    /// get different ids: the folder is created exclusively and the id moves
    /// on by a millisecond until one is free.
    pub fn create(home: &Path, write_log: bool, debug: bool) -> Result<Job, JobError> {
        let jobs = home.join("jobs");
        let create_error = |source| JobError::Create {
            path: jobs.clone(),
            source,
        };
        fs::create_dir_all(&jobs).map_err(create_error)?;
        let mut at = Local::now();
        let (id, dir) = loop {
            let id = job_id(at);
            let dir = jobs.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => break (id, dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    at += Duration::milliseconds(1);
                }
                Err(e) => return Err(create_error(e)),
            }
        };
        let reports = dir.join("reports");
        let logs = dir.join("logs");
        fs::create_dir_all(&reports).map_err(create_error)?;
        let log = if write_log {
            fs::create_dir_all(&logs).map_err(create_error)?;
            let file = File::create(logs.join("toolbox.log")).map_err(create_error)?;
            Some(Mutex::new(BufWriter::new(file)))
        } else {
            None
        };
        Ok(Job {
            id,
            dir,
            reports,
            logs,
            log,
            min_level: if debug { Level::Debug } else { Level::Info },
            ended: AtomicBool::new(false),
        })
    }

    /// Appends one JSON line: time, level, message, and `fields` (an object).
    pub fn log(&self, level: Level, message: &str, fields: Value) {
        if level < self.min_level {
            return;
        }
        let Some(log) = &self.log else { return };
        let mut entry = json!({
            "time": Local::now().to_rfc3339(),
            "level": level.as_str(),
            "msg": message,
        });
        if let (Some(entry), Value::Object(fields)) = (entry.as_object_mut(), fields) {
            entry.extend(fields);
        }
        if let Ok(mut out) = log.lock() {
            let _ = serde_json::to_writer(&mut *out, &entry);
            let _ = out.write_all(b"\n");
        }
    }

    /// Marks the run as ended (finished or failed, with its own log entry).
    pub fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.flush();
    }

    pub fn log_path(&self) -> Option<PathBuf> {
        self.log.as_ref().map(|_| self.logs.join("toolbox.log"))
    }

    pub fn flush(&self) {
        if let Some(log) = &self.log {
            if let Ok(mut out) = log.lock() {
                let _ = out.flush();
            }
        }
    }
}

impl Drop for Job {
    /// A job dropped before `end` was cut short (Ctrl-C drops the run's
    /// future); the log says so, after the last step it reached.
    fn drop(&mut self) {
        if !self.ended.load(Ordering::SeqCst) {
            self.log(Level::Warn, "interrupted", serde_json::json!({}));
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn job_id_is_local_time_to_the_millisecond() {
        let at =
            Local.with_ymd_and_hms(2019, 9, 9, 11, 59, 59).unwrap() + Duration::milliseconds(597);
        assert_eq!(job_id(at), "20190909-115959.597");
    }

    #[test]
    fn parallel_jobs_get_distinct_folders() {
        let home = std::env::temp_dir().join(format!("tbx-job-test-{}", std::process::id()));
        let jobs: Vec<Job> = (0..20)
            .map(|_| Job::create(&home, true, false).unwrap())
            .collect();
        let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        assert!(jobs.iter().all(|j| j.reports.is_dir()));
        drop(jobs);
        let _ = fs::remove_dir_all(home);
    }
}

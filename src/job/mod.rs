//! The job folder: `<home>/jobs/<job-id>/{reports,logs}`, where the home is
//! `-workspace`, else `TOOLBOX_HOME`, else `~/.toolbox`; the job log
//! (`logs/toolbox.log`, JSON lines) that records what the run did and where
//! it stopped; and the capture log (`logs/capture.log`, one line per API
//! call). Both are gzipped when the run ends; a long-running command can
//! have them rotated as they grow (`Rotation`). Nothing secret is ever
//! passed to either: callers hand over no headers, and keys that name a
//! secret are redacted from anything captured.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Local};
use serde_json::{json, Value};
use thiserror::Error;

pub mod crash;

pub const ENV_HOME: &str = "TOOLBOX_HOME";

#[derive(Debug, Error)]
pub enum JobError {
    #[error("cannot find the home folder; set {ENV_HOME} or pass -workspace PATH")]
    NoHome,
    #[error("cannot create the job folder under {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
}

/// The toolbox home: `-workspace`, else `TOOLBOX_HOME`, else `.toolbox` in
/// the user's home (`%USERPROFILE%` on Windows, `$HOME` elsewhere).
pub fn resolve_home(workspace: Option<&Path>) -> Result<PathBuf, JobError> {
    let chosen = if let Some(path) = workspace {
        path.to_path_buf()
    } else if let Some(home) = std::env::var_os(ENV_HOME).filter(|v| !v.is_empty()) {
        PathBuf::from(home)
    } else {
        directories::BaseDirs::new()
            .map(|dirs| dirs.home_dir().join(".toolbox"))
            .ok_or(JobError::NoHome)?
    };
    Ok(native_absolute(chosen))
}

/// Report paths are printed for people to open or paste: absolute, and on
/// Windows with backslashes even when the option was typed as `C:/x/y`
/// (`std::path::absolute` asks GetFullPathNameW there, which normalises).
fn native_absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
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

/// What the job writes besides reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// `toolbox.log` at all (`-skip-logging` turns it off).
    pub write_log: bool,
    /// Debug entries (`-debug`).
    pub debug: bool,
    /// `capture.log` (off with `-budget-storage low`).
    pub capture: bool,
    /// Stop writing `toolbox.log` past this many bytes.
    pub max_log_bytes: Option<u64>,
    /// Rotate `toolbox.log` and `capture.log` as they grow (long-running
    /// commands); `None`: one file each, as a run has.
    pub rotate: Option<Rotation>,
}

/// Log rotation: once a log would pass `max_bytes`, its content moves to
/// `<name>.1.gz` (the older ones shift to `.2.gz` and on, at most `keep`
/// of them) and the log starts again empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: usize,
}

/// A log file with a running size, for the cap, and what could not be
/// written: a full disk must not lose the log silently.
struct LogFile {
    out: BufWriter<File>,
    path: PathBuf,
    /// Bytes in the current file, for rotation.
    written: u64,
    /// Bytes over all files, for the cap.
    total: u64,
    capped: bool,
    rotate: Option<Rotation>,
    /// The size at which the next rotation is tried: `max_bytes`, or more
    /// after a failed one, so a full disk is not retried on every line.
    rotate_at: u64,
    /// Whether `<name>.1.gz` has been written.
    rotated: bool,
    /// The first error that lost an entry, if any. Writes go on after one:
    /// space freed later (a failed report removed) lets the final entries
    /// in. (A failed flush loses nothing: the writer keeps its buffer.)
    error: Option<String>,
}

/// What became of the job log, for the line that names it on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobLog {
    /// Every entry is at `path` (gzipped, or plain when the disk had no
    /// room left to compress it).
    Kept(PathBuf),
    /// Some entries could not be written; what could is at `path`.
    Incomplete { path: PathBuf, error: String },
    /// Nothing could be written; the empty file was removed.
    Lost { path: PathBuf, error: String },
}

impl std::fmt::Display for JobLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobLog::Kept(path) => write!(f, "job log: {}", path.display()),
            JobLog::Incomplete { path, error } => {
                write!(f, "job log: {}, incomplete: {error}", path.display())
            }
            JobLog::Lost { path, error } => {
                write!(f, "no job log: cannot write {}: {error}", path.display())
            }
        }
    }
}

pub struct Job {
    pub id: String,
    pub dir: PathBuf,
    pub reports: PathBuf,
    pub logs: PathBuf,
    /// Open until `end`, which closes them before gzipping: Windows can
    /// neither delete nor remove the folder of a file that is still open.
    log: Mutex<Option<LogFile>>,
    capture: Mutex<Option<LogFile>>,
    options: LogOptions,
    ended: AtomicBool,
    /// Set by `end`: where the job log ended up.
    outcome: Mutex<Option<JobLog>>,
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
    pub fn create(home: &Path, options: LogOptions) -> Result<Job, JobError> {
        let jobs = home.join("jobs");
        let create_error = |source| JobError::Create {
            path: jobs.clone(),
            source,
        };
        fs::create_dir_all(&jobs).map_err(create_error)?;
        // A panic from here on names this job's log, not an earlier one's.
        crash::set_last_log(None);
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
        let open = |name: &str| -> Result<LogFile, JobError> {
            fs::create_dir_all(&logs).map_err(create_error)?;
            let path = logs.join(name);
            let file = File::create(&path).map_err(create_error)?;
            Ok(LogFile {
                out: BufWriter::new(file),
                path,
                written: 0,
                total: 0,
                capped: false,
                rotate: options.rotate,
                rotate_at: options.rotate.map_or(0, |r| r.max_bytes),
                rotated: false,
                error: None,
            })
        };
        let log = if options.write_log {
            Some(open("toolbox.log")?)
        } else {
            None
        };
        let capture = if options.write_log && options.capture {
            Some(open("capture.log")?)
        } else {
            None
        };
        Ok(Job {
            id,
            dir,
            reports,
            logs,
            log: Mutex::new(log),
            capture: Mutex::new(capture),
            options,
            ended: AtomicBool::new(false),
            outcome: Mutex::new(None),
        })
    }

    /// Appends one JSON line: time, level, message, and `fields` (an object).
    pub fn log(&self, level: Level, message: &str, fields: Value) {
        #[cfg(debug_assertions)]
        panic_if_asked(message, &fields);
        let min_level = if self.options.debug {
            Level::Debug
        } else {
            Level::Info
        };
        if level < min_level {
            return;
        }
        let mut entry = json!({
            "time": Local::now().to_rfc3339(),
            "level": level.as_str(),
            "msg": message,
        });
        if let (Some(entry), Value::Object(fields)) = (entry.as_object_mut(), fields) {
            entry.extend(fields);
        }
        write_line(&self.log, &entry, self.options.max_log_bytes);
    }

    /// Appends one API call to the capture log, secrets redacted.
    pub fn capture(&self, mut call: Value) {
        if !self.options.capture {
            return;
        }
        redact(&mut call);
        if let Some(entry) = call.as_object_mut() {
            entry.insert("time".into(), json!(Local::now().to_rfc3339()));
        }
        write_line(&self.capture, &call, None);
    }

    /// Where the job log is, or, once the run ended, what became of it;
    /// `None` with `-skip-logging`.
    pub fn job_log(&self) -> Option<JobLog> {
        if !self.options.write_log {
            return None;
        }
        let ended = lock(&self.outcome).clone();
        Some(ended.unwrap_or_else(|| JobLog::Kept(self.logs.join("toolbox.log"))))
    }

    pub fn flush(&self) {
        flush_log(&self.log);
        flush_log(&self.capture);
    }

    /// Marks the run as ended (finished or failed, with its own log entry),
    /// closes the logs and gzips them. Later entries are dropped.
    pub fn end(&self) {
        if self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        // On a full disk the job log matters more than the capture log,
        // whose space it may then have.
        let capture_path = self.logs.join("capture.log");
        if !flush_log(&self.log) && discard_log(&self.capture, &capture_path) {
            let note = "capture log removed: the disk is full and the job log needs the room";
            self.log(Level::Warn, note, json!({}));
        }
        // The capture log first, so the job log can say it is incomplete.
        let capture = close_log(&self.capture, &capture_path);
        if let Some(JobLog::Incomplete { error, .. } | JobLog::Lost { error, .. }) = capture {
            self.log(
                Level::Warn,
                "capture log incomplete",
                json!({ "error": error }),
            );
        }
        let log = close_log(&self.log, &self.logs.join("toolbox.log"));
        crash::set_last_log(log.clone());
        *lock(&self.outcome) = log;
    }

    /// Deletes the whole job folder (`-retain-job-data`).
    pub fn remove(&self) -> io::Result<()> {
        fs::remove_dir_all(&self.dir)
    }
}

/// Debug builds only (tests run them; release builds have no such switch):
/// `TBX_DEBUG_PANIC_AT_STEP=<step>` panics when the run logs that step, so
/// a test can check how a panic mid-run ends.
#[cfg(debug_assertions)]
#[allow(clippy::panic)]
fn panic_if_asked(message: &str, fields: &Value) {
    if message != "step" {
        return;
    }
    let asked = std::env::var("TBX_DEBUG_PANIC_AT_STEP").ok();
    let step = fields.get("step").and_then(Value::as_str);
    if asked.is_some() && asked.as_deref() == step {
        panic!("panic requested at step {step:?} (TBX_DEBUG_PANIC_AT_STEP)");
    }
}

/// Locks a log even after a panic while it was held: closing it matters
/// more than whatever line that panic cut short.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_line(file: &Mutex<Option<LogFile>>, entry: &Value, cap: Option<u64>) {
    let mut guard = lock(file);
    let Some(f) = guard.as_mut() else { return };
    if f.capped {
        return;
    }
    let mut line = serde_json::to_vec(entry).unwrap_or_default();
    line.push(b'\n');
    if let Some(cap) = cap {
        if f.total + line.len() as u64 > cap {
            f.capped = true;
            line = format!(
                "{{\"level\":\"warn\",\"msg\":\"log size limit of {cap} bytes reached (-budget-storage low); later entries are not written\"}}\n"
            )
            .into_bytes();
        }
    }
    if let Some(rotation) = f.rotate {
        if f.written > 0 && f.written + line.len() as u64 > f.rotate_at {
            rotate_log(f, rotation);
        }
    }
    write_bytes(f, &line);
}

fn write_bytes(f: &mut LogFile, line: &[u8]) {
    match f.out.write_all(line) {
        Ok(()) => {
            f.written += line.len() as u64;
            f.total += line.len() as u64;
        }
        Err(e) => {
            f.error.get_or_insert_with(|| e.to_string());
        }
    }
}

/// `<log>.<n>.gz`, the n-th newest rotated copy of a log.
fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}.gz"));
    PathBuf::from(name)
}

/// Moves what the log holds to `<log>.1.gz` and empties it. The live file
/// stays open and is emptied through its own handle (Windows can neither
/// rename nor delete an open file), and only once its gzipped copy is in
/// place: a failure at any step leaves every entry in some file, and the
/// log goes on in the current one, with a note, until it has grown by
/// another `max_bytes`.
fn rotate_log(f: &mut LogFile, rotation: Rotation) {
    match try_rotate(f, rotation) {
        Ok(()) => {
            f.written = 0;
            f.rotate_at = rotation.max_bytes;
            f.rotated |= rotation.keep > 0;
        }
        Err(e) => {
            f.rotate_at = f.written.saturating_add(rotation.max_bytes);
            let note = json!({
                "time": Local::now().to_rfc3339(),
                "level": "warn",
                "msg": "log rotation failed; the log goes on in this file",
                "error": e.to_string(),
            });
            let mut line = serde_json::to_vec(&note).unwrap_or_default();
            line.push(b'\n');
            write_bytes(f, &line);
        }
    }
}

fn try_rotate(f: &mut LogFile, rotation: Rotation) -> io::Result<()> {
    f.out.flush()?;
    if rotation.keep > 0 {
        let mut pending = f.path.as_os_str().to_owned();
        pending.push(".rotating");
        let pending = PathBuf::from(pending);
        // Both handles of the copy are closed when `gzip_to` returns.
        let copied =
            gzip_to(&f.path, &pending).and_then(|()| shift_rotated(&f.path, rotation.keep));
        let placed = copied.and_then(|()| fs::rename(&pending, rotated_path(&f.path, 1)));
        if let Err(e) = placed {
            let _ = fs::remove_file(&pending);
            return Err(e);
        }
    }
    // Should emptying fail now, the entries are in both files: repeated,
    // not lost.
    let file = f.out.get_mut();
    file.set_len(0)?;
    file.seek(io::SeekFrom::Start(0))?;
    Ok(())
}

/// Makes room for a new `.1.gz`: the oldest kept copy goes, the others
/// move one up.
fn shift_rotated(path: &Path, keep: usize) -> io::Result<()> {
    match fs::remove_file(rotated_path(path, keep)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for n in (1..keep).rev() {
        match fs::rename(rotated_path(path, n), rotated_path(path, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Writes out what a log holds in memory; false when the disk refused (the
/// writer keeps it for another try).
fn flush_log(file: &Mutex<Option<LogFile>>) -> bool {
    lock(file).as_mut().is_none_or(|f| f.out.flush().is_ok())
}

/// Deletes a log, unwritten; false when there was none.
fn discard_log(file: &Mutex<Option<LogFile>>, path: &Path) -> bool {
    let Some(open) = lock(file).take() else {
        return false;
    };
    drop(open.out.into_parts());
    let _ = fs::remove_file(path);
    true
}

/// Closes the log at `path` and gzips it; says what became of it. A disk
/// too full to take a line or the compressed copy still leaves what could
/// be written, and an empty file that should have had entries is removed
/// (`JobLog::Lost`) rather than left to look like a quiet run.
fn close_log(file: &Mutex<Option<LogFile>>, path: &Path) -> Option<JobLog> {
    let mut open = lock(file).take()?;
    let flushed = open.out.flush();
    let error = open.error.take().or(flushed.err().map(|e| e.to_string()));
    // Without flushing again: what the disk refused is given up, not
    // retried half-way by the writer's drop.
    drop(open.out.into_parts());
    let path = path.to_path_buf();
    let empty = fs::metadata(&path).map_or(true, |m| m.len() == 0);
    if let (Some(error), true) = (&error, empty) {
        let _ = fs::remove_file(&path);
        let error = error.clone();
        if open.rotated {
            // Entries were written, to the rotated copies.
            let path = rotated_path(&path, 1);
            return Some(JobLog::Incomplete { path, error });
        }
        return Some(JobLog::Lost { path, error });
    }
    let kept = gzip_in_place(&path).unwrap_or(path);
    Some(match error {
        None => JobLog::Kept(kept),
        Some(error) => JobLog::Incomplete { path: kept, error },
    })
}

/// Keys whose values are never written to a log.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "authorization",
        "password",
        "code_verifier",
        "code",
    ]
    .iter()
    .any(|s| key == *s || key.ends_with(&format!("_{s}")) || key.contains("token"))
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) {
                    *v = json!("(redacted)");
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Replaces `path` with `path.gz` and returns the new path; on failure
/// (a full disk) removes the partial copy and leaves `path` as it was.
fn gzip_in_place(path: &Path) -> io::Result<PathBuf> {
    let mut target = path.as_os_str().to_owned();
    target.push(".gz");
    let target = PathBuf::from(target);
    gzip_to(path, &target)?;
    fs::remove_file(path)?;
    Ok(target)
}

/// Writes a gzipped copy of `path` to `target`; on failure (a full disk)
/// removes the partial copy. Both handles are closed once it returns:
/// Windows refuses to rename or delete an open file.
fn gzip_to(path: &Path, target: &Path) -> io::Result<()> {
    let compress = || -> io::Result<()> {
        let mut input = File::open(path)?;
        let output = File::create(target)?;
        let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
        io::copy(&mut input, &mut encoder)?;
        encoder.finish()?.sync_all()
    };
    compress().inspect_err(|_| {
        let _ = fs::remove_file(target);
    })
}

impl Drop for Job {
    /// A job dropped before `end` was cut short (Ctrl-C or another stop
    /// signal drops the run's future, a panic unwinds through it); the log
    /// says so, after the last step it reached.
    fn drop(&mut self) {
        if !self.ended.load(Ordering::SeqCst) {
            if std::thread::panicking() {
                let (at, message) = crash::last_panic()
                    .map(|p| (p.at, p.message))
                    .unwrap_or_default();
                self.log(
                    Level::Error,
                    "internal error (panic)",
                    json!({ "at": at, "panic": message }),
                );
            } else {
                self.log(Level::Warn, "interrupted", json!({}));
            }
            self.end();
        }
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

    const LOGS: LogOptions = LogOptions {
        write_log: true,
        debug: false,
        capture: true,
        max_log_bytes: None,
        rotate: None,
    };

    fn gunzip(path: &Path) -> String {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// The `i` of each entry, checking every line is JSON.
    fn entries(text: &str) -> Vec<u64> {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter_map(|v| v["i"].as_u64())
            .collect()
    }

    fn rotating(max_bytes: u64, keep: usize) -> LogOptions {
        LogOptions {
            rotate: Some(Rotation { max_bytes, keep }),
            ..LOGS
        }
    }

    #[test]
    fn a_rotated_log_keeps_the_newest_copies_gzipped() {
        let home = tempfile::tempdir().unwrap();
        let job = Job::create(home.path(), rotating(1_000, 3)).unwrap();
        // About 80 bytes an entry: a dozen rotations.
        for i in 0..150 {
            job.log(Level::Info, "entry", json!({"i": i}));
            job.capture(json!({"route": "x", "i": i, "access_token": "s3cr3t"}));
        }
        job.flush();
        for name in ["toolbox.log", "capture.log"] {
            let live = job.logs.join(name);
            let size = fs::metadata(&live).unwrap().len();
            assert!(size > 0 && size <= 1_000, "{name}: {size}");
            let mut newer = entries(&fs::read_to_string(&live).unwrap());
            assert_eq!(newer.last(), Some(&149));
            for n in 1..=3 {
                let text = gunzip(&rotated_path(&live, n));
                assert!(!text.contains("s3cr3t") && text.len() <= 1_000);
                let older = entries(&text);
                assert!(!older.is_empty(), "{name}.{n}.gz");
                // Newest first, nothing lost between two copies.
                assert_eq!(older.last().unwrap() + 1, newer[0], "{name}.{n}.gz");
                newer = older;
            }
            assert!(!rotated_path(&live, 4).exists(), "{name}: keep 3");
        }
        let names: Vec<String> = fs::read_dir(&job.logs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 8, "{names:?}");
        job.end();
        let last = entries(&gunzip(&job.logs.join("toolbox.log.gz")));
        assert_eq!(last.last(), Some(&149));
        assert!(!job.logs.join("toolbox.log").exists());
    }

    #[test]
    fn a_failed_rotation_goes_on_in_the_current_file() {
        let home = tempfile::tempdir().unwrap();
        let job = Job::create(home.path(), rotating(500, 2)).unwrap();
        // The gzipped copy cannot be created where a folder is.
        fs::create_dir(job.logs.join("toolbox.log.rotating")).unwrap();
        for i in 0..40 {
            job.log(Level::Info, "entry", json!({"i": i}));
        }
        job.flush();
        let text = fs::read_to_string(job.logs.join("toolbox.log")).unwrap();
        assert_eq!(entries(&text), (0..40).collect::<Vec<_>>());
        let notes = text.matches("log rotation failed").count();
        // Tried again once the file grew by another 500 bytes, not per line.
        assert!(notes >= 2 && notes <= text.len() / 500, "{notes}: {text}");
        assert!(!rotated_path(&job.logs.join("toolbox.log"), 1).exists());
        fs::remove_dir(job.logs.join("toolbox.log.rotating")).unwrap();
        let first = rotated_path(&job.logs.join("toolbox.log"), 1);
        let mut i = 40;
        while !first.exists() && i < 100 {
            job.log(Level::Info, "entry", json!({"i": i}));
            i += 1;
        }
        let first = entries(&gunzip(&first));
        assert_eq!(first, (0..first.len() as u64).collect::<Vec<_>>());
        assert!(first.len() >= 40);
    }

    #[test]
    fn the_cap_counts_every_rotated_byte() {
        let home = tempfile::tempdir().unwrap();
        let options = LogOptions {
            max_log_bytes: Some(2_000),
            ..rotating(500, 10)
        };
        let job = Job::create(home.path(), options).unwrap();
        for i in 0..200 {
            job.log(Level::Info, "entry", json!({"i": i}));
        }
        job.end();
        let live = job.logs.join("toolbox.log");
        let total: usize = (1..=10)
            .map(|n| rotated_path(&live, n))
            .filter(|p| p.exists())
            .map(|p| gunzip(&p).len())
            .sum::<usize>()
            + gunzip(&job.logs.join("toolbox.log.gz")).len();
        assert!(total < 2_500, "{total}");
        let last = gunzip(&job.logs.join("toolbox.log.gz"));
        assert!(last.lines().last().unwrap().contains("log size limit"));
    }

    #[test]
    fn a_panic_ends_the_log_with_an_internal_error_and_gzips_it() {
        use std::io::Read;
        let home = tempfile::tempdir().unwrap();
        let job = Job::create(home.path(), LOGS).unwrap();
        let logs = job.logs.clone();
        let outcome = std::panic::catch_unwind(move || {
            job.log(Level::Info, "step", json!({"step": "write reports"}));
            panic!("a bug");
        });
        assert!(outcome.is_err());
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(logs.join("toolbox.log.gz")).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.contains("\"internal error (panic)\""), "{text}");
        assert!(!logs.join("toolbox.log").exists());
    }

    #[test]
    fn logs_are_gzipped_at_the_end_and_secrets_redacted() {
        use std::io::Read;
        let home = tempfile::tempdir().unwrap();
        let job = Job::create(home.path(), LOGS).unwrap();
        job.log(Level::Info, "hello", json!({"n": 1}));
        job.capture(json!({"route": "x", "request": {"cursor": "c", "refresh_token": "s3cr3t", "access_token": "a"}}));
        job.end();
        assert!(!job.logs.join("toolbox.log").exists());
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(job.logs.join("capture.log.gz")).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.contains("\"cursor\":\"c\"") && !text.contains("s3cr3t"),
            "{text}"
        );
        let kept = JobLog::Kept(job.logs.join("toolbox.log.gz"));
        assert_eq!(job.job_log(), Some(kept));
    }

    #[test]
    fn a_capped_log_stops_with_a_note() {
        let home = tempfile::tempdir().unwrap();
        let job = Job::create(
            home.path(),
            LogOptions {
                max_log_bytes: Some(300),
                ..LOGS
            },
        )
        .unwrap();
        for i in 0..100 {
            job.log(Level::Info, "entry", json!({"i": i}));
        }
        job.flush();
        let text = fs::read_to_string(job.logs.join("toolbox.log")).unwrap();
        assert!(text.len() < 600, "{}", text.len());
        assert!(text.lines().last().unwrap().contains("log size limit"));
    }

    #[test]
    fn parallel_jobs_get_distinct_folders() {
        let home = std::env::temp_dir().join(format!("tbx-job-test-{}", std::process::id()));
        let jobs: Vec<Job> = (0..20).map(|_| Job::create(&home, LOGS).unwrap()).collect();
        let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        assert!(jobs.iter().all(|j| j.reports.is_dir()));
        drop(jobs);
        let _ = fs::remove_dir_all(home);
    }
}

//! The parent side of `-output-filter`: starts `tbx __jq-worker`, feeds it
//! the rows on one thread, reads its answers on another, and holds it to a
//! budget per row (time and output size). A worker that overruns is
//! killed; one that dies (stack overflow, out of memory) is reported by
//! what it said on stderr. Either way the run fails with one line and tbx
//! itself carries on to clean up.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::worker::WORKER_COMMAND;
use super::{RowFilter, HIDDEN_ENV_PREFIX};

/// What one row may cost.
pub struct Limits {
    /// Time from the previous row's end to this row's end.
    pub per_row: Duration,
    /// Output bytes (lines included) of one row.
    pub bytes_per_row: usize,
    /// Time for the worker to start and compile the filter.
    pub startup: Duration,
    /// Resident memory of the worker, checked every `memory_poll` where the
    /// OS tells (Linux); elsewhere `per_row` bounds how much can pile up.
    pub memory_bytes: u64,
    pub memory_poll: Duration,
}

pub const LIMITS: Limits = Limits {
    per_row: Duration::from_secs(1),
    bytes_per_row: 1 << 20,
    startup: Duration::from_secs(20),
    memory_bytes: 512 << 20,
    memory_poll: Duration::from_millis(50),
};

#[derive(Debug, Error)]
pub enum FilterError {
    /// The filter failed on row `index` (0-based, in the order given).
    #[error("{message}")]
    Row { index: usize, message: String },
    /// The worker could not be started or failed outside any row.
    #[error("{0}")]
    Worker(String),
    /// An output line could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What the worker said, one answer each.
enum Answer {
    Ready,
    Output(String),
    Done,
    Failed(String),
    /// A text longer than a row may print.
    TooLong,
    /// An answer that is not of the protocol (the worker is not well).
    Garbled,
}

impl RowFilter {
    /// Filters each of `rows` (JSON texts, one object per row) in a worker
    /// process, handing every output line to `emit` in order.
    pub fn run_rows<I>(
        &self,
        rows: I,
        mut emit: impl FnMut(&str) -> io::Result<()>,
    ) -> Result<(), FilterError>
    where
        I: Iterator<Item = String> + Send,
    {
        let mut worker = Worker::start()?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            worker.child.stdin.take(),
            worker.child.stdout.take(),
            worker.child.stderr.take(),
        ) else {
            return Err(FilterError::Worker(
                "the filter process has no pipes".into(),
            ));
        };
        let code = &self.code;
        std::thread::scope(|scope| {
            scope.spawn(move || feed(stdin, code, rows));
            let (sender, answers) = mpsc::sync_channel(256);
            scope.spawn(move || read_answers(stdout, &sender));
            let said = scope.spawn(move || read_stderr(stderr));
            let result = worker.collect(&answers, &mut emit);
            // Killing the worker also unblocks the feeder and both readers.
            worker.stop();
            let said = said.join().unwrap_or_default();
            result.map_err(|e| worker.explain(e, &said))
        })
    }
}

/// Writes the filter, then the rows; stops quietly if the worker is gone.
fn feed(stdin: ChildStdin, code: &str, rows: impl Iterator<Item = String>) {
    let mut out = BufWriter::new(stdin);
    let write = || -> io::Result<()> {
        serde_json::to_writer(&mut out, code)?;
        out.write_all(b"\n")?;
        for row in rows {
            out.write_all(row.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    let _ = write();
}

fn read_answers(stdout: impl Read, answers: &SyncSender<Answer>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let answer = match read_answer(&mut reader) {
            Ok(Some(answer)) => answer,
            Ok(None) | Err(_) => return,
        };
        let stop = matches!(answer, Answer::TooLong | Answer::Garbled);
        if answers.send(answer).is_err() || stop {
            return;
        }
    }
}

/// One answer: a tag, a length for texts, then the text; `None` at the end.
fn read_answer(reader: &mut impl BufRead) -> io::Result<Option<Answer>> {
    let mut header = Vec::new();
    if reader.take(32).read_until(b'\n', &mut header)? == 0 {
        return Ok(None);
    }
    let Some((&tag, rest)) = header.split_first() else {
        return Ok(Some(Answer::Garbled));
    };
    let length = std::str::from_utf8(rest)
        .ok()
        .and_then(|n| n.trim_end().parse::<usize>().ok());
    let answer = match (tag, length) {
        (b'r', _) if rest == b"\n" => Answer::Ready,
        (b'd', _) if rest == b"\n" => Answer::Done,
        (b'o' | b'e', Some(n)) if n > LIMITS.bytes_per_row => Answer::TooLong,
        (b'o' | b'e', Some(n)) => {
            let mut text = vec![0; n];
            reader.read_exact(&mut text)?;
            let text = String::from_utf8(text)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            if tag == b'o' {
                Answer::Output(text)
            } else {
                Answer::Failed(text)
            }
        }
        _ => Answer::Garbled,
    };
    Ok(Some(answer))
}

/// The first 64 KiB of the worker's stderr: a crash explains itself there.
fn read_stderr(stderr: impl Read) -> String {
    let mut said = Vec::new();
    let _ = stderr.take(64 << 10).read_to_end(&mut said);
    String::from_utf8_lossy(&said).into_owned()
}

struct Worker {
    child: Child,
    /// The row being filtered (rows done so far).
    row: usize,
    ready: bool,
}

impl Worker {
    fn start() -> Result<Self, FilterError> {
        let cannot =
            |e: io::Error| FilterError::Worker(format!("cannot start the filter process: {e}"));
        let exe = std::env::current_exe().map_err(cannot)?;
        let mut command = Command::new(exe);
        command
            .arg(WORKER_COMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            let upper = name.to_string_lossy().to_ascii_uppercase();
            if upper.starts_with(HIDDEN_ENV_PREFIX) {
                command.env_remove(&name);
            }
        }
        let child = command.spawn().map_err(cannot)?;
        Ok(Self {
            child,
            row: 0,
            ready: false,
        })
    }

    /// Reads answers until the worker's output ends, holding each row to
    /// `LIMITS`; an error leaves the worker to be killed.
    fn collect(
        &mut self,
        answers: &Receiver<Answer>,
        emit: &mut impl FnMut(&str) -> io::Result<()>,
    ) -> Result<(), FilterError> {
        let mut deadline = Instant::now() + LIMITS.startup;
        let mut bytes = 0;
        let mut polled = Instant::now();
        loop {
            if polled.elapsed() >= LIMITS.memory_poll {
                polled = Instant::now();
                self.check_memory()?;
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let answer = match answers.recv_timeout(wait.min(LIMITS.memory_poll)) {
                Ok(answer) => answer,
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
                Err(RecvTimeoutError::Timeout) if !self.ready => {
                    return Err(self.worker_failed("the filter process did not start in time"))
                }
                // Woken far past the deadline: this process was not running
                // (a suspended laptop, a stopped job), nor was the worker.
                Err(RecvTimeoutError::Timeout)
                    if Instant::now().saturating_duration_since(deadline) > LIMITS.per_row / 2 =>
                {
                    deadline = Instant::now() + LIMITS.per_row;
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.row_failed(format!(
                        "it ran for more than {} s on one row (an endless loop?)",
                        LIMITS.per_row.as_secs()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => return self.finished(),
            };
            match answer {
                Answer::Ready => self.ready = true,
                Answer::Output(text) => {
                    bytes += text.len() + 1;
                    if bytes > LIMITS.bytes_per_row {
                        return Err(self.too_much());
                    }
                    emit(&text)?;
                    continue;
                }
                Answer::Done => {
                    self.row += 1;
                    bytes = 0;
                }
                Answer::Failed(message) if self.ready => return Err(self.row_failed(message)),
                Answer::Failed(message) => return Err(self.worker_failed(&message)),
                Answer::TooLong => return Err(self.too_much()),
                Answer::Garbled => return Err(self.worker_failed("the filter process misbehaved")),
            }
            deadline = Instant::now() + LIMITS.per_row;
        }
    }

    fn check_memory(&self) -> Result<(), FilterError> {
        match resident_bytes(self.child.id()) {
            Some(bytes) if bytes > LIMITS.memory_bytes => Err(self.row_failed(format!(
                "it used more than {} MiB of memory",
                LIMITS.memory_bytes >> 20
            ))),
            _ => Ok(()),
        }
    }

    fn row_failed(&self, message: String) -> FilterError {
        FilterError::Row {
            index: self.row,
            message,
        }
    }

    fn worker_failed(&self, message: &str) -> FilterError {
        FilterError::Worker(message.to_string())
    }

    fn too_much(&self) -> FilterError {
        self.row_failed(format!(
            "it printed more than {} MiB for one row",
            LIMITS.bytes_per_row >> 20
        ))
    }

    /// The worker's output ended: fine if it exited cleanly.
    fn finished(&mut self) -> Result<(), FilterError> {
        match self.child.wait() {
            Ok(status) if status.success() && self.ready => Ok(()),
            Ok(status) => Err(self.row_failed(format!("the filter process ended ({status})"))),
            Err(e) => Err(self.worker_failed(&format!("cannot wait for the filter process: {e}"))),
        }
    }

    /// Kills the worker if it still runs and reaps it.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A crash says what it was on stderr (Rust prints the reason).
    fn explain(&self, error: FilterError, said: &str) -> FilterError {
        // Windows may end the process with STATUS_STACK_OVERFLOW unsaid.
        let cause = if said.contains("has overflowed its stack")
            || error.to_string().contains("0xc00000fd")
        {
            "it recursed too deeply (stack overflow)"
        } else if said.contains("memory allocation of") {
            "it ran out of memory"
        } else {
            return error;
        };
        match error {
            FilterError::Row { index, .. } => FilterError::Row {
                index,
                message: cause.to_string(),
            },
            other => other,
        }
    }
}

/// The resident memory of process `pid`, where the OS tells cheaply.
#[cfg(target_os = "linux")]
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(not(target_os = "linux"))]
fn resident_bytes(_pid: u32) -> Option<u64> {
    None
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

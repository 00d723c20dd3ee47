//! The child side of `-output-filter`: `tbx __jq-worker` (not a command a
//! person runs; it has no help and no completion). It reads the filter as
//! the first line of stdin (a JSON string), then one row per line, and
//! answers each row with tagged lines the parent reads:
//!
//! - `r` once, when the filter compiled;
//! - `o<length>` and that many bytes, per output line (raw, so any text
//!   fits and nothing is escaped and unescaped on the way);
//! - `d` when the row is done, or `e<length>` and the message when the
//!   filter failed on it.
//!
//! Output is flushed whenever no further row is waiting, and at least every
//! 50 ms, so the parent sees progress without a write per row.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{env_value, EvalError, RowFilter};

/// The argument that turns `tbx` into a filter worker.
pub const WORKER_COMMAND: &str = "__jq-worker";

/// The evaluation thread's stack: deep but legitimate recursion succeeds,
/// runaway recursion still ends (as a crash the parent reports) quickly.
const STACK_BYTES: usize = 64 << 20;

const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// The parent kills a worker whose row runs past its budget (1 s); if the
/// parent is gone (killed itself), a worker stuck in an endless loop would
/// never notice, so it ends itself once a row has run this long.
const SELF_LIMIT: Duration = Duration::from_secs(5);

/// Milliseconds since `epoch()` at which the current row started, plus
/// one; 0 while no row is being filtered.
static BUSY_SINCE: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// Ends the process when one row has run longer than `SELF_LIMIT`.
fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let since = BUSY_SINCE.load(Ordering::Relaxed);
        if since != 0 && now_ms().saturating_sub(since) > SELF_LIMIT.as_millis() as u64 {
            std::process::exit(3);
        }
    }
}

/// Runs the worker on stdin/stdout; returns the process exit code.
pub fn main() -> u8 {
    epoch();
    let _ = std::thread::Builder::new()
        .name("jq-watchdog".into())
        .spawn(watchdog);
    let thread = std::thread::Builder::new()
        .name("jq-worker".into())
        .stack_size(STACK_BYTES)
        .spawn(|| serve(io::stdin().lock(), io::stdout().lock()));
    match thread.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => 0,
        _ => 1,
    }
}

fn tagged(out: &mut impl Write, tag: u8, text: &str) -> io::Result<()> {
    writeln!(out, "{}{}", tag as char, text.len())?;
    out.write_all(text.as_bytes())
}

/// The protocol loop; ends at the end of input or at the first failure.
pub fn serve(input: impl Read, output: impl Write) -> io::Result<()> {
    let mut input = BufReader::with_capacity(64 << 10, input);
    let mut out = BufWriter::new(output);
    let mut line = String::new();
    input.read_line(&mut line)?;
    let code: String = serde_json::from_str(&line).map_err(io::Error::other)?;
    let filter = match RowFilter::compile(&code) {
        Ok(f) => f,
        Err(message) => {
            tagged(&mut out, b'e', &message)?;
            return out.flush();
        }
    };
    let env = env_value();
    out.write_all(b"r\n")?;
    out.flush()?;
    let mut flushed = Instant::now();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return out.flush();
        }
        BUSY_SINCE.store(now_ms(), Ordering::Relaxed);
        let outcome = filter.eval(line.trim_end(), &env, |text| tagged(&mut out, b'o', text));
        BUSY_SINCE.store(0, Ordering::Relaxed);
        match outcome {
            Ok(()) => out.write_all(b"d\n")?,
            Err(EvalError::Filter(message)) => {
                tagged(&mut out, b'e', &message)?;
                return out.flush();
            }
            Err(EvalError::Io(e)) => return Err(e),
        }
        if input.buffer().is_empty() || flushed.elapsed() >= FLUSH_EVERY {
            out.flush()?;
            flushed = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(input: &str) -> String {
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_row_gets_its_outputs_then_done() {
        let got = talk("\".a, .b\"\n{\"a\":\"x\\ny\",\"b\":[1]}\n{\"a\":1,\"b\":null}\n");
        assert_eq!(got, "r\no3\nx\nyo3\n[1]d\no1\n1o4\nnulld\n");
    }

    #[test]
    fn a_failing_row_ends_the_conversation() {
        let got = talk("\".a + 1\"\n{\"a\":\"x\"}\n{\"a\":1}\n");
        assert!(got.starts_with("r\ne"), "{got}");
        assert!(got.ends_with("\ncannot calculate \"x\" + 1"), "{got}");
    }

    #[test]
    fn a_filter_that_does_not_compile_is_reported() {
        let got = talk("\". | | .\"\n");
        assert!(
            got.starts_with('e') && got.contains("\nsyntax error"),
            "{got}"
        );
    }
}

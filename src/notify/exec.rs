//! `-notify-exec`: the command line split into words (no shell), and one
//! run of the command with the alert on stdin, bounded in time and output.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::{snippet, DeliveryError, Failure, NotifyError, READ_CAP};

const OPTION: &str = "-notify-exec";
const EXPECTED: &str =
    "expected a program and its arguments, e.g. -notify-exec '/usr/local/bin/alert --to ops'";
/// How long the output of a command that has ended is still awaited: a
/// child it left behind may hold the pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// Arguments at least this long are redacted from a command's output.
const MIN_SECRET_CHARS: usize = 6;

fn invalid(problem: &str) -> NotifyError {
    NotifyError::Invalid {
        option: OPTION,
        problem: format!("{problem}; {EXPECTED}"),
    }
}

/// The program and its arguments.
pub(super) fn parse(command_line: &str) -> Result<(String, Vec<String>), NotifyError> {
    let words =
        split_words(command_line, cfg!(windows)).ok_or_else(|| invalid("unbalanced quotes"))?;
    let mut words = words.into_iter();
    let program = words
        .next()
        .filter(|program| !program.is_empty())
        .ok_or_else(|| invalid("no command"))?;
    Ok((program, words.collect()))
}

/// POSIX word splitting (shlex); `None` when a quote is left open or the
/// line ends in a lone backslash. With `backslash_literal` (Windows, where
/// `\` separates path parts) every backslash outside single quotes is
/// doubled first, so it reaches the word as written.
fn split_words(line: &str, backslash_literal: bool) -> Option<Vec<String>> {
    if !backslash_literal {
        return shlex::split(line);
    }
    let mut doubled = String::with_capacity(line.len() + 8);
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => doubled.push('\\'),
            _ => {}
        }
        doubled.push(c);
    }
    shlex::split(&doubled)
}

/// The program's file name, for labels: the path may name a user's home.
pub(super) fn program_name(program: &str) -> &str {
    program
        .rsplit(['/', '\\'])
        .find(|part| !part.is_empty())
        .unwrap_or(program)
}

/// One command delivery: what it needs of the notifier.
pub(super) struct Command<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub label: &'a str,
    pub limit: Duration,
}

/// A task aborted when dropped: the readers and the writer of a command
/// that is given up on must not outlive the delivery.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Command<'_> {
    pub(super) async fn deliver(
        &self,
        text: &str,
        change: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let mut line = change.to_string().into_bytes();
        line.push(b'\n');
        let mut command = tokio::process::Command::new(self.program);
        command
            .args(self.args)
            .env("TBX_NOTIFY_TEXT", text)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so that what it starts can be killed with it.
        #[cfg(unix)]
        command.process_group(0);
        let mut running = Running::spawn(&mut command)
            .map_err(|e| self.failed(Failure::Spawn(spawn_problem(&e))))?;
        let child = &mut running.child;
        let stdin = child.stdin.take();
        // A command that does not read its stdin may end before it is
        // written: that broken pipe is its choice, not a failure.
        let _writer = Task(tokio::spawn(async move {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(&line).await;
                let _ = stdin.shutdown().await;
            }
        }));
        let stdout = Task(tokio::spawn(read_capped(child.stdout.take())));
        let stderr = Task(tokio::spawn(read_capped(child.stderr.take())));
        let status = match tokio::time::timeout(self.limit, running.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(self.failed(Failure::Spawn(e.to_string()))),
            Err(_) => {
                running.kill().await;
                return Err(self.failed(Failure::Killed(self.limit)));
            }
        };
        // It ended on its own: what it left running in the background is
        // its choice (and, reaped, its group ID may name another group).
        running.group = None;
        if status.success() {
            return Ok(());
        }
        let mut output = collect(stderr).await;
        if output.iter().all(u8::is_ascii_whitespace) {
            output = collect(stdout).await;
        }
        let code = status.code();
        let mut detail = snippet(&output, &secret_args(self.args));
        if code.is_none() {
            detail = signal_note(&status, detail);
        }
        Err(self.failed(Failure::Exit { code, detail }))
    }

    fn failed(&self, failure: Failure) -> DeliveryError {
        DeliveryError {
            target: self.label.to_string(),
            failure,
            attempts: 1,
        }
    }
}

/// The arguments a command's output must not show: it may echo them, and
/// one may be a token. Short ones ("-v", "on") stay, or the message would
/// be mostly `<redacted>`; longest first, so a long one is redacted whole.
fn secret_args(args: &[String]) -> Vec<String> {
    let mut secrets: Vec<String> = args
        .iter()
        .filter(|arg| arg.trim().chars().count() >= MIN_SECRET_CHARS)
        .cloned()
        .collect();
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets
}

/// A running command. Dropped before it has ended (given up on at the time
/// limit, or the delivery future dropped), it kills the command's process
/// group, so nothing it started outlives it: `kill_on_drop` and
/// `Child::kill` reach the direct child only, and its children would be
/// left to PID 1. On Windows only the direct child is killed (a Job Object
/// would reach the rest; not done yet).
struct Running {
    child: tokio::process::Child,
    /// The process group to kill: the command's own PID (it leads the
    /// group), while the command has not been waited for.
    group: Option<u32>,
}

impl Running {
    fn spawn(command: &mut tokio::process::Command) -> std::io::Result<Self> {
        let child = command.spawn()?;
        let group = child.id().filter(|_| cfg!(unix));
        Ok(Self { child, group })
    }

    /// Kills the group, then the command itself, and reaps it.
    async fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
        let _ = self.child.kill().await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Before `child` is dropped (and killed, and reaped in the
        // background): while it is not reaped, no other group can have
        // its PID as ID.
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
    }
}

#[cfg(unix)]
fn kill_group(group: u32) {
    let Ok(group) = libc::pid_t::try_from(group) else {
        return;
    };
    if group > 0 {
        // SAFETY: kill(2) takes no pointers; a negative PID names the
        // process group. A group that has already ended gives ESRCH,
        // which is fine.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_group: u32) {}

fn spawn_problem(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "program not found (give its path, or put it on PATH)".into()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied (is it executable?)".into(),
        _ => error.to_string(),
    }
}

#[cfg(unix)]
fn signal_note(status: &std::process::ExitStatus, detail: String) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), detail.is_empty()) {
        (Some(signal), true) => format!("signal {signal}"),
        (Some(signal), false) => format!("signal {signal}: {detail}"),
        (None, _) => detail,
    }
}

#[cfg(not(unix))]
fn signal_note(_status: &std::process::ExitStatus, detail: String) -> String {
    detail
}

/// Up to `READ_CAP` bytes of a pipe; what follows is read and dropped so
/// the command never blocks on a full pipe.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = READ_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
}

async fn collect(mut task: Task<Vec<u8>>) -> Vec<u8> {
    match tokio::time::timeout(OUTPUT_GRACE, &mut task.0).await {
        Ok(Ok(output)) => output,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Option<Vec<String>> {
        split_words(line, false)
    }

    #[test]
    fn command_lines_split_like_a_shell_without_one() {
        assert_eq!(
            words("alert --to 'ops team' \"a \\\"b\\\"\" c\\ d $HOME; x").unwrap(),
            ["alert", "--to", "ops team", "a \"b\"", "c d", "$HOME;", "x"]
        );
        assert_eq!(
            parse("  /usr/bin/notify-send  Backup ").unwrap(),
            (
                "/usr/bin/notify-send".to_string(),
                vec!["Backup".to_string()]
            )
        );
    }

    #[test]
    fn bad_command_lines_name_the_option_in_one_line() {
        for (line, problem) in [
            ("", "no command"),
            ("   ", "no command"),
            ("''", "no command"),
            ("alert 'SECRET", "unbalanced quotes"),
            ("alert \"SECRET", "unbalanced quotes"),
            ("alert SECRET\\", "unbalanced quotes"),
        ] {
            let error = parse(line).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("-notify-exec: {problem}; expected a program")),
                "{line:?}: {error}"
            );
            assert!(
                !error.contains("SECRET") && !error.contains('\n'),
                "{error}"
            );
        }
    }

    #[test]
    fn windows_backslashes_stay_as_written() {
        assert_eq!(
            split_words(
                r#"C:\tools\alert.exe "C:\Program Files\x" 'a\b' it's"#,
                true
            ),
            None,
            "the lone single quote still unbalances"
        );
        assert_eq!(
            split_words(
                r#"C:\tools\alert.exe "C:\Program Files\x" 'a\b' "it's""#,
                true
            )
            .unwrap(),
            [r"C:\tools\alert.exe", r"C:\Program Files\x", r"a\b", "it's"]
        );
        assert_eq!(
            split_words(r"C:\tools\alert.exe", false).unwrap(),
            ["C:toolsalert.exe"],
            "why Windows needs it"
        );
    }

    #[test]
    fn long_arguments_are_secrets_longest_first() {
        let args = ["-t", "on", "token", "S3CRET", "S3CRETTOKEN", "  ab  "].map(String::from);
        assert_eq!(secret_args(&args), ["S3CRETTOKEN", "S3CRET"]);
    }

    #[test]
    fn labels_show_the_file_name_only() {
        assert_eq!(program_name("/home/ann/bin/alert.sh"), "alert.sh");
        assert_eq!(program_name(r"C:\tools\alert.exe"), "alert.exe");
        assert_eq!(program_name("alert"), "alert");
        assert_eq!(program_name("dir/"), "dir");
    }
}

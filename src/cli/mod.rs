//! The command line: the clap command tree (mirroring tbx's command paths),
//! tbx-style single-dash options, dispatch to the recipes, and the mapping
//! of every failure to one line on stderr and a tbx exit code.

pub mod args;
pub mod exit;
pub mod reference;

use std::ffi::OsString;
use std::future::Future;

use chrono::Utc;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::dropbox::auth::ApiBase;
use crate::dropbox::auth::AuthError;
use crate::dropbox::ApiError;
use crate::job::crash;
use crate::recipes::config::auth::add::{self, AddArgs};
use crate::recipes::config::auth::delete::{self, DeleteArgs};
use crate::recipes::config::auth::list::{self, ListArgs};
use crate::recipes::config::auth::ConfigAuthError;
use crate::recipes::config::cache::{self, CacheCommand};
use crate::recipes::dev::bench::{self, BenchArgs};
use crate::recipes::dev::demo::{self, DemoArgs, DemoError};
use crate::recipes::dev::simulate::{self, SimulateArgs};
use crate::recipes::dropbox::team::backup::device::status::{
    self, ApiTarget, Credential, Failed, Finished, RecipeError, StatusArgs,
};
use crate::recipes::dropbox::team::backup::device::watch::{self, WatchArgs};
use crate::recipes::license::{self, LicenseArgs};
use crate::recipes::mcp::serve::{self as mcp_serve, ServeArgs};
use crate::recipes::version::{self, VersionArgs};
use crate::report::console::sanitize;
use crate::report::filter::worker as filter_worker;
use crate::report::messages::Messages;

/// watermint toolbox compatible: Dropbox team backup device status, fast
#[derive(Debug, Parser)]
#[command(
    name = "tbx",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: TopCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// Commands for Dropbox and Dropbox for teams
    #[command(arg_required_else_help = true)]
    Dropbox {
        #[command(subcommand)]
        command: DropboxCommand,
    },
    /// Settings: stored authorizations
    #[command(arg_required_else_help = true)]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Developer tools: the Dropbox API simulator and a demo
    #[command(arg_required_else_help = true)]
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Answer AI assistants: a Model Context Protocol server
    #[command(arg_required_else_help = true)]
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Show version information: version, git commit, build date, target
    Version(VersionArgs),
    /// Show the license of tbx and of every package compiled into it
    License(LicenseArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum DropboxCommand {
    /// Commands for Dropbox for teams
    #[command(arg_required_else_help = true)]
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Dropbox Backup reports for the team
    #[command(arg_required_else_help = true)]
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Dropbox Backup of the team's computers
    #[command(arg_required_else_help = true)]
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Dropbox Backup device status change in the specified period
    #[command(arg_required_else_help = true, after_help = STATUS_AFTER_HELP)]
    Status(StatusArgs),
    /// Watch the team's computers: alert when their Dropbox Backup status changes
    #[command(after_help = WATCH_AFTER_HELP)]
    Watch(WatchArgs),
}

const STATUS_AFTER_HELP: &str = "\
Times: RFC 3339 (2024-01-02T15:04:05Z), YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD,
YYYY-MM-DD HH:MM:SS (local time zone), or relative to now: -24h, -7d, -1h30m.
Options work with one dash (-start-time) or two (--start-time).

Credentials, in order: TOOLBOX_DROPBOX_TOKEN (an access token);
TOOLBOX_DROPBOX_REFRESH_TOKEN with TOOLBOX_DROPBOX_APP_KEY; the peer stored by
`tbx config auth add`; at a terminal, a code-paste login.
API base: TOOLBOX_DROPBOX_API_URL (default https://api.dropboxapi.com).
Reports: $TOOLBOX_HOME (or ~/.toolbox)/jobs/<job-id>/reports/devices.{csv,json,xlsx}";

const WATCH_AFTER_HELP: &str = "\
Each alerting change is one JSON line on stdout: the keys of history.json and
event_id (the same for the same event, for receivers to dedupe). Status lines
go to stderr. The checkpoint (-name) lives in the team's event store: a
restart resumes without missing or repeating a change, late arrivals (up to
24 hours) included. Ctrl-C or SIGTERM ends the watch with exit 0.

Times for -since: as -start-time of the status command (2024-01-02, -2h, ...).
With -once -exit-code: exit 1 when a change alerted, 0 when none.
Options work with one dash (-interval) or two (--interval).";

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    #[command(after_help = MCP_AFTER_HELP)]
    Serve(ServeArgs),
}

const MCP_AFTER_HELP: &str = "\
An MCP client (Claude Desktop, VS Code, Cursor, the MCP Inspector) starts
this command and speaks the protocol on its stdin and stdout. Tools, all
read-only: backup_device_status, backup_summary, backup_status_history.
Diagnostics go to stderr and the job log; the server never asks for a
credential: without one, each tool call says what to run. See docs/mcp.md.

Credentials as for the status command: TOOLBOX_DROPBOX_TOKEN, or
TOOLBOX_DROPBOX_REFRESH_TOKEN with TOOLBOX_DROPBOX_APP_KEY, or the peer stored
by `tbx config auth add`. -simulate serves a simulated team instead.";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Stored authorizations (peers)
    #[command(arg_required_else_help = true)]
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Local event stores (what later runs need not fetch again)
    #[command(arg_required_else_help = true)]
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    Add(AddArgs),
    List(ListArgs),
    Delete(DeleteArgs),
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    Bench(BenchArgs),
    Demo(DemoArgs),
    Simulate(SimulateArgs),
}

/// Entry point for `main`: returns the process exit code. A panic is a
/// bug, yet it still ends like any failure: the job log is closed while the
/// panic unwinds (the job's drop guard), one line names where it happened
/// and the log, and the exit code is 8, never Rust's 101 and a backtrace.
pub fn main() -> u8 {
    install_panic_hook();
    let argv = std::env::args_os().collect();
    match std::panic::catch_unwind(|| run(argv)) {
        Ok(code) => code,
        Err(payload) => panicked(&*payload),
    }
}

/// Replaces Rust's panic message and backtrace with a note of where the
/// panic happened, which the job log and `panicked` report. A panic on
/// another thread than the main one may never reach `main`'s catch, so
/// it also gets its line at once.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map_or_else(
            || "an unknown place".to_string(),
            |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
        );
        let message = crash::payload_text(info.payload());
        let thread = std::thread::current();
        if let Some(name) = thread.name().filter(|name| *name != "main") {
            error_line(&format!("internal error (panic) at {at} in thread {name}"));
        }
        crash::record_panic(crash::PanicNote { at, message });
    }));
}

/// The one line for a panic that reached `main`.
fn panicked(payload: &(dyn std::any::Any + Send)) -> u8 {
    let at = crash::last_panic().map_or_else(|| crash::payload_text(payload), |note| note.at);
    let log = crash::last_job_log().map_or_else(|| "no job log".to_string(), |l| l.to_string());
    error_line(&format!("internal error (panic) at {at}; {log}"));
    exit::FAILURE
}

pub fn run(argv: Vec<OsString>) -> u8 {
    // The `-output-filter` worker is tbx itself in another role; it is no
    // command (no help, no completion), so clap never sees it.
    if argv
        .get(1)
        .is_some_and(|a| a == filter_worker::WORKER_COMMAND)
    {
        return filter_worker::main();
    }
    let argv = args::normalize(&Cli::command(), argv);
    let argv = match args::apply_extra(&Cli::command(), argv) {
        Ok(argv) => argv,
        Err(message) => {
            error_line(&message);
            return exit::INVALID_OPTIONS;
        }
    };
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e, &argv),
    };
    match cli.command {
        TopCommand::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tbx", &mut std::io::stdout());
            exit::SUCCESS
        }
        TopCommand::Version(args) => print_text(&version::render(&args)),
        TopCommand::License(args) => print_text(&license::render(&args)),
        TopCommand::Dropbox { command } => run_dropbox(command),
        TopCommand::Config {
            command: ConfigCommand::Auth { command },
        } => run_config_auth(command),
        TopCommand::Config {
            command: ConfigCommand::Cache { command },
        } => {
            let result = match &command {
                CacheCommand::List(args) => cache::list(args),
                CacheCommand::Delete(args) => cache::delete(args),
            };
            match result {
                Ok(()) => exit::SUCCESS,
                Err(message) => {
                    error_line(&message);
                    exit::FAILURE
                }
            }
        }
        TopCommand::Dev {
            command: DevCommand::Demo(args),
        } => run_demo(&args),
        TopCommand::Dev {
            command: DevCommand::Bench(args),
        } => run_interruptible(bench::exec(&args), |result| match result {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                error_line(&e);
                exit::FAILURE
            }
        }),
        TopCommand::Dev {
            command: DevCommand::Simulate(args),
        } => run_simulate(&args),
        TopCommand::Mcp {
            command: McpCommand::Serve(args),
        } => run_mcp_serve(&args),
    }
}

fn run_dropbox(command: DropboxCommand) -> u8 {
    let DropboxCommand::Team {
        command:
            TeamCommand::Backup {
                command: BackupCommand::Device { command },
            },
    } = command;
    match command {
        DeviceCommand::Status(args) => run_status(&args),
        DeviceCommand::Watch(args) => run_watch(&args),
    }
}

/// Prints a finished text; a closed pipe (`tbx license | head`) is not an error.
fn print_text(text: &str) -> u8 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => exit::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(e) => {
            error_line(&format!("cannot write to stdout: {e}"));
            exit::FAILURE
        }
    }
}

/// Never panics: stderr may be gone (a closed terminal sends SIGHUP and
/// then refuses writes), and the error must still end in an exit code.
fn error_line(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "Error: {}", sanitize(message));
}

/// clap's errors are multi-line; scripts and people get one line.
/// Help asked for, and the help of a command group typed without its
/// subcommand (`tbx`, `tbx dropbox`), is success, as in tbx. A command
/// typed without the options it requires is a usage error like any other
/// (exit 10, so a scheduled job with a typo does not look successful): its
/// help goes to stderr, then the one error line.
fn clap_error(e: clap::Error, argv: &[OsString]) -> u8 {
    match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let command = named_command(argv);
            if command.has_subcommands() {
                let _ = e.print();
                return exit::SUCCESS;
            }
            eprint!("{}", e.render());
            error_line(&format!(
                "the following required arguments were not provided: {} (see -help)",
                required_options(&command).join(" ")
            ));
            return exit::INVALID_OPTIONS;
        }
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return exit::SUCCESS;
        }
        _ => {}
    }
    let text = e.render().to_string();
    let parts = text.lines().map(str::trim).filter(|l| {
        !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
    });
    // A heading ending in ':' runs on into its items ("not provided: --x").
    let mut line = String::new();
    for part in parts {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    error_line(&format!("{line} (see -help)"));
    match e.kind() {
        ErrorKind::InvalidSubcommand => exit::INVALID_COMMAND,
        _ => exit::INVALID_OPTIONS,
    }
}

/// The (sub)command `argv` names, following subcommand names from the top.
fn named_command(argv: &[OsString]) -> clap::Command {
    let mut command = Cli::command();
    for arg in argv.iter().skip(1) {
        let next = arg.to_str().and_then(|name| command.find_subcommand(name));
        match next {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    command
}

/// `--name <VALUE>` for each option `command` requires.
fn required_options(command: &clap::Command) -> Vec<String> {
    command
        .get_arguments()
        .filter(|a| a.is_required_set())
        .filter_map(|a| {
            let long = a.get_long()?;
            let value = a
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string());
            Some(format!("--{long} <{value}>"))
        })
        .collect()
}

/// Runs a future on a fresh runtime; a stop request (`listen_for_stop`)
/// ends it with `None`. The future is dropped then, inside the runtime, so
/// its drop guards run: the job log says "interrupted" and is gzipped,
/// unfinished reports are deleted.
fn block_on_interruptible<F: Future>(future: F) -> Result<Option<F::Output>, std::io::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(async {
        // Listening before the future first runs: a signal sent as soon as
        // it prints something (the simulator's "Press Ctrl-C") is caught.
        let stop = listen_for_stop();
        tokio::select! {
            output = future => Some(output),
            () = stop => None,
        }
    });
    if output.is_none() {
        // Work on blocking threads cannot be cancelled: the store's writer
        // rolls back at once when its queue closes, but reading back a
        // million events could hold the exit for seconds.
        runtime.shutdown_timeout(STOP_GRACE);
    }
    Ok(output)
}

/// How long a stopped run waits for its blocking threads.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits on a signal listener, or forever if it could not be set up (the
/// signal keeps its default action rather than reading as a stop request).
macro_rules! received {
    ($listener:expr) => {
        async move {
            match $listener {
                Some(mut listener) => {
                    listener.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
    };
}

/// Listens, from now on, for the user or the system asking tbx to stop:
/// Ctrl-C, SIGTERM (what schedulers and service managers send) and SIGHUP
/// (the terminal closed); the future resolves on the first of them. Needs
/// the runtime's context.
#[cfg(unix)]
fn listen_for_stop() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    let hangup = signal(SignalKind::hangup()).ok();
    async move {
        tokio::select! {
            () = received!(interrupt) => {}
            () = received!(terminate) => {}
            () = received!(hangup) => {}
        }
    }
}

/// Windows: Ctrl-C, Ctrl-Break, and the console window closing (tokio's
/// handler holds the process for Windows' few seconds of grace, so the
/// run can close its logs and exit on its own).
#[cfg(windows)]
fn listen_for_stop() -> impl Future<Output = ()> {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
    let c = ctrl_c().ok();
    let brk = ctrl_break().ok();
    let close = ctrl_close().ok();
    async move {
        tokio::select! {
            () = received!(c) => {}
            () = received!(brk) => {}
            () = received!(close) => {}
        }
    }
}

/// Runs a future to its exit code: `finish` maps what it returned; a stop
/// request and a runtime that cannot start have their own codes.
fn run_interruptible<F: Future>(future: F, finish: impl FnOnce(F::Output) -> u8) -> u8 {
    match block_on_interruptible(future) {
        Ok(Some(output)) => finish(output),
        Ok(None) => interrupted(),
        Err(e) => runtime_failed(e),
    }
}

fn interrupted() -> u8 {
    error_line("interrupted; nothing was completed");
    exit::INTERRUPTED
}

fn runtime_failed(e: std::io::Error) -> u8 {
    error_line(&format!("cannot start the async runtime: {e}"));
    exit::FAILURE
}

fn run_status(args: &StatusArgs) -> u8 {
    let now = Utc::now();
    let options = match args.validate(now) {
        Ok(o) => o,
        Err(e) => return fail_options(&e),
    };
    let target = match login_target() {
        Ok(target) => target,
        Err(code) => return code,
    };
    run_interruptible(
        status::exec(&options, &target, Vec::new(), now),
        |result| match result {
            Ok(_) => exit::SUCCESS,
            Err(failed) => run_failed(failed),
        },
    )
}

/// A watch ends with success when asked to stop (the checkpoint is saved
/// after every poll), so it gets the stop signal itself.
fn run_watch(args: &WatchArgs) -> u8 {
    let options = match args.validate(Utc::now()) {
        Ok(o) => o,
        Err(e) => return fail_options(&e),
    };
    let target = match login_target() {
        Ok(target) => target,
        Err(code) => return code,
    };
    run_until_stopped(
        |stop| watch::exec(&options, &target, stop),
        |finished| {
            if options.exit_code && finished.rows > 0 {
                exit::ALERTED
            } else {
                exit::SUCCESS
            }
        },
    )
}

/// The server ends with success when its client goes or asks it to stop.
fn run_mcp_serve(args: &ServeArgs) -> u8 {
    let options = match args.validate(Utc::now()) {
        Ok(o) => o,
        Err(e) => return fail_options(&e),
    };
    run_until_stopped(|stop| mcp_serve::exec(&options, stop), |_| exit::SUCCESS)
}

/// The API base from the environment, with the credential found by login.
fn login_target() -> Result<ApiTarget, u8> {
    let base = ApiBase::from_env().map_err(|e| fail_auth(&e))?;
    Ok(ApiTarget {
        base,
        credential: Credential::Login,
    })
}

/// Runs a command that handles the stop signal itself (it ends with
/// success when asked to), on a fresh runtime.
fn run_until_stopped<F, Fut>(exec: F, success: impl FnOnce(Finished) -> u8) -> u8
where
    F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = Result<Finished, Failed>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return runtime_failed(e),
    };
    let result = runtime.block_on(async { exec(Box::pin(listen_for_stop())).await });
    runtime.shutdown_timeout(STOP_GRACE);
    match result {
        Ok(finished) => success(finished),
        Err(failed) => run_failed(failed),
    }
}

fn run_failed(failed: Failed) -> u8 {
    let code = match &failed.error {
        RecipeError::Auth(e) => auth_exit(e),
        RecipeError::Job(_) => exit::STARTUP,
        RecipeError::Api(
            ApiError::ExpiredToken { .. }
            | ApiError::InvalidToken { .. }
            | ApiError::MissingScope { .. }
            | ApiError::Auth { .. }
            | ApiError::Credential(_),
        ) => exit::AUTH_FAILED,
        _ => exit::FAILURE,
    };
    match &failed.job_log {
        Some(log) => error_line(&format!("{} ({log})", failed.error)),
        None => error_line(&failed.error.to_string()),
    }
    code
}

fn run_demo(args: &DemoArgs) -> u8 {
    run_interruptible(demo::exec(args), |result| match result {
        Ok(outcome) => {
            if !args.common.quiet && args.common.output != crate::options::Output::Json {
                eprintln!();
                let text = Messages(args.common.lang.resolve());
                eprintln!(
                    "{}",
                    text.demo_finished(outcome.rows, &outcome.job_dir.join("reports"))
                );
            }
            exit::SUCCESS
        }
        Err(DemoError::Options(e)) => fail_options(&e),
        Err(DemoError::Simulator(e)) => {
            error_line(&e.to_string());
            exit::FAILURE
        }
        Err(DemoError::Run(failed)) => run_failed(failed),
    })
}

fn run_simulate(args: &SimulateArgs) -> u8 {
    let serve = async {
        let handle = simulate::exec(args).await?;
        // Serve until Ctrl-C, SIGTERM or SIGHUP (block_on_interruptible).
        std::future::pending::<()>().await;
        drop(handle);
        Ok::<(), crate::sim::SimError>(())
    };
    match block_on_interruptible(serve) {
        Ok(Some(Err(e))) => {
            error_line(&e.to_string());
            exit::FAILURE
        }
        Ok(_) => {
            eprintln!("Simulator stopped.");
            exit::SUCCESS
        }
        Err(e) => runtime_failed(e),
    }
}

/// The exit code of a credential problem.
fn auth_exit(e: &AuthError) -> u8 {
    match e {
        AuthError::BadApiBase(_) => exit::INVALID_OPTIONS,
        AuthError::Store { .. } => exit::FAILURE,
        _ => exit::AUTH_FAILED,
    }
}

fn fail_options(e: &crate::options::OptionError) -> u8 {
    error_line(&e.to_string());
    exit::INVALID_OPTIONS
}

fn fail_auth(e: &AuthError) -> u8 {
    error_line(&e.to_string());
    auth_exit(e)
}

fn run_config_auth(command: AuthCommand) -> u8 {
    let base = match ApiBase::from_env() {
        Ok(b) => b,
        Err(e) => return fail_auth(&e),
    };
    match command {
        AuthCommand::List(args) => config_auth_exit(list::exec(&args)),
        AuthCommand::Add(args) => run_interruptible(add::exec(&args, base), config_auth_exit),
        AuthCommand::Delete(args) => run_interruptible(delete::exec(&args, base), config_auth_exit),
    }
}

fn config_auth_exit(result: Result<(), ConfigAuthError>) -> u8 {
    match result {
        Ok(()) => exit::SUCCESS,
        Err(ConfigAuthError::Options(e)) => fail_options(&e),
        Err(ConfigAuthError::Auth(e)) => fail_auth(&e),
    }
}

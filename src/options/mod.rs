//! The options every tbx recipe accepts, and their validation into
//! `CommonOptions`, the only form the recipes see: every path, filter,
//! proxy and name is checked here, before any network call. It sits below
//! the recipes (and the command line above them), so recipes, ops and
//! tests share one definition.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use thiserror::Error;

use crate::domain::row::Layout;
use crate::report::console::OutputMode;
use crate::report::filter::RowFilter;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OptionError {
    #[error("-{option}: {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
}

fn invalid(option: &'static str, message: impl Into<String>) -> OptionError {
    OptionError::Invalid {
        option,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Budget {
    #[default]
    Normal,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Markdown,
    Json,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RetainJobData {
    #[default]
    Default,
    #[value(name = "on_error")]
    OnError,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Lang {
    #[default]
    Auto,
    En,
    Ja,
}

impl Lang {
    /// The console language: `auto` follows the environment.
    pub fn resolve(self) -> crate::report::messages::Lang {
        match self {
            Lang::En => crate::report::messages::Lang::En,
            Lang::Ja => crate::report::messages::Lang::Ja,
            Lang::Auto => crate::report::messages::Lang::from_env(),
        }
    }
}

/// Common options, as typed. Booleans take `-flag` or `-flag=true|false`,
/// as Go's flag package (and so tbx) does.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Common options")]
pub struct CommonArgs {
    /// Custom path to the auth database (default: $HOME/.toolbox/secrets/secrets.db)
    #[arg(long, value_name = "PATH")]
    pub auth_database: Option<PathBuf>,
    /// Auto open URL or artifact folder
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub auto_open: bool,
    /// Bandwidth limit in K bytes per sec for content transfer; 0 for unlimited (at most 100000000)
    #[arg(long, value_name = "KB", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub bandwidth_kb: u64,
    /// Memory budget; `low` writes only the JSON report
    #[arg(long, value_enum, value_name = "BUDGET", default_value_t)]
    pub budget_memory: Budget,
    /// Storage budget (limits logs to reduce storage usage)
    #[arg(long, value_enum, value_name = "BUDGET", default_value_t)]
    pub budget_storage: Budget,
    /// Maximum concurrency for running operations [default: number of processors]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Enable debug mode (debug entries in the job log)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub debug: bool,
    /// Enable experimental feature(s): report_all_columns (ids in CSV, XLSX, table)
    #[arg(long, value_name = "NAMES")]
    pub experiment: Option<String>,
    /// Extra parameter file: a JSON object of option values used as defaults
    #[arg(long, value_name = "PATH")]
    pub extra: Option<PathBuf>,
    /// Display language of console messages (auto follows LC_ALL / LANG, then the Windows locale)
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Output format for the console
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t)]
    pub output: Output,
    /// jq filter applied to each row of the JSON output (stdout and devices.json;
    /// CSV, XLSX and the table stay unfiltered). Strings print raw; `empty` drops a row.
    /// Each row gets 1 s and 1 MiB of output; `env` and `$ENV` hide TOOLBOX_* variables

    #[arg(long, value_name = "JQ", allow_hyphen_values = true)]
    pub output_filter: Option<String>,
    /// HTTP/HTTPS proxy (hostname:port); `DIRECT` to use no proxy
    #[arg(long, value_name = "HOST:PORT")]
    pub proxy: Option<String>,
    /// Suppress non-error messages and print the rows as JSON lines
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub quiet: bool,
    /// Job data retain policy
    #[arg(long, value_enum, value_name = "POLICY", default_value_t)]
    pub retain_job_data: RetainJobData,
    /// Do not store tokens into a file
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub secure: bool,
    /// Skip logging in the local storage
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub skip_logging: bool,
    /// Show each API call on stderr
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub verbose: bool,
    /// Workspace path (home of jobs and secrets for this run)
    #[arg(long, value_name = "PATH")]
    pub workspace: Option<PathBuf>,
}

/// The one experiment: the two id columns in CSV, XLSX and the console too.
pub const EXPERIMENT_ALL_COLUMNS: &str = "report_all_columns";

/// Validated common options: what the recipes may rely on.
#[derive(Debug, Clone)]
pub struct CommonOptions {
    pub workspace: Option<PathBuf>,
    pub auth_database: Option<PathBuf>,
    pub secure: bool,
    pub json_only: bool,
    pub concurrency: usize,
    pub debug: bool,
    pub verbose: bool,
    pub output: OutputMode,
    pub quiet: bool,
    pub proxy: Option<String>,
    pub write_log: bool,
    /// `-budget-storage low`: no capture log, a capped job log.
    pub storage_low: bool,
    pub retain: RetainJobData,
    /// `-auto-open`: open the reports folder when done (desktop only).
    pub auto_open: bool,
    /// Columns of CSV, XLSX and the console (`-experiment`).
    pub layout: Layout,
    /// Console language (`-lang`; `auto` resolved from the environment).
    pub lang: crate::report::messages::Lang,
    /// `-bandwidth-kb`; `None` for unlimited.
    pub bandwidth_kb: Option<u64>,
    /// `-output-filter`, compiled.
    pub output_filter: Option<Arc<RowFilter>>,
}

impl CommonArgs {
    pub fn validate(&self) -> Result<CommonOptions, OptionError> {
        if let Some(path) = &self.auth_database {
            check_database_path("auth-database", path)?;
        }
        let mut layout = Layout::default();
        for name in self
            .experiment
            .iter()
            .flat_map(|n| n.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match name {
                EXPERIMENT_ALL_COLUMNS => layout.all_columns = true,
                other => {
                    return Err(invalid(
                        "experiment",
                        format!("unknown experiment '{other}'; known: {EXPERIMENT_ALL_COLUMNS}"),
                    ))
                }
            }
        }
        let output_filter = match &self.output_filter {
            Some(code) => Some(Arc::new(RowFilter::compile(code).map_err(|message| {
                invalid("output-filter", format!("{message} in '{code}'"))
            })?)),
            None => None,
        };
        if let Some(path) = &self.workspace {
            check_writable_folder("workspace", path)?;
        }
        let proxy = self.proxy.as_deref().map(validate_proxy).transpose()?;
        let default_concurrency = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(CommonOptions {
            workspace: self.workspace.clone(),
            auth_database: self.auth_database.clone(),
            secure: self.secure,
            json_only: self.budget_memory == Budget::Low,
            concurrency: self.concurrency.map_or(default_concurrency, |c| c as usize),
            debug: self.debug,
            verbose: self.verbose,
            output: match self.output {
                Output::Text => OutputMode::Text,
                Output::Markdown => OutputMode::Markdown,
                Output::Json => OutputMode::Json,
                Output::None => OutputMode::None,
            },
            quiet: self.quiet,
            proxy,
            write_log: !self.skip_logging,
            storage_low: self.budget_storage == Budget::Low,
            retain: self.retain_job_data,
            auto_open: self.auto_open,
            layout,
            lang: self.lang.resolve(),
            bandwidth_kb: Some(self.bandwidth_kb).filter(|&kb| kb > 0),
            output_filter,
        })
    }
}

/// `-peer`: an alias that is safe as a file and keyring name.
pub fn validate_peer(peer: &str) -> Result<(), OptionError> {
    validate_name("peer", peer, "peer name")
}

/// A name that becomes part of a file or key name (`-peer`, a watch's
/// `-name`): letters, digits, `-`, `_` and `.`, at most 64.
pub fn validate_name(option: &'static str, value: &str, what: &str) -> Result<(), OptionError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(OptionError::Invalid {
            option,
            message: format!("'{value}' is not a {what}; use letters, digits, '-', '_' and '.'"),
        })
    }
}

/// The folder exists (or can be made) and a file can be written in it.
fn check_writable_folder(option: &'static str, path: &Path) -> Result<(), OptionError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(
            option,
            "expected a folder path, got an empty value",
        ));
    }
    if path.exists() && !path.is_dir() {
        return Err(invalid(
            option,
            format!("'{}' exists and is not a folder", path.display()),
        ));
    }
    std::fs::create_dir_all(path)
        .map_err(|e| invalid(option, format!("cannot create '{}': {e}", path.display())))?;
    let probe = path.join(format!(".tbx-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| invalid(option, format!("cannot write in '{}': {e}", path.display())))
}

/// A database file path whose folder can be written, and which, when it
/// exists, is a file that opens for writing.
fn check_database_path(option: &'static str, path: &Path) -> Result<(), OptionError> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Err(invalid(
            option,
            format!(
                "'{}' is not a file path; expected e.g. /path/to/secrets.db",
                path.display()
            ),
        ));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_writable_folder(option, folder)?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                invalid(
                    option,
                    format!("cannot open '{}' for writing: {e}", path.display()),
                )
            })?;
    }
    Ok(())
}

fn validate_proxy(value: &str) -> Result<String, OptionError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("DIRECT") {
        return Ok("DIRECT".into());
    }
    let bad = || {
        invalid(
            "proxy",
            format!("'{value}' is not a proxy; expected hostname:port (e.g. proxy.example.com:8080) or DIRECT"),
        )
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    if port_ok && host_ok {
        Ok(value.to_string())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn parse(args: &[&str]) -> Result<CommonOptions, OptionError> {
        let mut argv = vec!["tbx"];
        argv.extend_from_slice(args);
        Wrapper::try_parse_from(argv).unwrap().common.validate()
    }

    #[test]
    fn defaults_are_tbx_defaults() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.output, OutputMode::Text);
        assert!(!o.quiet && !o.json_only && o.write_log);
        assert!(o.concurrency >= 1);
    }

    #[test]
    fn bools_take_go_style_values() {
        assert!(parse(&["--quiet"]).unwrap().quiet);
        assert!(!parse(&["--quiet=false"]).unwrap().quiet);
        assert!(parse(&["--verbose=true"]).unwrap().verbose);
    }

    #[test]
    fn proxy_must_be_host_port_or_direct() {
        assert_eq!(
            parse(&["--proxy", "direct"]).unwrap().proxy.as_deref(),
            Some("DIRECT")
        );
        assert_eq!(
            parse(&["--proxy", "proxy.example.com:8080"])
                .unwrap()
                .proxy
                .as_deref(),
            Some("proxy.example.com:8080")
        );
        for bad in ["proxy", "http://p:80", "p:0", "p:99999", ":80"] {
            let err = parse(&["--proxy", bad]).unwrap_err();
            assert!(err.to_string().starts_with("-proxy: "), "{bad}: {err}");
        }
    }

    #[test]
    fn budget_memory_low_means_json_only() {
        assert!(parse(&["--budget-memory", "low"]).unwrap().json_only);
    }
}

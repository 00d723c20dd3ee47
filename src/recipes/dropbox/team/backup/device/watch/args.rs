//! The watch command's options: as typed (`WatchArgs`, clap) and as
//! validated (`WatchOptions`); every value is checked here, before any
//! network call.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use clap::Args;

use crate::domain::period::{format_dropbox_time, parse_time};
use crate::domain::watch::{parse_interval, AlertOn};
use crate::notify::{NotifyError, Target};
use crate::ops::watch::WatchQuery;
use crate::options::{validate_name, validate_peer, CommonArgs, CommonOptions, OptionError};

/// Watch the team's computers and alert when their Dropbox Backup status changes
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Time between polls of the audit log: 30s, 5m, 1h30m (1s to 7d)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub interval: String,
    /// Report changes stamped at or after this time (first start only; default: now)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// New statuses that alert (repeat or separate with commas), or any
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "disabled"
    )]
    pub alert_on: Vec<String>,
    /// The checkpoint's name: several watches of one team keep apart by name
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub name: String,
    /// Poll once, then exit (for cron and the Windows Task Scheduler)
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub once: bool,
    /// With -once: exit 1 when a change alerted, 0 when none
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub exit_code: bool,
    /// POST each alert as JSON to this URL (Slack, Mattermost, ...); repeatable; https only, http for 127.0.0.1
    #[arg(long, value_name = "URL")]
    pub notify_webhook: Vec<String>,
    /// Run this command for each alert, the change as JSON on its stdin (no shell)
    #[arg(long, value_name = "CMD")]
    pub notify_exec: Option<String>,
    /// Account alias
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub peer: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Validated options.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub interval: Duration,
    pub since: DateTime<Utc>,
    /// `-since` was given (a resumed checkpoint ignores it: say so).
    pub since_given: bool,
    pub alert_on: AlertOn,
    pub name: String,
    pub once: bool,
    pub exit_code: bool,
    pub targets: Vec<Target>,
    pub peer: String,
    pub common: CommonOptions,
}

/// The watch options alone, as a parser (tests).
#[derive(Debug, clap::Parser)]
#[command(name = "watch", no_binary_name = true)]
struct WatchCommand {
    #[command(flatten)]
    args: WatchArgs,
}

impl WatchArgs {
    /// Parses `args` as the command line would.
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        WatchCommand::try_parse_from(args).map(|c| c.args)
    }

    /// Checks every option before any network call.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<WatchOptions, OptionError> {
        let invalid =
            |option: &'static str, message: String| OptionError::Invalid { option, message };
        let common = self.common.validate()?;
        let interval = parse_interval(&self.interval).map_err(|m| invalid("interval", m))?;
        let since = match self.since.as_deref() {
            Some(value) => {
                let since =
                    parse_time(value, now, &Local).map_err(|e| invalid("since", e.to_string()))?;
                if since > now {
                    return Err(invalid(
                        "since",
                        format!("{} is in the future", format_dropbox_time(since)),
                    ));
                }
                since
            }
            None => now,
        };
        let alert_on = AlertOn::parse(&self.alert_on).map_err(|m| invalid("alert-on", m))?;
        validate_name("name", &self.name, "watch name")?;
        if self.exit_code && !self.once {
            return Err(invalid("exit-code", "only works with -once".into()));
        }
        let mut targets = Vec::new();
        for url in &self.notify_webhook {
            targets.push(Target::webhook(url).map_err(|e| invalid("notify-webhook", problem(e)))?);
        }
        if let Some(command) = &self.notify_exec {
            targets.push(Target::exec(command).map_err(|e| invalid("notify-exec", problem(e)))?);
        }
        validate_peer(&self.peer)?;
        Ok(WatchOptions {
            interval,
            since,
            since_given: self.since.is_some(),
            alert_on,
            name: self.name.clone(),
            once: self.once,
            exit_code: self.exit_code,
            targets,
            peer: self.peer.clone(),
            common,
        })
    }
}

/// What was wrong with a notification target, without the option's name
/// (`OptionError` adds it).
fn problem(error: NotifyError) -> String {
    match error {
        NotifyError::Invalid { problem, .. } => problem,
        other => other.to_string(),
    }
}

impl WatchOptions {
    pub fn query(&self, home: &Path) -> WatchQuery {
        WatchQuery {
            name: self.name.clone(),
            since: self.since,
            alert_on: self.alert_on.clone(),
            concurrency: self.common.concurrency,
            home: home.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(args: &[&str]) -> Result<WatchOptions, OptionError> {
        let now = crate::domain::period::parse_dropbox_time("2026-07-14T09:12:44Z").unwrap();
        WatchArgs::parse_from(args).unwrap().validate(now)
    }

    #[test]
    fn defaults_watch_for_disabled_every_five_minutes_from_now() {
        let o = validate(&[]).unwrap();
        assert_eq!(o.interval, Duration::from_secs(300));
        assert_eq!(o.alert_on, AlertOn::Statuses(vec!["disabled".into()]));
        assert_eq!(format_dropbox_time(o.since), "2026-07-14T09:12:44Z");
        assert!(!o.since_given);
        assert_eq!(o.name, "default");
    }

    #[test]
    fn each_bad_value_names_its_option() {
        for (args, option) in [
            (&["--interval", "0s"][..], "-interval: "),
            (&["--interval", "5 minutes"][..], "-interval: "),
            (&["--since", "+1d"][..], "-since: "),
            (&["--since", "yesterday"][..], "-since: "),
            (&["--alert-on", ""][..], "-alert-on: "),
            (&["--name", "a/b"][..], "-name: "),
            (&["--exit-code"][..], "-exit-code: "),
            (
                &["--notify-webhook", "http://example.com/hook"][..],
                "-notify-webhook: ",
            ),
            (&["--notify-exec", "notify 'unclosed"][..], "-notify-exec: "),
        ] {
            let err = validate(args).unwrap_err().to_string();
            assert!(err.starts_with(option), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_webhook_url_is_never_repeated_in_the_error() {
        let err = validate(&[
            "--notify-webhook",
            "http://example.com/T000/B000/secret-part",
        ])
        .unwrap_err()
        .to_string();
        assert!(!err.contains("secret-part"), "{err}");
    }
}

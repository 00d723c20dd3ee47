//! The reference pages of `dropbox team backup device status` and
//! `... watch`, generated from the clap definitions, so `docs/commands/`
//! cannot drift from the binary (a test compares them).

use clap::{Arg, Command, CommandFactory};

use super::Cli;
use crate::domain::row::{visible_columns, COLUMNS};

const COLUMN_HELP: [(&str, &str); 12] = [
    (
        "actor_user_team_member_id",
        "Team member id of the device's owner (JSON only)",
    ),
    ("actor_user_email", "Email of the device's owner"),
    (
        "actor_user_display_name",
        "Display name of the device's owner",
    ),
    ("session_info_session_id", "Device session id (JSON only)"),
    ("session_info_ip_address", "IP address"),
    ("session_info_host_name", "Host name"),
    (
        "session_info_updated",
        "Last activity of the device session",
    ),
    (
        "session_info_client_type",
        "Client type (windows, mac, linux, ...)",
    ),
    ("session_info_client_version", "Client version"),
    ("session_info_platform", "Platform"),
    (
        "timestamp",
        "Time of the latest backup status change in the period (empty if none)",
    ),
    (
        "latest_status",
        "Latest status: enabled, disabled, no_status_update, or a newer Dropbox value",
    ),
];

fn device_command(leaf: &'static str) -> Command {
    let mut cmd = Cli::command();
    for name in ["dropbox", "team", "backup", "device", leaf] {
        cmd = cmd
            .find_subcommand(name)
            .cloned()
            .unwrap_or_else(|| Command::new(name));
    }
    cmd
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn option_row(arg: &Arg) -> Option<String> {
    let long = arg.get_long()?;
    if long == "help" || long == "version" {
        return None;
    }
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect();
    let boolean = values.iter().all(|v| v == "true" || v == "false");
    let help = if values.is_empty() || boolean || !arg.get_action().takes_values() {
        help
    } else {
        format!("{help} ({})", values.join(", "))
    };
    Some(format!(
        "| `-{long}` | {} | {} |",
        cell(&help),
        cell(&defaults.join(", "))
    ))
}

/// A command's own options and the common ones, as table rows.
fn option_tables(cmd: &Command) -> (String, String) {
    let (common, own): (Vec<&Arg>, Vec<&Arg>) = cmd
        .get_arguments()
        .partition(|a| a.get_help_heading() == Some("Common options"));
    let rows = |args: &[&Arg]| {
        args.iter()
            .filter_map(|a| option_row(a))
            .collect::<Vec<_>>()
            .join("\n")
    };
    (rows(&own), rows(&common))
}

/// The Markdown reference page of the status command.
pub fn status_reference() -> String {
    let cmd = device_command("status");
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let (own, common) = option_tables(&cmd);
    let columns = COLUMNS
        .iter()
        .map(|c| {
            let help = COLUMN_HELP
                .iter()
                .find(|(n, _)| n == c)
                .map_or("", |(_, h)| h);
            let csv = if visible_columns().any(|column| column.name() == *c) {
                "yes"
            } else {
                "no"
            };
            format!("| {c} | {help} | {csv} |")
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "<!-- Generated from the command's definitions by tests/docs.rs; do not edit by hand. -->\n\
# dropbox team backup device status\n\n\
{about}\n\n\
## Usage\n\n\
Windows:\n\n```\ncd $HOME\\Desktop\n.\\tbx.exe dropbox team backup device status -start-time \"2024-01-01\"\n```\n\n\
macOS, Linux:\n\n```\n$HOME/Desktop/tbx dropbox team backup device status -start-time \"2024-01-01\"\n```\n\n\
Options take one dash (`-start-time`) or two (`--start-time`), and `-option=value`.\n\n\
## Options\n\n| Option | Description | Default |\n|---|---|---|\n{own}\n\n\
Times: RFC 3339 (`2024-01-02T15:04:05Z`), `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, \
`YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM:SS`, `YYYY/MM/DD HH:MM:SS` (local time), or a signed \
duration relative to now (`-24h`, `-7d`).\n\n\
## Common options\n\n| Option | Description | Default |\n|---|---|---|\n{common}\n\n\
## Credentials\n\n\
In order: `TOOLBOX_DROPBOX_TOKEN` (an access token); `TOOLBOX_DROPBOX_REFRESH_TOKEN` with \
`TOOLBOX_DROPBOX_APP_KEY`; the peer stored by `tbx config auth add`; at a terminal, a code-paste \
login. `TOOLBOX_DROPBOX_API_URL` replaces the API base; `TOOLBOX_HOME` replaces `~/.toolbox`.\n\n\
## Results\n\n\
Reports are written to `<home>/jobs/<job-id>/reports` (`%USERPROFILE%\\.toolbox\\jobs\\<job-id>\\reports` \
on Windows), as `devices.csv`, `devices.json` and `devices.xlsx`; the paths are the last lines of the \
output. With `-budget-memory low` only `devices.json` is written. Over 10,000 rows the XLSX report is \
split into `devices_0000.xlsx`, `devices_0001.xlsx`, ...\n\n\
### Report: devices\n\n| Column | Description | In CSV/XLSX |\n|---|---|---|\n{columns}\n\n\
## Exit codes\n\n| Code | Meaning |\n|---|---|\n| 0 | done |\n| 2 | the run could not start (job folder) |\n\
| 4 | interrupted |\n| 8 | the command failed (API, network, files, -output-filter at run time: \
an error, more than 1 s or 1 MiB of output on one row, a crash) |\n\
| 9 | unknown command |\n| 10 | bad option or option value, or a required option missing (the help goes to stderr) |\n| 11 | no usable credential, or it was refused |\n",
    )
}

const WATCH_KEYS: [(&str, &str); 11] = [
    ("timestamp", "Time of the change (UTC)"),
    ("session_info_session_id", "Device session id"),
    ("session_info_host_name", "Host name"),
    ("owner_email", "Email of the device's owner"),
    ("owner_display_name", "Display name of the device's owner"),
    (
        "previous_status",
        "Status before the change (empty if the log has none)",
    ),
    ("new_status", "Status after the change"),
    ("actor_type", "Who made the change: user, admin, ..."),
    ("actor_email", "Email of whoever made the change"),
    ("actor_display_name", "Name of whoever made the change"),
    (
        "event_id",
        "The change's stable id (16 hex digits): the same for the same event, to dedupe",
    ),
];

/// The Markdown reference page of the watch command.
pub fn watch_reference() -> String {
    let cmd = device_command("watch");
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let (own, common) = option_tables(&cmd);
    let keys = WATCH_KEYS
        .iter()
        .map(|(k, h)| format!("| {k} | {h} |"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "<!-- Generated from the command's definitions by tests/docs.rs; do not edit by hand. -->\n\
# dropbox team backup device watch\n\n\
{about}\n\n\
## Usage\n\n\
```\ntbx dropbox team backup device watch -interval 5m -notify-webhook https://hooks.slack.com/services/...\n\
tbx dropbox team backup device watch -once -exit-code        # cron, Task Scheduler\n```\n\n\
Options take one dash (`-interval`) or two (`--interval`), and `-option=value`.\n\n\
## Options\n\n| Option | Description | Default |\n|---|---|---|\n{own}\n\n\
`-since` takes the times of the status command's `-start-time`; it counts on the first start \
of a checkpoint only. `-output none` prints no lines (notifications still go out).\n\n\
## Common options\n\n| Option | Description | Default |\n|---|---|---|\n{common}\n\n\
## Output\n\n\
One JSON line on stdout per change whose new status alerts (`-output-filter` applies to it); \
the header and, at a terminal, one status line per poll go to stderr. Webhooks receive \
`{{\"text\": \"<one readable line>\", \"change\": {{...the JSON line...}}}}`; `-notify-exec` gets \
the JSON line on stdin.\n\n\
| Key | Description |\n|---|---|\n{keys}\n\n\
## Exit codes\n\n| Code | Meaning |\n|---|---|\n| 0 | stopped (Ctrl-C, SIGTERM) or, with `-once`, \
done; with `-once -exit-code`: no change alerted |\n| 1 | `-once -exit-code`: at least one change alerted |\n\
| 2 | the watch could not start (job folder) |\n| 8 | `-once`: the poll failed (a continuous watch logs \
the failure and tries again next poll) |\n| 10 | bad option or option value |\n\
| 11 | no usable credential, or it was refused (also ends a continuous watch) |\n",
    )
}

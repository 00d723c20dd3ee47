//! Shared test harness: a simulator on 127.0.0.1, the real `tbx` binary run
//! against it in a throwaway home, and an independent computation of what
//! the report must contain, straight from the simulated team's raw JSON.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tbx::sim::generate::{generate, GenSpec};
use tbx::sim::{self, SimConfig, SimHandle, SimTeam};

pub const BIN: &str = env!("CARGO_BIN_EXE_tbx");

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn z(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The end of every generated test team's history.
pub fn anchor() -> DateTime<Utc> {
    utc("2026-07-01T00:00:00Z")
}

pub fn team(members: usize, seed: u64) -> SimTeam {
    generate(&GenSpec::new(members, seed, anchor()))
}

pub fn start(team: SimTeam) -> SimHandle {
    sim::start_background(team, SimConfig::default()).unwrap()
}

pub struct Run {
    pub home: tempfile::TempDir,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The `reports` folder of the single job this run created.
    pub fn reports(&self) -> PathBuf {
        job_dir(self.home.path()).join("reports")
    }
    pub fn report_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.reports())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

pub fn job_dir(home: &Path) -> PathBuf {
    let jobs: Vec<PathBuf> = std::fs::read_dir(home.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(jobs.len(), 1, "expected one job folder, found {jobs:?}");
    jobs[0].clone()
}

/// Runs `tbx <args>` against the simulator in a fresh home.
pub fn run(sim: &SimHandle, args: &[&str]) -> Run {
    run_with(Some(sim), args, &[])
}

pub fn run_with(sim: Option<&SimHandle>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TOOLBOX_DROPBOX_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_API_URL")
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_APP_KEY")
        .env("TOOLBOX_HOME", home.path())
        .env("NO_COLOR", "1");
    if let Some(sim) = sim {
        cmd.env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
            .env("TOOLBOX_DROPBOX_TOKEN", &sim.token);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    Run { home, output }
}

pub fn status_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["dropbox", "team", "backup", "device", "status"];
    args.extend_from_slice(extra);
    args
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// The backup status changes of `[start, end)` that name a session, in
/// log order: (session id, time, new status tag).
pub fn backup_changes(
    team: &SimTeam,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Vec<(String, DateTime<Utc>, String)> {
    let session_path = [
        "details",
        "desktop_device_session_info",
        "session_info",
        "session_id",
    ];
    team.events
        .iter()
        .filter(|e| s(e, &["event_type", ".tag"]) == "device_sync_backup_status_changed")
        .map(|e| {
            (
                s(e, &session_path).to_string(),
                utc(s(e, &["timestamp"])),
                s(e, &["details", "new_value", ".tag"]).to_string(),
            )
        })
        .filter(|(session, t, _)| !session.is_empty() && *t >= start && end.is_none_or(|e| *t < e))
        .collect()
}

/// What `devices.json` must hold for `[start, end)`, computed from the
/// team's raw JSON without the tool's code: one row per linked desktop
/// client; its latest backup change by timestamp, ties to the later one in
/// log order; owner from the member list; sorted by email, host, session.
pub fn expected_rows(
    team: &SimTeam,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Vec<Map<String, Value>> {
    let mut latest: std::collections::HashMap<String, (String, String)> = Default::default();
    for (session, t, status) in backup_changes(team, start, end) {
        match latest.get(&session) {
            Some((cur, _)) if utc(cur) > t => {}
            _ => {
                latest.insert(session, (z(t), status));
            }
        }
    }
    let mut rows = Vec::new();
    for member_devices in &team.devices {
        let member_id = s(member_devices, &["team_member_id"]);
        let member = team
            .members
            .iter()
            .find(|m| s(m, &["profile", "team_member_id"]) == member_id);
        let (email, name) = member
            .map(|m| {
                (
                    s(m, &["profile", "email"]),
                    s(m, &["profile", "name", "display_name"]),
                )
            })
            .unwrap_or(("", ""));
        for d in member_devices["desktop_clients"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let session = s(d, &["session_id"]);
            let (timestamp, status) = latest
                .get(session)
                .cloned()
                .unwrap_or((String::new(), "no_status_update".into()));
            let mut row = Map::new();
            for (k, v) in [
                ("actor_user_team_member_id", member_id),
                ("actor_user_email", email),
                ("actor_user_display_name", name),
                ("session_info_session_id", session),
                ("session_info_ip_address", s(d, &["ip_address"])),
                ("session_info_host_name", s(d, &["host_name"])),
                ("session_info_updated", s(d, &["updated"])),
                ("session_info_client_type", s(d, &["client_type", ".tag"])),
                ("session_info_client_version", s(d, &["client_version"])),
                ("session_info_platform", s(d, &["platform"])),
                ("timestamp", &timestamp),
                ("latest_status", &status),
            ] {
                row.insert(k.to_string(), Value::String(v.to_string()));
            }
            rows.push(row);
        }
    }
    sort_in_report_order(&mut rows);
    rows
}

/// The report's order, restated for expectations: owner email, host name
/// (case-insensitive, then exact), session id; unknown owners last.
pub fn sort_in_report_order(rows: &mut [Map<String, Value>]) {
    let key = |r: &Map<String, Value>, k: &str| r[k].as_str().unwrap().to_string();
    rows.sort_by_key(|r| {
        let email = key(r, "actor_user_email");
        let host = key(r, "session_info_host_name");
        (
            email.is_empty(),
            email.to_lowercase(),
            host.to_lowercase(),
            email,
            host,
            key(r, "session_info_session_id"),
        )
    });
}

pub const ALL_KEYS: [&str; 12] = [
    "actor_user_team_member_id",
    "actor_user_email",
    "actor_user_display_name",
    "session_info_session_id",
    "session_info_ip_address",
    "session_info_host_name",
    "session_info_updated",
    "session_info_client_type",
    "session_info_client_version",
    "session_info_platform",
    "timestamp",
    "latest_status",
];

/// The CSV/XLSX columns: all but the two ids, which tbx hides.
pub const VISIBLE: [&str; 10] = [
    ALL_KEYS[1],
    ALL_KEYS[2],
    ALL_KEYS[4],
    ALL_KEYS[5],
    ALL_KEYS[6],
    ALL_KEYS[7],
    ALL_KEYS[8],
    ALL_KEYS[9],
    ALL_KEYS[10],
    ALL_KEYS[11],
];

/// Reads JSON lines, checking every line's key order.
pub fn read_json_lines(text: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .map(|line| {
            let positions: Vec<usize> = ALL_KEYS
                .iter()
                .map(|k| {
                    line.find(&format!("\"{k}\":"))
                        .unwrap_or_else(|| panic!("{k} missing in {line}"))
                })
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "key order in {line}"
            );
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// All cells of the `devices` sheet as strings, failing on any formula.
pub fn read_xlsx(path: &Path) -> Vec<Vec<String>> {
    use calamine::{open_workbook, Reader, Xlsx};
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    assert_eq!(workbook.sheet_names(), vec!["devices".to_string()]);
    let formulas = workbook.worksheet_formula("devices").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no cell may be a formula"
    );
    let range = workbook.worksheet_range("devices").unwrap();
    range
        .rows()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// The expected CSV cell: formula-looking values get a leading quote.
pub fn defanged(v: &str) -> String {
    match v.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{v}"),
        _ => v.to_string(),
    }
}

pub fn visible(row: &Map<String, Value>) -> Vec<String> {
    VISIBLE
        .iter()
        .map(|k| row[*k].as_str().unwrap().to_string())
        .collect()
}

/// Checks every report format of a run against the expectation.
pub fn assert_reports_match(run: &Run, expected: &[Map<String, Value>]) {
    let dir = run.reports();
    let json = std::fs::read_to_string(dir.join("devices.json")).unwrap();
    let rows = read_json_lines(&json);
    assert_eq!(rows.len(), expected.len(), "row count");
    for (i, (got, want)) in rows.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "devices.json row {i}");
    }
    let csv = read_csv(&dir.join("devices.csv"));
    assert_eq!(csv[0], VISIBLE.to_vec());
    assert_eq!(csv.len(), expected.len() + 1);
    for (i, (got, want)) in csv[1..].iter().zip(expected).enumerate() {
        let want: Vec<String> = visible(want).iter().map(|v| defanged(v)).collect();
        assert_eq!(got, &want, "devices.csv row {i}");
    }
    let xlsx_files: Vec<PathBuf> = run
        .report_names()
        .iter()
        .filter(|n| n.ends_with(".xlsx"))
        .map(|n| dir.join(n))
        .collect();
    let mut xlsx_rows = Vec::new();
    for file in &xlsx_files {
        let cells = read_xlsx(file);
        assert_eq!(cells[0], VISIBLE.to_vec(), "header of {}", file.display());
        xlsx_rows.extend(cells.into_iter().skip(1));
    }
    assert_eq!(xlsx_rows.len(), expected.len());
    for (i, (got, want)) in xlsx_rows.iter().zip(expected).enumerate() {
        assert_eq!(got, &visible(want), "xlsx row {i}");
    }
}

/// Sessions whose latest second in `[start, end)` holds several changes
/// with different statuses: the report for them depends on the tie rule.
pub fn tie_decided_sessions(
    team: &SimTeam,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> usize {
    let mut by_session: std::collections::HashMap<String, Vec<(DateTime<Utc>, String)>> =
        Default::default();
    for (session, t, status) in backup_changes(team, start, end) {
        by_session.entry(session).or_default().push((t, status));
    }
    by_session
        .values()
        .filter(|changes| {
            let latest = changes.iter().map(|(t, _)| *t).max().unwrap();
            let statuses: std::collections::HashSet<&String> = changes
                .iter()
                .filter(|(t, _)| *t == latest)
                .map(|(_, s)| s)
                .collect();
            statuses.len() > 1
        })
        .count()
}

/// A job's log (`logs/<name>.gz`, as the run leaves it), decompressed.
pub fn read_log(job: &Path, name: &str) -> String {
    use std::io::Read;
    let file = std::fs::File::open(job.join("logs").join(format!("{name}.gz")))
        .unwrap_or_else(|e| panic!("{name}.gz in {}: {e}", job.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Runs the status command (`-output none`) in `home`, kept between runs,
/// so reruns meet the event store the previous run left.
pub fn run_status_in(home: &Path, sim: &SimHandle, args: &[&str]) -> Output {
    let mut all = status_args(&["-output", "none"]);
    all.extend_from_slice(args);
    Command::new(BIN)
        .args(&all)
        .env("TOOLBOX_HOME", home)
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .output()
        .unwrap()
}

/// The newest job folder under `home`.
pub fn latest_job(home: &Path) -> PathBuf {
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(home.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    jobs.sort();
    jobs.pop().unwrap()
}

/// The newest job's devices.json rows.
pub fn latest_rows(home: &Path) -> Vec<Map<String, Value>> {
    let json = std::fs::read_to_string(latest_job(home).join("reports/devices.json")).unwrap();
    read_json_lines(&json)
}

//! A full disk, wherever it strikes: the job folder sits on a small tmpfs,
//! swept through sizes so the space runs out in the capture log, the CSV,
//! the JSON, the XLSX (inside rust_xlsxwriter) and the logs' gzip. Every run
//! either finishes whole or fails with exit 8 and one line naming the file,
//! leaves no report, and keeps the job log (or says why there is none).
//!
//! Mounting needs root (as here and in CI); elsewhere the tests say they
//! were skipped and why.

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use common::*;

/// A tmpfs mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size_kib: u32) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Why a tmpfs cannot be mounted here, if it cannot.
fn cannot_mount() -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    Tmpfs::mount(&dir.path().join("probe"), 64).err()
}

macro_rules! skip_without_mount {
    () => {
        if let Some(why) = cannot_mount() {
            eprintln!("skipped: cannot mount a tmpfs ({why}); run as root to test a full disk");
            return;
        }
    };
}

/// Runs the command with the job folder on a fresh tmpfs of `size_kib`,
/// after `fill` has had its way with it.
fn run_on_tmpfs(
    sim: &tbx::sim::SimHandle,
    home: &Path,
    size_kib: u32,
    fill: impl FnOnce(&Path),
) -> (std::process::Output, Tmpfs) {
    let jobs = home.join("jobs");
    let tmpfs = Tmpfs::mount(&jobs, size_kib).unwrap();
    fill(&jobs);
    let start = z(anchor() - Duration::days(60));
    let output = Command::new(BIN)
        .args(status_args(&["-start-time", &start, "-quiet"]))
        .env("TOOLBOX_HOME", home)
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .output()
        .unwrap();
    (output, tmpfs)
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The one job folder on the tmpfs (beside any filler).
fn the_job(home: &Path) -> PathBuf {
    let jobs: Vec<PathBuf> = std::fs::read_dir(home.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].clone()
}

/// What one failed run left, checked against the rules; returns the report
/// file the error named and the job log it kept (`None`: no job log).
fn check_failure(home: &Path, stderr: &str) -> (String, Option<PathBuf>) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    let line = lines[0];
    assert!(
        line.starts_with("Error: cannot write report ") && line.contains("No space left on device"),
        "{line}"
    );
    assert!(!line.contains("panic"), "{line}");
    let job = the_job(home);
    let reports = files_under(&job.join("reports"));
    assert!(reports.is_empty(), "no report, no .partial: {reports:?}");
    let named = line
        .split("/reports/")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("names a report file: {line}"))
        .to_string();
    if let Some((_, rest)) = line.split_once("(job log: ") {
        let log = PathBuf::from(rest.trim_end_matches(')'));
        let text = if log.extension().is_some_and(|e| e == "gz") {
            read_log(&job, "toolbox.log")
        } else {
            std::fs::read_to_string(&log).unwrap()
        };
        let failed = text.lines().rev().take(3).any(|l| l.contains("\"failed\""));
        assert!(failed, "the log ends with the failure: {text}");
        assert!(
            text.contains("\"start\""),
            "and begins at the start: {text}"
        );
        (named, Some(log))
    } else {
        assert!(
            line.contains("(no job log: cannot write ") && line.contains("toolbox.log: No space"),
            "the missing job log is explained: {line}"
        );
        assert!(!job.join("logs/toolbox.log").exists());
        (named, None)
    }
}

#[test]
fn a_full_disk_fails_cleanly_wherever_it_strikes() {
    skip_without_mount!();
    let sim = start(team(30, 61));
    let home = tempfile::tempdir().unwrap();
    let mut named = BTreeSet::new();
    let mut plain_logs = 0;
    let mut finished = false;
    for size_kib in (4..=1024).step_by(4) {
        let (output, tmpfs) = run_on_tmpfs(&sim, home.path(), size_kib, |_| {});
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(0) => {
                let reports = files_under(&the_job(home.path()).join("reports"));
                assert_eq!(
                    reports,
                    ["devices.csv", "devices.json", "devices.xlsx"],
                    "{size_kib} KiB"
                );
                finished = true;
            }
            Some(8) => {
                let (file, log) = check_failure(home.path(), &stderr);
                named.insert(file);
                if log.is_some_and(|l| l.ends_with("toolbox.log")) {
                    plain_logs += 1;
                }
            }
            other => panic!("{size_kib} KiB: exit {other:?}: {stderr}"),
        }
        drop(tmpfs);
        if finished {
            break;
        }
    }
    assert!(finished, "some size is enough");
    let expected: BTreeSet<String> = ["devices.csv", "devices.json", "devices.xlsx"]
        .map(String::from)
        .into();
    assert_eq!(named, expected, "the disk filled up in each report");
    assert!(
        plain_logs > 0,
        "some runs had no room to gzip the log and kept it plain"
    );
}

/// Fills the file system until it refuses another byte.
fn fill_up(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    while filler.write_all(&block[..1]).is_ok() {}
}

#[test]
fn a_disk_full_from_the_start_says_there_is_no_job_log() {
    skip_without_mount!();
    let sim = start(team(5, 62));
    let home = tempfile::tempdir().unwrap();
    let (output, _tmpfs) = run_on_tmpfs(&sim, home.path(), 64, fill_up);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(8), "{stderr}");
    let (file, log) = check_failure(home.path(), &stderr);
    assert_eq!(file, "devices.csv");
    assert_eq!(log, None, "{stderr}");
    let left = files_under(&the_job(home.path()));
    assert!(left.is_empty(), "no empty logs left behind: {left:?}");
}

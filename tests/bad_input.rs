//! Every kind of bad input is refused before the first network call: one
//! line on stderr naming the option and what is accepted, exit 10, and no
//! job folder, let alone a report.

mod common;

use common::*;

/// Arguments, extra environment, and what the error line must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn every_bad_input_is_refused_before_any_call() {
    let sim = start(team(5, 51));
    let scratch = tempfile::tempdir().unwrap();
    let a_file = scratch.path().join("plain-file");
    std::fs::write(&a_file, b"x").unwrap();
    let under_file = a_file.join("sub");
    let under_file = under_file.to_str().unwrap();
    let db_under_file = a_file.join("secrets.db");
    let db_under_file = db_under_file.to_str().unwrap();
    let table: Vec<Case> = vec![
        (vec![], vec![], "--start-time"),
        (
            vec!["-start-time", "2025-02-30"],
            vec![],
            "-start-time: cannot read '2025-02-30'",
        ),
        (
            vec!["-start-time", "next tuesday"],
            vec![],
            "expected RFC 3339",
        ),
        (
            vec!["-start-time", "2024-02-01", "-end-time", "2024-01-01"],
            vec![],
            "-end-time: ",
        ),
        (
            vec!["-start-time", "2024-02-01", "-end-time", "2024-02-01"],
            vec![],
            "must be after -start-time",
        ),
        (
            vec!["-start-time", "-1d", "-concurrency", "0"],
            vec![],
            "--concurrency",
        ),
        (
            vec!["-start-time", "-1d", "-concurrency", "many"],
            vec![],
            "--concurrency",
        ),
        (
            vec!["-start-time", "-1d", "-output", "yaml"],
            vec![],
            "possible values: text, markdown, json, none",
        ),
        (
            vec!["-start-time", "-1d", "-budget-memory", "huge"],
            vec![],
            "possible values: normal, low",
        ),
        (
            vec!["-start-time", "-1d", "-budget-storage", "huge"],
            vec![],
            "possible values: normal, low",
        ),
        (
            vec!["-start-time", "-1d", "-retain-job-data", "forever"],
            vec![],
            "possible values: default, on_error, none",
        ),
        (
            vec![
                "-start-time",
                "-1d",
                "-output-filter",
                "select(.latest_status ==",
            ],
            vec![],
            "-output-filter: syntax error at column",
        ),
        (
            vec!["-start-time", "-1d", "-proxy", "proxy.example.com"],
            vec![],
            "-proxy: 'proxy.example.com' is not a proxy; expected hostname:port",
        ),
        (
            vec!["-start-time", "-1d", "-workspace", under_file],
            vec![],
            "-workspace: cannot create",
        ),
        (
            vec!["-start-time", "-1d", "-auth-database", db_under_file],
            vec![],
            "exists and is not a folder",
        ),
        (
            vec!["-start-time", "-1d", "-peer", "ops team"],
            vec![],
            "-peer: 'ops team' is not a peer name",
        ),
        (
            vec!["-start-time", "-1d", "-frobnicate"],
            vec![],
            "--frobnicate",
        ),
        (
            vec!["-start-time", "-1d"],
            vec![("TOOLBOX_DROPBOX_API_URL", "http://api.example.com")],
            "TOOLBOX_DROPBOX_API_URL: 'http://api.example.com'",
        ),
        (
            vec!["-start-time", "-1d"],
            vec![("TOOLBOX_DROPBOX_API_URL", "not a url")],
            "TOOLBOX_DROPBOX_API_URL: 'not a url'",
        ),
    ];
    for (args, env, needle) in table {
        let mut env: Vec<(&str, &str)> = env;
        if !env.iter().any(|(k, _)| *k == "TOOLBOX_DROPBOX_API_URL") {
            env.push(("TOOLBOX_DROPBOX_API_URL", &sim.base_url));
        }
        env.push(("TOOLBOX_DROPBOX_TOKEN", &sim.token));
        let run = run_with(None, &status_args(&args), &env);
        let stderr = run.stderr();
        if args.is_empty() {
            // No arguments at all: the help on stderr, then the error line.
            assert_eq!(run.code(), 10, "{stderr}");
            assert!(stderr.lines().last().unwrap().contains(needle), "{stderr}");
            continue;
        }
        assert_eq!(run.code(), 10, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.starts_with("Error: "), "{stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} should contain {needle:?}"
        );
        assert!(
            !run.home.path().join("jobs").exists(),
            "{args:?}: no job folder"
        );
    }
    let run = run_with(None, &status_args(&["-peer", "x"]), &[]);
    assert_eq!(run.code(), 10);
    assert!(
        run.stderr().contains("--start-time"),
        "missing -start-time is named"
    );
    assert!(
        sim.call_counts().is_empty(),
        "no API call: {:?}",
        sim.call_counts()
    );
}

/// Numbers that used to overflow (`-stale-days 97000000` panicked on date
/// arithmetic) are refused by range, naming the option and the range.
#[test]
fn numeric_options_out_of_range_are_refused_naming_the_range() {
    let sim = start(team(5, 52));
    let env = [
        ("TOOLBOX_DROPBOX_API_URL", sim.base_url.as_str()),
        ("TOOLBOX_DROPBOX_TOKEN", sim.token.as_str()),
    ];
    let status = |option: &'static str, value: &'static str| {
        status_args(&["-start-time", "-1d", "-reports", "summary", option, value])
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            status("-stale-days", "97000000"),
            "--stale-days <DAYS>': 97000000 is not in 0..=36500",
        ),
        (status("-stale-days", "4294967296"), "--stale-days"),
        (
            status("-concurrency", "100000"),
            "--concurrency <N>': 100000 is not in 1..=1024",
        ),
        (
            status("-bandwidth-kb", "18446744073709551615"),
            "--bandwidth-kb <KB>'",
        ),
        (
            vec!["dev", "demo", "-members", "0"],
            "--members <N>': 0 is not in 1..=100000",
        ),
        (
            vec!["dev", "simulate", "-desktops", "99999999999"],
            "--desktops <N>': 99999999999 is not in 0..=100",
        ),
        (
            vec!["dev", "simulate", "-changes", "5000"],
            "--changes <N>'",
        ),
        (
            vec!["dev", "simulate", "-noise-ratio", "5000"],
            "--noise-ratio <N>'",
        ),
        (
            vec!["dev", "simulate", "-token-lifetime", "18446744073709551615"],
            "--token-lifetime <SECS>'",
        ),
        (
            vec!["dev", "simulate", "-latency-ms", "18446744073709551615"],
            "--latency-ms <MS>'",
        ),
        (
            vec!["dev", "simulate", "-retry-after", "18446744073709551615"],
            "--retry-after <SECS>'",
        ),
        (
            vec!["dev", "bench", "-events", "18446744073709551615"],
            "--events <N>'",
        ),
        (
            vec!["dev", "bench", "-fold-events", "18446744073709551615"],
            "--fold-events <N>'",
        ),
        (
            vec!["dev", "bench", "-latency-ms", "18446744073709551615"],
            "--latency-ms <MS>'",
        ),
    ];
    for (args, needle) in cases {
        let run = run_with(None, &args, &env);
        let stderr = run.stderr();
        assert_eq!(run.code(), 10, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!run.home.path().join("jobs").exists(), "{args:?}");
    }
    assert!(sim.call_counts().is_empty());
    // The edge of the range is fine, and so is a summary with it.
    let run = run(&sim, &status("-stale-days", "36500"));
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[cfg(unix)]
#[test]
fn an_endless_extra_file_is_refused_after_one_mib() {
    let run = run_with(None, &status_args(&["-extra", "/dev/zero"]), &[]);
    assert_eq!(run.code(), 10, "{}", run.stderr());
    assert_eq!(
        run.stderr(),
        "Error: -extra: '/dev/zero' is larger than 1 MiB; expected a JSON object of option values\n"
    );
}

#[test]
fn an_extra_file_over_one_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let padding = " ".repeat(1 << 20);
    std::fs::write(&big, format!("{{\"start-time\": \"-1d\"}}{padding}")).unwrap();
    let run = run_with(None, &status_args(&["-extra", big.to_str().unwrap()]), &[]);
    assert_eq!(run.code(), 10, "{}", run.stderr());
    assert!(
        run.stderr().contains("is larger than 1 MiB"),
        "{}",
        run.stderr()
    );
}

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

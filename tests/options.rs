//! The rest of the common options: -experiment, -extra, -auto-open, and
//! shell completion.

mod common;

use common::*;

#[test]
fn report_all_columns_puts_the_ids_into_csv_xlsx_and_the_table() {
    let sim = start(team(15, 101));
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-05-01T00:00:00Z",
            "-experiment",
            "report_all_columns",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let csv = read_csv(&run.reports().join("devices.csv"));
    assert_eq!(csv[0], ALL_KEYS.to_vec());
    let xlsx = read_xlsx(&run.reports().join("devices.xlsx"));
    assert_eq!(xlsx[0], ALL_KEYS.to_vec());
    assert!(run.stdout().contains("actor_user_team_member_id"));
    let bad = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-experiment", "warp_drive"]),
        &[],
    );
    assert_eq!(bad.code(), 10);
    assert!(bad
        .stderr()
        .contains("-experiment: unknown experiment 'warp_drive'; known: report_all_columns"));
}

#[test]
fn extra_file_gives_defaults_and_the_command_line_wins() {
    let sim = start(team(15, 102));
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.json");
    std::fs::write(
        &extra,
        r#"{"start-time": "2026-05-01T00:00:00Z", "output": "json", "budget_memory": "low", "quiet": true}"#,
    )
    .unwrap();
    let path = extra.to_str().unwrap();
    let run1 = run(&sim, &status_args(&["-extra", path]));
    assert_eq!(run1.code(), 0, "{}", run1.stderr());
    assert_eq!(
        run1.report_names(),
        ["devices.json"],
        "budget_memory low from the file"
    );
    assert!(
        !read_json_lines(&run1.stdout()).is_empty(),
        "quiet JSON from the file"
    );

    let run2 = run(
        &sim,
        &status_args(&[
            "-extra",
            path,
            "-budget-memory",
            "normal",
            "-quiet=false",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run2.code(), 0, "{}", run2.stderr());
    assert_eq!(
        run2.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"],
        "the command line wins"
    );
    assert_eq!(run2.stdout(), "");

    std::fs::write(&extra, r#"{"start-time": "-1d", "warp": 9}"#).unwrap();
    let bad = run(&sim, &status_args(&["-extra", path]));
    assert_eq!(bad.code(), 10);
    assert!(
        bad.stderr().contains("has an unknown option 'warp'"),
        "{}",
        bad.stderr()
    );
    let missing = run(&sim, &status_args(&["-extra", "/nonexistent/extra.json"]));
    assert_eq!(missing.code(), 10);
    assert!(missing.stderr().starts_with("Error: -extra: cannot read"));
}

// The desktop test is X11/Wayland's; macOS and Windows always have a desktop
// (`open`, `explorer`).
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn auto_open_opens_the_reports_folder_only_on_a_desktop() {
    let sim = start(team(10, 103));
    let bin = tempfile::tempdir().unwrap();
    let marker = bin.path().join("opened");
    let opener = bin.path().join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", marker.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let args = status_args(&[
        "-start-time",
        "2026-05-01T00:00:00Z",
        "-output",
        "none",
        "-auto-open",
    ]);

    let headless = run_with(
        Some(&sim),
        &args,
        &[("PATH", &path), ("DISPLAY", ""), ("WAYLAND_DISPLAY", "")],
    );
    assert_eq!(headless.code(), 0, "{}", headless.stderr());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!marker.exists(), "no desktop: nothing is opened");

    let desktop = run_with(Some(&sim), &args, &[("PATH", &path), ("DISPLAY", ":0")]);
    assert_eq!(desktop.code(), 0, "{}", desktop.stderr());
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let opened = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(opened.trim(), desktop.reports().display().to_string());
}

#[test]
fn completion_scripts_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = run_with(None, &["completion", shell], &[]);
        assert_eq!(run.code(), 0, "{shell}");
        assert!(
            run.stdout().contains("start-time"),
            "{shell} completion names the options"
        );
    }
}

#[test]
fn japanese_console_messages_with_lang_ja_or_a_japanese_locale() {
    let sim = start(team(10, 104));
    let args = status_args(&["-start-time", "2026-05-01T00:00:00Z", "-lang", "ja"]);
    let ja = run_with(Some(&sim), &args, &[]);
    assert_eq!(ja.code(), 0, "{}", ja.stderr());
    let out = ja.stdout();
    assert!(out.contains("レポートを作成しました: "), "{out}");
    assert!(out.contains("チーム:") && out.contains(" 件"), "{out}");
    let csv = read_csv(&ja.reports().join("devices.csv"));
    assert_eq!(
        csv[0],
        VISIBLE.to_vec(),
        "report columns do not change with the language"
    );

    let auto = run_with(
        Some(&sim),
        &status_args(&["-start-time", "2026-05-01T00:00:00Z"]),
        &[("LANG", "ja_JP.UTF-8"), ("LC_ALL", "")],
    );
    assert!(auto.stdout().contains("レポートを作成しました: "));
    let english = run_with(
        Some(&sim),
        &status_args(&["-start-time", "2026-05-01T00:00:00Z", "-lang", "en"]),
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert!(english.stdout().contains("The report generated: "));
}

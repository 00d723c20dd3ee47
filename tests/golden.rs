//! Golden reports: the status command, run with every report and each
//! family of options on one fixed simulated team and closed periods, must
//! write the same bytes as the files kept in `tests/golden/`. Refactors
//! must not change a report, a console line or an exit code.
//!
//! `TBX_UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files; a
//! change to them is a change users see, reviewed as such.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// One run: a name (its folder under tests/golden) and the options.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "all_reports_text",
        args: &[
            "-start-time",
            "2026-04-01T00:00:00Z",
            "-end-time",
            "2026-07-01T00:00:00Z",
            "-reports",
            "all",
            "-stale-days",
            "20",
        ],
    },
    Case {
        name: "unlinked_selection_markdown",
        args: &[
            "-start-time",
            "2026-05-01T00:00:00Z",
            "-end-time",
            "2026-06-15T12:00:00Z",
            "-include-unlinked",
            "-status",
            "disabled,enabled",
            "-sort",
            "session_info_host_name",
            "-desc",
            "-reports",
            "history,summary,html",
            "-output",
            "markdown",
        ],
    },
    Case {
        name: "all_columns_json_filter",
        args: &[
            "-start-time",
            "2026-03-01T00:00:00Z",
            "-end-time",
            "2026-07-01T00:00:00Z",
            "-experiment",
            "report_all_columns",
            "-output",
            "json",
            "-output-filter",
            "{email: .actor_user_email, status: .latest_status, at: .timestamp}",
        ],
    },
    Case {
        name: "low_memory_quiet_member",
        args: &[
            "-start-time",
            "2026-06-01T00:00:00Z",
            "-end-time",
            "2026-07-01T00:00:00Z",
            "-budget-memory",
            "low",
            "-quiet",
            "-member",
            "a",
            "-client-type",
            "windows",
            "-reports",
            "history",
        ],
    },
    Case {
        name: "platform_sort_ja",
        args: &[
            "-start-time",
            "2026-01-01T00:00:00Z",
            "-end-time",
            "2026-07-01T00:00:00Z",
            "-lang",
            "ja",
            "-sort",
            "timestamp",
            "-include-unlinked",
            "-reports",
            "summary",
            "-stale-days",
            "0",
        ],
    },
];

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

/// Lines that say when the report was made, or where the run's job is,
/// differ between runs; everything else must not.
fn normalize(text: &str, home: &Path) -> String {
    let home = home.display().to_string();
    text.lines()
        .map(|line| {
            let line = line.replace(&home, "<HOME>");
            let line = mask_job_ids(&line);
            if line.contains("\"generated\"") {
                "  \"generated\": <NOW>,".to_string()
            } else if let Some(at) = line.find("Generated ") {
                format!("{}Generated <NOW>", &line[..at])
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Job folders are named by their start time: `<HOME>/jobs/<id>`.
fn mask_job_ids(line: &str) -> String {
    let Some(at) = line.find("<HOME>/jobs/") else {
        return line.to_string();
    };
    let rest = &line[at + "<HOME>/jobs/".len()..];
    let end = rest.find(['/', ' ', '`', '|']).unwrap_or(rest.len());
    format!("{}<HOME>/jobs/<JOB>{}", &line[..at], &rest[end..])
}

/// Every sheet and cell of a workbook, with each cell's type.
fn dump_xlsx(path: &Path) -> String {
    use calamine::{open_workbook, Reader, Xlsx};
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    let mut out = String::new();
    for sheet in workbook.sheet_names() {
        out.push_str(&format!("# sheet {sheet}\n"));
        let range = workbook.worksheet_range(&sheet).unwrap();
        for row in range.rows() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:?}")).collect();
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
    }
    out
}

/// The files to compare: name, then its normalized content.
fn outputs(run: &Run) -> Vec<(String, String)> {
    let home = run.home.path();
    let mut files = vec![
        ("exit_code.txt".to_string(), format!("{}\n", run.code())),
        ("stdout.txt".to_string(), normalize(&run.stdout(), home)),
        ("stderr.txt".to_string(), normalize(&run.stderr(), home)),
    ];
    for name in run.report_names() {
        let path = run.reports().join(&name);
        let content = if name.ends_with(".xlsx") {
            dump_xlsx(&path)
        } else {
            normalize(&std::fs::read_to_string(&path).unwrap(), home)
        };
        let kept = if name.ends_with(".xlsx") {
            format!("{name}.txt")
        } else {
            name
        };
        files.push((kept, content));
    }
    files
}

#[test]
fn reports_and_console_match_the_golden_files() {
    let sim = common::start(team(40, 2024));
    let update = std::env::var_os("TBX_UPDATE_GOLDEN").is_some();
    let mut differences = Vec::new();
    for case in CASES {
        // A fresh home per case: no event store carries over.
        let run = run_with(
            Some(&sim),
            &status_args(case.args),
            &[("COLUMNS", "200"), ("LANG", "C")],
        );
        let dir = golden_dir(case.name);
        let files = outputs(&run);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, content) in &files {
                std::fs::write(dir.join(name), content).unwrap();
            }
            continue;
        }
        let mut kept: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}; run with TBX_UPDATE_GOLDEN=1", dir.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        kept.sort();
        let mut made: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        made.sort();
        if kept != made {
            differences.push(format!("{}: files {made:?}, golden {kept:?}", case.name));
            continue;
        }
        for (name, content) in &files {
            let golden = std::fs::read_to_string(dir.join(name)).unwrap();
            if &golden != content {
                let line = golden
                    .lines()
                    .zip(content.lines())
                    .position(|(a, b)| a != b)
                    .map_or(golden.lines().count().min(content.lines().count()), |i| i);
                differences.push(format!(
                    "{}/{name}: differs at line {}:\n  golden: {:?}\n  now:    {:?}",
                    case.name,
                    line + 1,
                    golden.lines().nth(line).unwrap_or("<end>"),
                    content.lines().nth(line).unwrap_or("<end>"),
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

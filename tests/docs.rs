//! The command reference pages (docs/commands/) and the MCP tool reference
//! (docs/mcp.md) are generated from the definitions; these fail when a page
//! is stale. Refresh them with `UPDATE_DOCS=1 cargo test --test docs`.

use std::path::Path;

/// Compares `page` with the file at `relative` (writing it first with
/// `UPDATE_DOCS`), and checks that each of `must_hold` appears in it.
fn check_page(relative: &str, page: &str, must_hold: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, page).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "{} is stale; run `UPDATE_DOCS=1 cargo test --test docs`",
        path.display()
    );
    for text in must_hold {
        assert!(page.contains(text), "{text} is documented in {relative}");
    }
}

fn option_rows(options: &[&str]) -> Vec<String> {
    options.iter().map(|o| format!("| `{o}` |")).collect()
}

#[test]
fn the_command_reference_page_is_up_to_date() {
    let rows = option_rows(&[
        "-start-time",
        "-end-time",
        "-peer",
        "-output-filter",
        "-budget-memory",
        "-retain-job-data",
    ]);
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    check_page(
        "docs/commands/dropbox-team-backup-device-status.md",
        &tbx::cli::reference::status_reference(),
        &rows,
    );
}

#[test]
fn the_watch_reference_page_is_up_to_date() {
    let rows = option_rows(&[
        "-interval",
        "-since",
        "-alert-on",
        "-name",
        "-once",
        "-exit-code",
        "-notify-webhook",
        "-notify-exec",
        "-peer",
        "-output-filter",
    ]);
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    check_page(
        "docs/commands/dropbox-team-backup-device-watch.md",
        &tbx::cli::reference::watch_reference(),
        &rows,
    );
}

#[test]
fn the_mcp_tool_reference_is_up_to_date() {
    use tbx::recipes::mcp::{reference, REFERENCE_MARKER};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mcp.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let head = current
        .split_once(REFERENCE_MARKER)
        .map_or(current.as_str(), |(head, _)| head);
    check_page(
        "docs/mcp.md",
        &format!("{head}{}", reference()),
        &[
            "### `backup_device_status`",
            "### `backup_summary`",
            "### `backup_status_history`",
            "| `-simulate` |",
            "\"readOnlyHint\":true",
        ],
    );
}

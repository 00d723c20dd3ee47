//! docs/commands/dropbox-team-backup-device-status.md is generated from the
//! command's definitions; this fails when the page is stale. Refresh it
//! with `UPDATE_DOCS=1 cargo test --test docs`.

use std::path::Path;

#[test]
fn the_command_reference_page_is_up_to_date() {
    let page = tbx::cli::reference::status_reference();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/commands/dropbox-team-backup-device-status.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "{} is stale; run `UPDATE_DOCS=1 cargo test --test docs`",
        path.display()
    );
    for option in [
        "-start-time",
        "-end-time",
        "-peer",
        "-output-filter",
        "-budget-memory",
        "-retain-job-data",
    ] {
        assert!(
            page.contains(&format!("| `{option}` |")),
            "{option} is documented"
        );
    }
}

#[test]
fn the_watch_reference_page_is_up_to_date() {
    let page = tbx::cli::reference::watch_reference();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/commands/dropbox-team-backup-device-watch.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "{} is stale; run `UPDATE_DOCS=1 cargo test --test docs`",
        path.display()
    );
    for option in [
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
    ] {
        assert!(
            page.contains(&format!("| `{option}` |")),
            "{option} is documented"
        );
    }
}

#[test]
fn the_mcp_tool_reference_is_up_to_date() {
    use tbx::recipes::mcp::{reference, REFERENCE_MARKER};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mcp.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let head = current
        .split_once(REFERENCE_MARKER)
        .map_or(current.as_str(), |(head, _)| head);
    let page = format!("{head}{}", reference());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "{} is stale; run `UPDATE_DOCS=1 cargo test --test docs`",
        path.display()
    );
    for name in [
        "### `backup_device_status`",
        "### `backup_summary`",
        "### `backup_status_history`",
        "| `-simulate` |",
        "\"readOnlyHint\":true",
    ] {
        assert!(page.contains(name), "{name} is documented");
    }
}

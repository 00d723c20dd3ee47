//! `-auto-open`: shows the reports folder in the desktop's file manager
//! when the run produced files and a desktop is there to show it; otherwise
//! it does nothing. The opener runs detached; its failure only costs a
//! warning.

use std::path::Path;
use std::process::{Command, Stdio};

/// The opener command for this platform, when a desktop is present.
fn opener() -> Option<&'static str> {
    if cfg!(target_os = "windows") {
        Some("explorer")
    } else if cfg!(target_os = "macos") {
        Some("open")
    } else {
        let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        desktop.then_some("xdg-open")
    }
}

/// Opens `folder`; `Ok(false)` when there is no desktop (a no-op).
pub fn open_folder(folder: &Path) -> Result<bool, String> {
    let Some(program) = opener() else {
        return Ok(false);
    };
    Command::new(program)
        .arg(folder)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| true)
        .map_err(|e| format!("cannot run {program}: {e}"))
}

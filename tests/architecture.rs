//! The layers of docs/architecture.md, enforced: every `crate::<module>`
//! path in a module's source must name a module that layer may use. Imports
//! point down (cli → recipes → ops → store/report/options → dropbox → domain);
//! a new upward or sideways edge fails here, with the file that made it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "recipes",
            "ops",
            "options",
            "report",
            "store",
            "job",
            "notify",
            "dropbox",
            "domain",
            "sim",
            "build_info",
            "private_file",
        ],
    ),
    (
        "recipes",
        &[
            "ops",
            "options",
            "report",
            "store",
            "job",
            "notify",
            "dropbox",
            "domain",
            "sim",
            "build_info",
            "private_file",
        ],
    ),
    ("ops", &["store", "notify", "dropbox", "domain"]),
    ("options", &["report", "domain"]),
    ("report", &["dropbox", "job", "domain"]),
    ("store", &["dropbox", "domain", "private_file"]),
    ("job", &["domain", "private_file"]),
    ("notify", &["domain"]),
    ("dropbox", &["domain", "private_file"]),
    ("domain", &[]),
    ("sim", &["domain"]),
    ("build_info", &[]),
    ("private_file", &[]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module names after each `crate::` in `text`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The top-level module a source file belongs to.
fn layer_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(layer) = layer_of(&src, file) else {
            continue;
        };
        let allowed = ALLOWED
            .iter()
            .find(|(name, _)| *name == layer)
            .unwrap_or_else(|| panic!("src/{layer} is not in ALLOWED: add it to the layers"))
            .1;
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&text) {
            if used != layer && !allowed.contains(&used.as_str()) {
                wrong.push(format!(
                    "{} uses crate::{used}, which {layer} may not",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    let paths = crate_paths("use crate::cli::main; let x = crate::domain::row::Row;");
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        ["cli".to_string(), "domain".to_string()]
    );
}

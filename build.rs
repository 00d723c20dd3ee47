//! Build-time facts for `tbx version` and `tbx license`, written to
//! `$OUT_DIR` and included by `src/build_info.rs`:
//! - the git commit, the build date (`SOURCE_DATE_EPOCH` when set, for
//!   reproducible builds), the target triple, the profile and rustc's version;
//! - every package compiled into this target (`cargo tree`: normal
//!   dependencies, this target, enabled features only), with the license
//!   expression and the license files `cargo metadata` locates for it. The texts
//!   are deduplicated and deflated, so the list is never kept by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let target = env::var("TARGET").expect("cargo sets it");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=LICENSE");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let facts = [
        ("GIT_COMMIT", git_commit(&manifest_dir)),
        ("BUILD_DATE", build_date()),
        ("TARGET", target.clone()),
        ("PROFILE", env::var("PROFILE").unwrap_or_default()),
        ("RUSTC_VERSION", rustc_version()),
    ];
    let mut info = String::new();
    for (name, value) in facts {
        info.push_str(&format!("pub const {name}: &str = {value:?};\n"));
    }
    fs::write(out_dir.join("build_facts.rs"), info).expect("write build_facts.rs");

    let packages = compiled_in_packages(&manifest_dir, &target);
    write_licenses(&packages, &out_dir);
}

/// The commit being built, or "unknown" outside a git checkout (a source
/// archive). Reruns when HEAD or the branch it points to moves.
fn git_commit(dir: &Path) -> String {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "HEAD"]) else {
        return "unknown".into();
    };
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        let mut watched = vec![git_dir.join("HEAD"), git_dir.join("packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git_dir.join(branch));
        }
        // A missing file would make cargo rerun this script on every build.
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    commit
}

fn build_date() -> String {
    let now = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now);
    now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn rustc_version() -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One compiled-in package, as the license report shows it.
struct Package {
    name: String,
    version: String,
    license: String,
    authors: Vec<String>,
    repository: String,
    /// (file name, normalised text) of each license file it ships.
    files: Vec<(String, String)>,
}

/// The packages compiled in for this target: `cargo tree` along normal
/// dependencies (its feature resolver is cargo's own, so dev-dependencies,
/// build-dependencies, other platforms' crates and optional crates that no
/// enabled feature turns on are all left out; `cargo metadata`'s graph keeps
/// some of the last kind), described by `cargo metadata`.
fn compiled_in_packages(manifest_dir: &Path, target: &str) -> Vec<Package> {
    let manifest = manifest_dir.join("Cargo.toml");
    let tree = cargo(&[
        "tree",
        "--locked",
        "--edges",
        "normal",
        "--target",
        target,
        "--prefix",
        "none",
        "--format",
        "{p}",
        "--manifest-path",
        &manifest.to_string_lossy(),
    ]);
    let root = env::var("CARGO_PKG_NAME").unwrap_or_default();
    let compiled_in: BTreeSet<(String, String)> = String::from_utf8_lossy(&tree)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            (name != root).then(|| (name.to_string(), version.to_string()))
        })
        .collect();

    let metadata = cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        target,
        "--manifest-path",
        &manifest.to_string_lossy(),
    ]);
    let metadata: Value = serde_json::from_slice(&metadata).expect("cargo metadata JSON");
    let mut packages: Vec<Package> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| {
            let key = (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["version"].as_str().unwrap_or_default().to_string(),
            );
            compiled_in.contains(&key)
        })
        .map(package)
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    assert_eq!(
        packages.len(),
        compiled_in.len(),
        "cargo tree names packages cargo metadata does not describe"
    );
    packages
}

/// Runs cargo (the one building us) and returns its stdout.
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo).args(args).output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn package(p: &Value) -> Package {
    let text = |key: &str| p[key].as_str().unwrap_or_default().to_string();
    let dir = Path::new(p["manifest_path"].as_str().unwrap_or_default())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut names: BTreeSet<PathBuf> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|path| path.is_file() && is_license_file(path))
        .collect();
    if let Some(file) = p["license_file"].as_str() {
        names.insert(dir.join(file));
    }
    let files = names
        .iter()
        .filter_map(|path| {
            let body = fs::read_to_string(path).ok()?;
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((name, normalise(&body)))
        })
        .collect();
    Package {
        name: text("name"),
        version: text("version"),
        license: text("license"),
        authors: p["authors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        repository: text("repository"),
        files,
    }
}

fn is_license_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_uppercase())
        .unwrap_or_default();
    [
        "LICENSE",
        "LICENCE",
        "COPYING",
        "NOTICE",
        "UNLICENSE",
        "COPYRIGHT",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// Line endings and trailing blanks differ between otherwise equal texts.
fn normalise(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_matches('\n').to_string()
}

/// Writes `licenses.rs` (the package table) and `licenses.deflate` (the
/// distinct texts, NUL-separated, in the order the table refers to them).
fn write_licenses(packages: &[Package], out_dir: &Path) {
    let mut text_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut texts: Vec<&str> = Vec::new();
    let mut table = String::from("pub const PACKAGES: &[Package] = &[\n");
    for p in packages {
        let mut refs = Vec::new();
        for (file, body) in &p.files {
            let index = *text_index.entry(body.as_str()).or_insert_with(|| {
                texts.push(body.as_str());
                texts.len() - 1
            });
            refs.push(format!("({file:?}, {index})"));
        }
        table.push_str(&format!(
            "    Package {{ name: {:?}, version: {:?}, license: {:?}, authors: {:?}, repository: {:?}, files: &[{}] }},\n",
            p.name,
            p.version,
            p.license,
            p.authors.join(", "),
            p.repository,
            refs.join(", ")
        ));
    }
    table.push_str("];\n");
    fs::write(out_dir.join("licenses.rs"), table).expect("write licenses.rs");

    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(texts.join("\0").as_bytes())
        .expect("deflate in memory");
    let blob = encoder.finish().expect("deflate in memory");
    fs::write(out_dir.join("licenses.deflate"), blob).expect("write licenses.deflate");
}

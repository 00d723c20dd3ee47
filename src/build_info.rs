//! What this binary is and what it contains, fixed at build time by
//! `build.rs`: version facts for `tbx version`, and the compiled-in
//! packages with their license texts for `tbx license`.

use std::io::Read;

include!(concat!(env!("OUT_DIR"), "/build_facts.rs"));

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// This project's own license text.
pub const LICENSE_TEXT: &str = include_str!("../LICENSE");
pub const LICENSE_NAME: &str = env!("CARGO_PKG_LICENSE");

/// A package compiled into this binary.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    /// The SPDX expression from its manifest.
    pub license: &'static str,
    pub authors: &'static str,
    pub repository: &'static str,
    /// (file name, index into [`license_texts`]) of each license file it ships.
    pub files: &'static [(&'static str, usize)],
}

include!(concat!(env!("OUT_DIR"), "/licenses.rs"));

static LICENSE_BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/licenses.deflate"));

/// The distinct license texts the packages refer to, inflated on demand
/// (they would otherwise add half a megabyte to every binary).
pub fn license_texts() -> Vec<String> {
    let mut all = String::new();
    // The blob was written by build.rs from valid UTF-8; a failure here means
    // a corrupt binary, and an empty list is what the caller then shows.
    if flate2::read::DeflateDecoder::new(LICENSE_BLOB)
        .read_to_string(&mut all)
        .is_err()
    {
        return Vec::new();
    }
    all.split('\0').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_points_at_a_text_that_exists() {
        let texts = license_texts();
        assert!(!texts.is_empty());
        for p in PACKAGES {
            for (_, index) in p.files {
                assert!(*index < texts.len(), "{} points past the texts", p.name);
            }
        }
    }

    #[test]
    fn the_main_dependencies_are_listed_and_dev_only_ones_are_not() {
        let names: Vec<&str> = PACKAGES.iter().map(|p| p.name).collect();
        for name in [
            "tokio",
            "reqwest",
            "rusqlite",
            "rust_xlsxwriter",
            "jaq-core",
            "clap",
        ] {
            assert!(names.contains(&name), "{name} missing");
        }
        // quinn is reqwest's optional HTTP/3 crate, named only through a weak
        // feature (`quinn?/ring`): not compiled in, though cargo metadata's
        // graph lists it.
        for name in ["calamine", "proptest", "cc", "tbx", "quinn"] {
            assert!(!names.contains(&name), "{name} is not compiled in");
        }
    }

    #[test]
    fn facts_are_filled_in() {
        assert!(TARGET.contains('-'));
        assert_eq!(BUILD_DATE.len(), "2026-01-01T00:00:00Z".len());
        assert!(GIT_COMMIT == "unknown" || GIT_COMMIT.len() == 40);
    }
}

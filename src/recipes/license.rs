//! `tbx license`: this project's license, then every package compiled into
//! this binary with its license expression, then the license texts those
//! packages ship, each printed once with the packages it covers. The list
//! comes from `build.rs` (cargo metadata at build time), so it always
//! matches what was built for this target.

use std::collections::BTreeMap;
use std::fmt::Write;

use clap::Args;

use crate::build_info::{self, Package};

#[derive(Debug, Args)]
pub struct LicenseArgs {
    /// Only the package list, without the license texts
    #[arg(long = "list")]
    pub list: bool,
}

pub fn render(args: &LicenseArgs) -> String {
    let packages = build_info::PACKAGES;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tbx {} is licensed under the {} license:\n\n{}\n",
        build_info::VERSION,
        build_info::LICENSE_NAME,
        build_info::LICENSE_TEXT.trim_end()
    );
    let _ = writeln!(
        out,
        "This binary ({}) includes {} third-party packages:\n",
        build_info::TARGET,
        packages.len()
    );
    write_package_table(&mut out, packages);
    if args.list {
        return out;
    }
    let _ = writeln!(out, "\nThe license files those packages ship follow.");
    write_texts(&mut out, packages, &build_info::license_texts());
    out
}

fn write_package_table(out: &mut String, packages: &[Package]) {
    let width = |f: fn(&Package) -> usize| packages.iter().map(f).max().unwrap_or(0);
    let name_width = width(|p| p.name.len() + 1 + p.version.len());
    let license_width = width(|p| p.license.len());
    for p in packages {
        let id = format!("{} {}", p.name, p.version);
        let _ = writeln!(
            out,
            "  {id:<name_width$}  {:<license_width$}  {}",
            p.license, p.repository
        );
    }
}

/// Each distinct text once, headed by the packages that ship it; then the
/// packages that ship no license file, with what their manifest says.
fn write_texts(out: &mut String, packages: &[Package], texts: &[String]) {
    let mut users: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut without_files = Vec::new();
    for p in packages {
        if p.files.is_empty() {
            without_files.push(p);
        }
        for (file, index) in p.files {
            users
                .entry(*index)
                .or_default()
                .push(format!("{} {} ({file})", p.name, p.version));
        }
    }
    for (index, names) in users {
        let Some(text) = texts.get(index) else {
            continue;
        };
        let _ = writeln!(out, "\n{}", "=".repeat(72));
        let _ = writeln!(out, "Shipped by: {}", names.join(", "));
        let _ = writeln!(out, "{}\n\n{text}", "-".repeat(72));
    }
    if !without_files.is_empty() {
        let _ = writeln!(out, "\n{}", "=".repeat(72));
        let _ = writeln!(
            out,
            "These packages ship no license file; their manifests declare:"
        );
        for p in without_files {
            let _ = writeln!(
                out,
                "  {} {}: {}, by {} ({})",
                p.name, p.version, p.license, p.authors, p.repository
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_every_package_once() {
        let text = render(&LicenseArgs { list: true });
        assert!(text.contains("licensed under the MIT license"));
        for p in build_info::PACKAGES {
            assert!(
                text.contains(&format!("  {} {} ", p.name, p.version)),
                "{}",
                p.name
            );
        }
        assert!(!text.contains("Shipped by:"));
    }

    #[test]
    fn the_full_output_carries_the_texts() {
        let text = render(&LicenseArgs { list: false });
        assert!(text.contains("Shipped by: "));
        assert!(text.contains("Permission is hereby granted"));
        assert!(text.contains("Apache License"));
        // Every package that ships a file is named above some text.
        for p in build_info::PACKAGES.iter().filter(|p| !p.files.is_empty()) {
            assert!(
                text.contains(&format!("{} {} (", p.name, p.version)),
                "{}",
                p.name
            );
        }
    }
}

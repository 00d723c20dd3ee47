//! `tbx version`: what this binary is: version, git commit, build date,
//! target and toolchain, as a table for people or JSON for scripts.

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::build_info;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum VersionOutput {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: text or json
    #[arg(long = "output", value_enum, default_value_t = VersionOutput::Text)]
    pub output: VersionOutput,
}

/// The facts, in the order they are shown.
fn facts() -> [(&'static str, &'static str); 6] {
    [
        ("version", build_info::VERSION),
        ("commit", build_info::GIT_COMMIT),
        ("build_date", build_info::BUILD_DATE),
        ("target", build_info::TARGET),
        ("profile", build_info::PROFILE),
        ("rustc", build_info::RUSTC_VERSION),
    ]
}

pub fn render(args: &VersionArgs) -> String {
    match args.output {
        VersionOutput::Json => {
            let mut object = serde_json::Map::new();
            for (key, value) in facts() {
                object.insert(key.into(), json!(value));
            }
            object.insert("license".into(), json!(build_info::LICENSE_NAME));
            format!("{}\n", serde_json::Value::Object(object))
        }
        VersionOutput::Text => {
            let mut out = format!(
                "tbx {}\nCompatible with watermint toolbox `dropbox team backup device status`.\n\n",
                build_info::VERSION
            );
            for (key, value) in facts() {
                out.push_str(&format!("{:<12}{value}\n", key.replace('_', " ")));
            }
            out.push_str(&format!(
                "{:<12}{} (`tbx license` lists the {} packages compiled in)\n",
                "license",
                build_info::LICENSE_NAME,
                build_info::PACKAGES.len()
            ));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_every_fact() {
        let text = render(&VersionArgs {
            output: VersionOutput::Json,
        });
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "version",
            "commit",
            "build_date",
            "target",
            "profile",
            "rustc",
        ] {
            assert!(value[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
        }
    }

    #[test]
    fn text_starts_with_the_name_and_version() {
        let text = render(&VersionArgs {
            output: VersionOutput::Text,
        });
        assert!(text.starts_with(&format!("tbx {}\n", build_info::VERSION)));
        assert!(text.contains(&format!("target      {}\n", build_info::TARGET)));
    }
}

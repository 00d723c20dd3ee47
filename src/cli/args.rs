//! tbx-style options: `-start-time 2024-01-01` works as well as
//! `--start-time 2024-01-01` and `-start-time=2024-01-01`. clap only knows
//! double-dash long options, so argv is rewritten first: a single-dash token
//! whose name is a known long option gets a second dash. Values are never
//! rewritten (`-start-time -24h` keeps `-24h`), and nothing after `--` is.
//! Unknown `-name` tokens get two dashes too, so clap reports them whole.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::{ArgAction, Command};

/// Long option names of the whole command tree, and whether each takes a
/// separate value token.
fn long_options(cmd: &Command, out: &mut HashMap<String, bool>) {
    for arg in cmd.get_arguments() {
        let takes_value = arg.get_num_args().is_none_or(|r| r.takes_values())
            && !arg.is_require_equals_set()
            && !matches!(
                arg.get_action(),
                ArgAction::SetTrue
                    | ArgAction::SetFalse
                    | ArgAction::Count
                    | ArgAction::Help
                    | ArgAction::HelpShort
                    | ArgAction::HelpLong
                    | ArgAction::Version
            );
        if let Some(long) = arg.get_long() {
            out.insert(long.to_string(), takes_value);
        }
        for alias in arg.get_all_aliases().unwrap_or_default() {
            out.insert(alias.to_string(), takes_value);
        }
    }
    for sub in cmd.get_subcommands() {
        long_options(sub, out);
    }
}

pub fn normalize(cmd: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut longs = HashMap::new();
    long_options(cmd, &mut longs);
    longs.insert("help".into(), false);
    longs.insert("version".into(), false);
    let mut out = Vec::with_capacity(args.len());
    let mut expect_value = false;
    let mut after_separator = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || after_separator || expect_value {
            expect_value = false;
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            after_separator = true;
            out.push(arg);
            continue;
        }
        let body = text.strip_prefix("--").or_else(|| text.strip_prefix('-'));
        let Some(body) = body else {
            out.push(arg);
            continue;
        };
        let (name, has_value) = match body.split_once('=') {
            Some((name, _)) => (name, true),
            None => (body, false),
        };
        match longs.get(name) {
            Some(&takes_value) => {
                expect_value = takes_value && !has_value;
                out.push(OsString::from(format!("--{body}")));
            }
            // No command here has short options but -h and -V, so an
            // unknown `-name` is an unknown long option: say so in clap's
            // words instead of "unexpected argument '-n'".
            None if !text.starts_with("--") && body.chars().count() > 1 => {
                out.push(OsString::from(format!("--{body}")));
            }
            None => out.push(arg),
        }
    }
    out
}

/// `-extra FILE`: a JSON object of option values (keys are option names
/// without dashes; `_` may stand for `-`) used as defaults. Options given on
/// the command line win; an unknown key or a value that is not a string,
/// number or boolean is an error naming the file. Works on normalized argv.
pub fn apply_extra(cmd: &Command, mut args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(path) = extra_path(&args) else {
        return Ok(args);
    };
    let text = read_extra(&path)?;
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("-extra: '{path}' is not a JSON object of option values: {e}"))?;
    let mut longs = HashMap::new();
    long_options(cmd, &mut longs);
    let given: Vec<String> = args
        .iter()
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect();
    // Defaults go before a `--` separator, if there is one.
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut extra = Vec::new();
    for (key, value) in object {
        let name = key.replace('_', "-");
        if !longs.contains_key(&name) || name == "extra" {
            return Err(format!("-extra: '{path}' has an unknown option '{key}'"));
        }
        if given.contains(&name) {
            continue;
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "-extra: option '{key}' in '{path}' must be a string, number or boolean, not {other}"
                ))
            }
        };
        extra.push(OsString::from(format!("--{name}={value}")));
    }
    args.splice(at..at, extra);
    Ok(args)
}

/// An `-extra` file holds a few option values; anything over this is not one
/// (and `-extra /dev/zero` must not read forever).
const EXTRA_MAX_BYTES: u64 = 1 << 20;

fn read_extra(path: &str) -> Result<String, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("-extra: cannot read '{path}': {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = String::new();
    file.take(EXTRA_MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > EXTRA_MAX_BYTES {
        return Err(format!(
            "-extra: '{path}' is larger than 1 MiB; expected a JSON object of option values"
        ));
    }
    Ok(text)
}

fn extra_path(args: &[OsString]) -> Option<String> {
    let mut iter = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            return None;
        }
        if let Some(path) = arg.strip_prefix("--extra=") {
            return Some(path.to_string());
        }
        if arg == "--extra" {
            return iter.next().map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn cmd() -> Command {
        Command::new("tbx").subcommand(
            Command::new("status")
                .arg(
                    Arg::new("start-time")
                        .long("start-time")
                        .allow_hyphen_values(true),
                )
                .arg(
                    Arg::new("quiet")
                        .long("quiet")
                        .num_args(0..=1)
                        .require_equals(true)
                        .default_missing_value("true"),
                ),
        )
    }

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(&cmd(), args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_options_get_two_dashes() {
        assert_eq!(
            norm(&["tbx", "status", "-start-time", "2024-01-01", "-quiet"]),
            ["tbx", "status", "--start-time", "2024-01-01", "--quiet"]
        );
    }

    #[test]
    fn values_that_look_like_options_are_kept() {
        assert_eq!(
            norm(&["tbx", "status", "-start-time", "-quiet"]),
            ["tbx", "status", "--start-time", "-quiet"]
        );
        assert_eq!(
            norm(&["tbx", "status", "-start-time=-24h", "-quiet=false"]),
            ["tbx", "status", "--start-time=-24h", "--quiet=false"]
        );
    }

    #[test]
    fn bool_flags_do_not_swallow_the_next_token() {
        assert_eq!(
            norm(&["tbx", "status", "-quiet", "-start-time", "x"]),
            ["tbx", "status", "--quiet", "--start-time", "x"]
        );
    }

    #[test]
    fn unknown_tokens_and_tokens_after_separator_are_untouched() {
        assert_eq!(
            norm(&["tbx", "status", "--bogus", "--", "-quiet"]),
            ["tbx", "status", "--bogus", "--", "-quiet"]
        );
        assert_eq!(
            norm(&["tbx", "status", "-bogus"]),
            ["tbx", "status", "--bogus"]
        );
        assert_eq!(norm(&["tbx", "status", "-h"]), ["tbx", "status", "-h"]);
        assert_eq!(norm(&["tbx", "-help"]), ["tbx", "--help"]);
    }
}

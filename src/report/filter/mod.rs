//! `-output-filter`: a jq program (run by jaq) applied to each row object
//! of the JSON output. Compiled once, before any network call; each output
//! value becomes one line, a string raw and anything else compact JSON;
//! `empty` drops the row.
//!
//! A filter is a program: `def f: 1 + f; f` overflows the stack, `def f: f;
//! f` never ends and `[repeat(1)]` eats memory. None of that can be stopped
//! inside the process (a stack overflow aborts it, a thread cannot be
//! killed, jaq has no step budget), so the rows are filtered in a child
//! process of the same binary (`worker`), which the parent (`process`)
//! kills when a row takes too long, prints too much or the worker holds
//! too much memory, and whose death is an error of the run, never of tbx. The filter sees the environment
//! without any `TOOLBOX_*` variable, through `env` and `$ENV` alike.

mod process;
pub mod worker;

use std::fmt;

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;

pub use process::{FilterError, LIMITS};

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// Variables of tbx (tokens, app key, paths) that a filter must not see.
const HIDDEN_ENV_PREFIX: &str = "TOOLBOX_";

/// `env` and `$ENV` both read this one variable, set to the environment
/// without `TOOLBOX_*` (jaq's own `env` reads the process environment).
const ENV_DEF: &str = "def env: $ENV;";

/// The environment a filter may see, as `(name, value)` pairs.
pub fn visible_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !k.to_ascii_uppercase().starts_with(HIDDEN_ENV_PREFIX))
}

fn env_value() -> Val {
    let object: serde_json::Map<String, serde_json::Value> = visible_env()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object)).unwrap_or(Val::Null)
}

pub struct RowFilter {
    code: String,
    filter: Filter,
}

impl fmt::Debug for RowFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowFilter({:?})", self.code)
    }
}

/// Positions are 1-based character columns of the filter text.
fn column(code: &str, byte_offset: usize) -> usize {
    code[..byte_offset.min(code.len())].chars().count() + 1
}

impl RowFilter {
    /// Compiles `code`; the error names the first problem and its column.
    pub fn compile(code: &str) -> Result<Self, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(load::parse(ENV_DEF, |p| p.defs()).unwrap_or_default());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs().filter(|f| f.0 != "env"))
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let mut messages = errors.into_iter().flat_map(|(file, e)| match e {
                    load::Error::Io(v) => v
                        .into_iter()
                        .map(|(path, message)| format!("cannot load {path}: {message}"))
                        .collect::<Vec<_>>(),
                    load::Error::Lex(v) => v
                        .into_iter()
                        .map(|(expected, found)| {
                            let at = column(file.code, load::span(file.code, found).start);
                            format!(
                                "syntax error at column {at}: expected {}",
                                expected.as_str()
                            )
                        })
                        .collect(),
                    load::Error::Parse(v) => v
                        .into_iter()
                        .map(|(expected, found)| {
                            let at = column(file.code, load::span(file.code, found).start);
                            let found = if found.is_empty() {
                                "end of filter"
                            } else {
                                found
                            };
                            format!(
                                "syntax error at column {at}: expected {}, found '{found}'",
                                expected.as_str()
                            )
                        })
                        .collect(),
                });
                messages
                    .next()
                    .unwrap_or_else(|| "cannot parse the filter".into())
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(["$ENV"])
            .compile(modules)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .flat_map(|(file, errs)| {
                        errs.into_iter().map(move |(name, undefined)| {
                            let at = column(file.code, load::span(file.code, name).start);
                            format!("undefined {} '{name}' at column {at}", undefined.as_str())
                        })
                    })
                    .next()
                    .unwrap_or_else(|| "cannot compile the filter".into())
            })?;
        Ok(Self {
            code: code.to_string(),
            filter,
        })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// Runs the filter on one row (JSON text) in this process, handing
    /// each output line to `emit`. Only the worker process calls this:
    /// a hostile filter can take down the process that runs it.
    pub(crate) fn eval(
        &self,
        input: &str,
        env: &Val,
        mut emit: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<(), EvalError> {
        let input: Val =
            serde_json::from_str(input).map_err(|e| EvalError::Filter(e.to_string()))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([env.clone()]));
        for result in self.filter.id.run((ctx, input)) {
            match result {
                Ok(Val::TStr(text)) => emit(&String::from_utf8_lossy(&text))?,
                Ok(value) => emit(&value.to_string())?,
                // `halt`/`halt_error` must not end the process: they are errors here.
                Err(exception) => {
                    return Err(EvalError::Filter(match exception.get_err() {
                        Ok(error) => error.to_string(),
                        Err(_) => "the filter halted".into(),
                    }))
                }
            }
        }
        Ok(())
    }
}

/// Why one row could not be filtered in the worker.
#[derive(Debug)]
pub(crate) enum EvalError {
    /// The filter failed (a jq error, `halt`): the message for the user.
    Filter(String),
    /// The output could not be written (the parent is gone).
    Io(std::io::Error),
}

impl From<std::io::Error> for EvalError {
    fn from(e: std::io::Error) -> Self {
        EvalError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(code: &str, input: serde_json::Value) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        let outcome =
            RowFilter::compile(code)
                .unwrap()
                .eval(&input.to_string(), &env_value(), |line| {
                    lines.push(line.to_string());
                    Ok(())
                });
        match outcome {
            Ok(()) => Ok(lines),
            Err(EvalError::Filter(message)) => Err(message),
            Err(EvalError::Io(e)) => Err(e.to_string()),
        }
    }

    #[test]
    fn strings_are_raw_and_other_values_compact_json() {
        let row = json!({"a": "x", "b": 1, "c": [1, 2]});
        assert_eq!(run(".a", row.clone()).unwrap(), ["x"]);
        assert_eq!(
            run(".", row.clone()).unwrap(),
            [r#"{"a":"x","b":1,"c":[1,2]}"#]
        );
        assert_eq!(run(".c[]", row.clone()).unwrap(), ["1", "2"]);
        assert_eq!(
            run("{k: .a, n: (.b + 1)}", row.clone()).unwrap(),
            [r#"{"k":"x","n":2}"#]
        );
        assert!(run("empty", row.clone()).unwrap().is_empty());
        assert!(run("select(.b == 2)", row).unwrap().is_empty());
    }

    #[test]
    fn syntax_errors_name_the_column() {
        let err = RowFilter::compile(". | | .").unwrap_err();
        assert!(err.starts_with("syntax error at column 5"), "{err}");
        let err = RowFilter::compile(".[").unwrap_err();
        assert!(
            err.contains("column 3") || err.contains("column 2"),
            "{err}"
        );
        let err = RowFilter::compile(".a | nosuchfn").unwrap_err();
        assert!(
            err.contains("undefined") && err.contains("nosuchfn") && err.contains("column 6"),
            "{err}"
        );
    }

    #[test]
    fn runtime_errors_and_halt_are_errors_not_exits() {
        assert!(run(r#".a + 1"#, json!({"a": "x"})).is_err());
        assert!(run("halt", json!({})).is_err());
        assert!(run(r#""x" | halt_error"#, json!({})).is_err());
    }

    #[test]
    fn env_and_dollar_env_hide_toolbox_variables() {
        // PATH is set in any test environment; TOOLBOX_* may or may not be.
        let seen = run("env | keys", json!({})).unwrap().join("");
        assert!(seen.contains("PATH"), "{seen}");
        let keys = run("$ENV | keys[]", json!({})).unwrap();
        assert!(keys.iter().all(|k| !k.starts_with("TOOLBOX_")), "{keys:?}");
        assert_eq!(run("$ENV == env", json!({})).unwrap(), ["true"]);
    }

    #[test]
    fn visible_env_drops_toolbox_variables_in_any_case() {
        let names: Vec<String> = visible_env().map(|(k, _)| k).collect();
        assert!(names
            .iter()
            .all(|k| !k.to_ascii_uppercase().starts_with("TOOLBOX_")));
    }
}

//! `-output-filter`: a jq program (run by jaq) applied to each row object
//! of the JSON output. Compiled once, before any network call; each output
//! value becomes one line, a string raw and anything else compact JSON;
//! `empty` drops the row.

use std::fmt;

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;

type Filter = jaq_core::Filter<data::JustLut<Val>>;

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
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
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

    /// Runs the filter on one row; returns its output lines.
    pub fn apply(&self, input: &serde_json::Value) -> Result<Vec<String>, String> {
        let input: Val = serde_json::from_value(input.clone()).map_err(|e| e.to_string())?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut lines = Vec::new();
        for result in self.filter.id.run((ctx, input)) {
            match result {
                Ok(Val::TStr(text)) => lines.push(String::from_utf8_lossy(&text).into_owned()),
                Ok(value) => lines.push(value.to_string()),
                // `halt`/`halt_error` must not end the process: they are errors here.
                Err(exception) => {
                    return Err(match exception.get_err() {
                        Ok(error) => error.to_string(),
                        Err(_) => "the filter halted".into(),
                    })
                }
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(code: &str, input: serde_json::Value) -> Result<Vec<String>, String> {
        RowFilter::compile(code).unwrap().apply(&input)
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
}

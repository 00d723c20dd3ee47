//! `tbx mcp ...`: the Model Context Protocol server (`serve`), its tools
//! (`tools`: what a client lists; `calls`: what each does; `schemas`: their
//! typed inputs and outputs) and the reference of docs/mcp.md, generated
//! from the same definitions a client receives.

mod calls;
mod schemas;
pub mod serve;
mod tools;

use clap::{Args, Command};
use serde_json::Value;

pub use schemas::{DEFAULT_LIMIT, MAX_LIMIT};
use serve::ServeArgs;
pub use tools::Tools;

/// The line of docs/mcp.md after which everything is `reference()`.
pub const REFERENCE_MARKER: &str = "<!-- Generated from the tool definitions by tests/docs.rs (UPDATE_DOCS=1 cargo test --test docs); do not edit below. -->";

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `tbx mcp serve`'s options, as a table.
fn option_rows() -> String {
    let command = ServeArgs::augment_args(Command::new("serve"));
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            Some(format!(
                "| `-{long}` | {} | {} |",
                cell(&help),
                cell(&defaults.join(", "))
            ))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON Schema type, short: `string`, `array of string`.
fn type_name(schema: &Value) -> String {
    // `null` only says the argument may be left out: "Required" tells that.
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| *k != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_string(),
    };
    match schema.get("items") {
        Some(items) if kind.starts_with("array") => format!("{kind} of {}", type_name(items)),
        _ => kind,
    }
}

/// A tool's arguments, as a table.
fn argument_rows(schema: &Value) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return String::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let help = property["description"].as_str().unwrap_or("");
            format!(
                "| `{name}` | {} | {} | {} |",
                type_name(property),
                if required.contains(&name.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                cell(help)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reference part of docs/mcp.md: the server's options, then each
/// tool with its annotations, arguments, and input and output schemas.
pub fn reference() -> String {
    let mut page = format!(
        "{REFERENCE_MARKER}\n\n## Reference\n\n### `tbx mcp serve` options\n\n\
Options take one dash (`-peer`) or two (`--peer`).\n\n\
| Option | Description | Default |\n|---|---|---|\n{}\n",
        option_rows()
    );
    for tool in Tools::definitions() {
        let input = Value::Object(tool.input_schema.as_ref().clone());
        let output = tool
            .output_schema
            .as_ref()
            .map(|s| Value::Object(s.as_ref().clone()))
            .unwrap_or(Value::Null);
        let annotations = serde_json::to_string(&tool.annotations).unwrap_or_default();
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        page.push_str(&format!(
            "\n### `{}`\n\n{}\n\nAnnotations: `{annotations}`\n\n\
| Argument | Type | Required | Description |\n|---|---|---|---|\n{}\n\n\
<details><summary>Input schema</summary>\n\n```json\n{}\n```\n\n</details>\n\n\
<details><summary>Output schema (<code>structuredContent</code>)</summary>\n\n```json\n{}\n```\n\n</details>\n",
            tool.name,
            tool.description.as_deref().unwrap_or(""),
            argument_rows(&input),
            pretty(&input),
            pretty(&output),
        ));
    }
    page
}

//! `tbx mcp serve` end to end: rmcp's client launches the real binary as a
//! child process and speaks MCP over its stdio, against a simulator on
//! 127.0.0.1 (or the server's own, `-simulate`). The tools' rows, summary
//! and changes must equal what the status command writes for the same
//! period and filters; bad arguments, a missing credential, an API failure
//! and a panic are tool errors after which the server still answers.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use tbx::sim::{Fault, SimHandle};

type Client = RunningService<RoleClient, ()>;

/// The simulators run on runtimes of their own, so the tests' is made
/// here, beside them.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

const TOOLS: [&str; 3] = [
    "backup_device_status",
    "backup_status_history",
    "backup_summary",
];

/// Starts `tbx mcp serve <args>` in `home` (stderr kept in
/// `home/stderr.txt`), against `sim` when given, and initializes.
async fn launch(
    home: &Path,
    sim: Option<&SimHandle>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Client {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["mcp", "serve"])
        .args(args)
        .env_remove("TOOLBOX_DROPBOX_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_API_URL")
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_APP_KEY")
        .env_remove("TBX_DEBUG_PANIC_AT_STEP")
        .env("TOOLBOX_HOME", home)
        .env("NO_COLOR", "1");
    if let Some(sim) = sim {
        cmd.env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
            .env("TOOLBOX_DROPBOX_TOKEN", &sim.token);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stderr = std::fs::File::create(home.join("stderr.txt")).unwrap();
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

/// Closes the client's side and waits until the server has closed its
/// job log (gzipped when it ends).
async fn shut_down(client: Client, home: &Path) {
    client.cancel().await.unwrap();
    for _ in 0..100 {
        let ended = std::fs::read_dir(home.join("jobs"))
            .unwrap()
            .filter_map(|e| e.ok())
            .all(|e| e.path().join("logs/toolbox.log.gz").exists());
        if ended {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not end its job logs");
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().unwrap().clone();
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> &str {
    &result.content[0].as_text().unwrap().text
}

/// A successful call's structured content, checked against its text.
fn structured(result: &CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{}", text(result));
    let value = result
        .structured_content
        .clone()
        .expect("structuredContent");
    let from_text: Value = serde_json::from_str(text(result)).unwrap();
    assert_eq!(value, from_text, "the text is the same JSON");
    value
}

fn error(result: &CallToolResult) -> &str {
    assert_eq!(result.is_error, Some(true), "{}", text(result));
    text(result)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The status command's one error line for `args`, without "Error: ".
fn command_error(sim: &SimHandle, args: &[&str]) -> String {
    let run = run(sim, &status_args(args));
    assert_eq!(run.code(), 10, "{}", run.stderr());
    let stderr = run.stderr();
    let line = stderr.lines().last().unwrap();
    line.strip_prefix("Error: ").unwrap().to_string()
}

fn period() -> (String, String) {
    (
        z(anchor() - chrono::Duration::days(90)),
        z(anchor() - chrono::Duration::days(1)),
    )
}

fn event_calls(sim: &SimHandle) -> u64 {
    sim.calls("team_log/get_events") + sim.calls("team_log/get_events/continue")
}

#[test]
fn tools_list_then_each_tool_equals_the_status_command() {
    let sim = start(team(60, 171));
    block_on(tools_list_then_each_tool_equals_the_status_command_with(
        &sim,
    ));
}

async fn tools_list_then_each_tool_equals_the_status_command_with(sim: &SimHandle) {
    let (start_time, end_time) = period();
    let filtered = run(
        sim,
        &status_args(&[
            "-start-time",
            &start_time,
            "-end-time",
            &end_time,
            "-status",
            "disabled,enabled",
            "-sort",
            "timestamp",
            "-desc",
            "-output",
            "none",
        ]),
    );
    assert_eq!(filtered.code(), 0, "{}", filtered.stderr());
    let all = run(
        sim,
        &status_args(&[
            "-start-time",
            &start_time,
            "-end-time",
            &end_time,
            "-reports",
            "summary,history",
            "-output",
            "none",
        ]),
    );
    assert_eq!(all.code(), 0, "{}", all.stderr());

    let home = tempfile::tempdir().unwrap();
    let client = launch(home.path(), Some(sim), &[], &[]).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "tbx");
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    for tool in &tools {
        let hints = tool.annotations.as_ref().unwrap();
        assert_eq!(hints.read_only_hint, Some(true), "{}", tool.name);
        assert_eq!(hints.open_world_hint, Some(true), "{}", tool.name);
        assert_eq!(tool.input_schema["type"], "object");
        assert_eq!(tool.input_schema["required"], json!(["start_time"]));
        assert!(tool.input_schema["properties"]["end_time"].is_object());
        let output = tool.output_schema.as_ref().expect("an output schema");
        assert_eq!(output["type"], "object", "{}", tool.name);
    }

    // The filtered rows, as devices.json has them.
    let result = call(
        &client,
        "backup_device_status",
        json!({"start_time": start_time, "end_time": end_time, "status": ["disabled", "enabled"],
               "sort": "timestamp", "desc": true, "limit": 1000}),
    )
    .await;
    let value = structured(&result);
    let expected = lines(&filtered.reports().join("devices.json"));
    assert!(!expected.is_empty());
    assert_eq!(value["rows"].as_array().unwrap(), &expected);
    assert_eq!(value["total"], expected.len());
    assert_eq!(value["truncated"], false);
    assert_eq!(value["team"], sim.team().name.as_str());
    assert_eq!(
        value["filter"],
        "status=disabled,enabled sort=timestamp desc"
    );
    let folder = Path::new(value["job_folder"].as_str().unwrap());
    assert!(folder.starts_with(home.path().join("jobs")));
    assert_eq!(
        std::fs::read(folder.join("reports/devices.json")).unwrap(),
        std::fs::read(filtered.reports().join("devices.json")).unwrap(),
        "the call's report is the command's, byte for byte"
    );
    for name in ["devices.csv", "devices.xlsx"] {
        assert!(folder.join("reports").join(name).exists(), "{name}");
    }

    // Unfiltered, cut at the limit; asked again, the event store answers.
    let before = event_calls(sim);
    let limited = json!({"start_time": start_time, "end_time": end_time, "limit": 3});
    let value = structured(&call(&client, "backup_device_status", limited.clone()).await);
    let expected = lines(&all.reports().join("devices.json"));
    assert_eq!(value["total"], expected.len());
    assert_eq!(
        (value["returned"].clone(), value["truncated"].clone()),
        (json!(3), json!(true))
    );
    assert_eq!(value["rows"].as_array().unwrap(), &expected[..3]);
    assert!(
        event_calls(sim) - before <= 2,
        "the first call stored the period"
    );
    let again = event_calls(sim);
    structured(&call(&client, "backup_device_status", limited).await);
    assert!(
        event_calls(sim) - again <= 2,
        "a repeated question uses the store"
    );

    // The summary, as summary.json (but for when it was made).
    let value = structured(
        &call(
            &client,
            "backup_summary",
            json!({"start_time": start_time, "end_time": end_time}),
        )
        .await,
    );
    let mut expected: Value =
        serde_json::from_str(&std::fs::read_to_string(all.reports().join("summary.json")).unwrap())
            .unwrap();
    let mut value = value;
    value["generated"] = Value::Null;
    expected["generated"] = Value::Null;
    assert_eq!(value, expected);

    // Every change, as history.json; then filtered by member and status.
    let history = lines(&all.reports().join("history.json"));
    assert!(history.len() > 3);
    let value = structured(
        &call(
            &client,
            "backup_status_history",
            json!({"start_time": start_time, "end_time": end_time, "limit": 1000}),
        )
        .await,
    );
    assert_eq!(value["changes"].as_array().unwrap(), &history);
    let member = history[0]["owner_email"].as_str().unwrap().to_string();
    let wanted: Vec<Value> = history
        .iter()
        .filter(|c| c["owner_email"] == member.as_str() && c["new_status"] == "disabled")
        .cloned()
        .collect();
    let value = structured(
        &call(
            &client,
            "backup_status_history",
            json!({"start_time": start_time, "end_time": end_time,
                   "member": member.to_uppercase(), "status": "disabled"}),
        )
        .await,
    );
    assert_eq!(value["changes"].as_array().unwrap(), &wanted);
    let value = structured(
        &call(
            &client,
            "backup_status_history",
            json!({"start_time": start_time, "end_time": end_time, "limit": 2}),
        )
        .await,
    );
    assert_eq!(
        value["changes"].as_array().unwrap(),
        &history[history.len() - 2..],
        "the latest"
    );
    assert_eq!(value["total"], history.len());

    // The member filter of the history also matches who made the change.
    if let Some(by_other) = history.iter().find(|c| {
        !c["actor_email"].as_str().unwrap().is_empty() && c["actor_email"] != c["owner_email"]
    }) {
        let actor = by_other["actor_email"].as_str().unwrap();
        let value = structured(
            &call(
                &client,
                "backup_status_history",
                json!({"start_time": start_time, "end_time": end_time, "member": actor,
                       "limit": 1000}),
            )
            .await,
        );
        assert!(value["changes"].as_array().unwrap().contains(by_other));
    }

    host_and_status_warnings(&client, &all, &start_time, &end_time).await;
    shut_down(client, home.path()).await;
    assert_no_secret(home.path(), &sim.token);
}

/// Neither stderr nor any log or report of `home` holds `secret`.
fn assert_no_secret(home: &Path, secret: &str) {
    let stderr = std::fs::read_to_string(home.join("stderr.txt")).unwrap();
    assert!(
        stderr.starts_with("tbx mcp serve: 3 tools on stdio; job log in "),
        "{stderr}"
    );
    assert!(!stderr.contains(secret));
    for job in std::fs::read_dir(home.join("jobs")).unwrap() {
        let job = job.unwrap().path();
        let log = read_log(&job, "toolbox.log");
        assert!(!log.contains(secret), "{}", job.display());
        if job.join("logs/capture.log.gz").exists() {
            assert!(!read_log(&job, "capture.log").contains(secret));
        }
    }
}

#[test]
fn bad_arguments_and_api_failures_are_tool_errors_and_the_server_goes_on() {
    let sim = start(team(30, 172));
    block_on(bad_arguments_and_api_failures_are_tool_errors_and_the_server_goes_on_with(&sim));
}

async fn bad_arguments_and_api_failures_are_tool_errors_and_the_server_goes_on_with(
    sim: &SimHandle,
) {
    let (start_time, end_time) = period();
    let home = tempfile::tempdir().unwrap();
    let client = launch(home.path(), Some(sim), &["-concurrency", "1"], &[]).await;

    let bad_time = call(
        &client,
        "backup_device_status",
        json!({"start_time": "yesterday"}),
    )
    .await;
    assert_eq!(
        error(&bad_time),
        command_error(sim, &["-start-time", "yesterday"])
    );
    let backwards = json!({"start_time": end_time, "end_time": start_time});
    let backwards = call(&client, "backup_summary", backwards).await;
    assert_eq!(
        error(&backwards),
        command_error(sim, &["-start-time", &end_time, "-end-time", &start_time])
    );
    let bad_sort = json!({"start_time": start_time, "sort": "colour"});
    let bad_sort = call(&client, "backup_device_status", bad_sort).await;
    assert_eq!(
        error(&bad_sort),
        command_error(sim, &["-start-time", &start_time, "-sort", "colour"])
    );
    let bad_status = json!({"start_time": start_time, "status": [""]});
    let bad_status = call(&client, "backup_status_history", bad_status).await;
    assert_eq!(
        error(&bad_status),
        command_error(sim, &["-start-time", &start_time, "-status", ""])
    );
    let too_many = json!({"start_time": start_time, "limit": 5000});
    let too_many = call(&client, "backup_device_status", too_many).await;
    assert_eq!(error(&too_many), "limit: expected at most 1000, got 5000");
    let unknown = json!({"start_time": start_time, "colour": "red"});
    let unknown = call(&client, "backup_summary", unknown).await;
    assert!(error(&unknown).contains("unknown field `colour`"));
    let wrong_type = json!({"start_time": 7});
    assert_eq!(
        error(&call(&client, "backup_device_status", wrong_type).await),
        "start_time: invalid type: integer `7`, expected a string"
    );
    let not_a_number = json!({"start_time": start_time, "limit": "ten"});
    assert_eq!(
        error(&call(&client, "backup_device_status", not_a_number).await),
        "limit: expected a whole number from 0 to 1000"
    );
    let too_stale = json!({"start_time": start_time, "stale_days": 40000});
    assert_eq!(
        error(&call(&client, "backup_summary", too_stale).await),
        "stale_days: expected 0 to 36500, got 40000"
    );

    // The API fails mid-call: the devices are listed, the log is refused.
    sim.inject(
        "team_log/get_events",
        1,
        Fault::RouteError {
            tag: "invalid_time_range".into(),
            value: None,
        },
    );
    let args = json!({"start_time": start_time, "end_time": end_time});
    let failed = call(&client, "backup_device_status", args.clone()).await;
    assert!(
        error(&failed).starts_with("team_log/get_events: invalid_time_range"),
        "{}",
        text(&failed)
    );
    let value = structured(&call(&client, "backup_device_status", args.clone()).await);
    assert!(value["total"].as_u64().unwrap() > 0);

    // A refused token: the error says so, and the next call looks again.
    sim.inject("team/get_info", 1, Fault::ExpiredToken);
    let refused = call(&client, "backup_summary", args.clone()).await;
    assert!(error(&refused).contains("expired"), "{}", text(&refused));
    assert!(
        error(&refused).ends_with(
            "; replace TOOLBOX_DROPBOX_TOKEN, or run `tbx config auth add -peer default`"
        ),
        "{}",
        text(&refused)
    );
    structured(&call(&client, "backup_summary", args).await);

    // null is "not given", for every optional argument.
    let nulls = json!({"start_time": start_time, "end_time": null, "status": null,
        "platform": null, "client_type": null, "member": null, "host": null, "sort": null,
        "desc": null, "include_unlinked": null, "limit": null});
    structured(&call(&client, "backup_device_status", nulls).await);

    // Several calls at once.
    let periods = [7, 30, 90].map(|days| z(anchor() - chrono::Duration::days(days)));
    let (a, b, c) = tokio::join!(
        call(
            &client,
            "backup_device_status",
            json!({"start_time": periods[0]})
        ),
        call(&client, "backup_summary", json!({"start_time": periods[1]})),
        call(
            &client,
            "backup_status_history",
            json!({"start_time": periods[2]})
        ),
    );
    for result in [&a, &b, &c] {
        structured(result);
    }
    shut_down(client, home.path()).await;
    let stderr = std::fs::read_to_string(home.path().join("stderr.txt")).unwrap();
    assert!(
        stderr.contains("tbx mcp: backup_device_status: team_log/get_events: invalid_time_range"),
        "{stderr}"
    );
}

#[test]
fn without_a_credential_every_call_says_what_to_run() {
    let sim = start(team(5, 173));
    block_on(without_a_credential_every_call_says_what_to_run_with(&sim));
}

async fn without_a_credential_every_call_says_what_to_run_with(sim: &SimHandle) {
    let home = tempfile::tempdir().unwrap();
    let url = sim.base_url.clone();
    let client = launch(
        home.path(),
        None,
        &["-peer", "corp"],
        &[("TOOLBOX_DROPBOX_API_URL", &url)],
    )
    .await;
    for tool in TOOLS {
        let result = call(&client, tool, json!({"start_time": "-7d"})).await;
        let message = error(&result);
        assert!(
            message.contains("no usable Dropbox credential for peer 'corp'"),
            "{message}"
        );
        assert!(
            message.contains("`tbx config auth add -peer corp`"),
            "{message}"
        );
    }
    assert_eq!(
        client.list_all_tools().await.unwrap().len(),
        3,
        "still serving"
    );
    assert_eq!(sim.call_counts().values().sum::<u64>(), 0, "no API call");
    shut_down(client, home.path()).await;
}

#[test]
fn a_panic_in_a_call_is_a_tool_error() {
    let sim = start(team(10, 174));
    block_on(a_panic_in_a_call_is_a_tool_error_with(&sim));
}

async fn a_panic_in_a_call_is_a_tool_error_with(sim: &SimHandle) {
    let home = tempfile::tempdir().unwrap();
    let env = [("TBX_DEBUG_PANIC_AT_STEP", "write reports")];
    let client = launch(home.path(), Some(sim), &[], &env).await;
    let (start_time, _) = period();
    let result = call(
        &client,
        "backup_device_status",
        json!({"start_time": start_time}),
    )
    .await;
    assert!(
        error(&result).starts_with("internal error (panic)"),
        "{}",
        text(&result)
    );
    // Calls that write no reports are unaffected.
    structured(&call(&client, "backup_summary", json!({"start_time": start_time})).await);
    shut_down(client, home.path()).await;
}

#[test]
fn simulate_serves_a_team_without_an_account() {
    block_on(simulate_serves_a_team_without_an_account_with());
}

async fn simulate_serves_a_team_without_an_account_with() {
    let home = tempfile::tempdir().unwrap();
    let client = launch(home.path(), None, &["-simulate"], &[]).await;
    let value = structured(
        &call(
            &client,
            "backup_device_status",
            json!({"start_time": "-28d"}),
        )
        .await,
    );
    assert!(value["total"].as_u64().unwrap() > 10, "{value}");
    assert_eq!(value["team"], "Example Corp (simulated)");
    let value = structured(&call(&client, "backup_summary", json!({"start_time": "-28d"})).await);
    let by_status: u64 = value["summary"]["by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(value["summary"]["devices"], by_status);
    let value = structured(
        &call(
            &client,
            "backup_status_history",
            json!({"start_time": "-28d", "status": ["disabled"]}),
        )
        .await,
    );
    for change in value["changes"].as_array().unwrap() {
        assert_eq!(change["new_status"], "disabled");
    }
    shut_down(client, home.path()).await;
    let stderr = std::fs::read_to_string(home.path().join("stderr.txt")).unwrap();
    assert!(stderr.contains("serving a simulated team"), "{stderr}");
}

#[test]
fn the_rows_keys_are_devices_json_keys() {
    let tools = tbx::recipes::mcp::Tools::definitions();
    let status = tools
        .iter()
        .find(|t| t.name == "backup_device_status")
        .unwrap();
    let output = Value::Object(status.output_schema.as_ref().unwrap().as_ref().clone());
    let row = &output["$defs"]["DeviceRow"]["properties"];
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    let mut expected: Vec<&str> = tbx::domain::row::COLUMNS.to_vec();
    expected.push("linked");
    assert_eq!(keys, expected);
}

#[cfg(unix)]
#[test]
fn sigterm_ends_the_server_with_success() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["mcp", "serve", "-simulate"])
        .env("TOOLBOX_HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut first = [0u8; 14];
    stderr.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"tbx mcp serve:");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.is_empty(), "nothing but protocol on stdout: {out}");
    let log = read_log(&job_dir(home.path()), "toolbox.log");
    assert!(log.contains("\"stopped\""), "{log}");
}

/// `host` keeps the rows of matching hosts, and the summary is theirs; a
/// status Dropbox does not send is a warning, not a silent nothing.
async fn host_and_status_warnings(client: &Client, all: &Run, start_time: &str, end_time: &str) {
    let expected = lines(&all.reports().join("devices.json"));
    let host = expected[0]["session_info_host_name"].as_str().unwrap();
    let wanted: Vec<&Value> = expected
        .iter()
        .filter(|r| {
            r["session_info_host_name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&host.to_lowercase())
        })
        .collect();
    let args = json!({"start_time": start_time, "end_time": end_time,
                      "host": host.to_uppercase(), "limit": 1000});
    let value = structured(&call(client, "backup_device_status", args.clone()).await);
    let rows: Vec<&Value> = value["rows"].as_array().unwrap().iter().collect();
    assert_eq!(rows, wanted);
    assert!(value["filter"]
        .as_str()
        .unwrap()
        .ends_with(&format!("host={}", host.to_lowercase())));
    let mut args = args;
    args.as_object_mut().unwrap().remove("limit");
    let value = structured(&call(client, "backup_summary", args).await);
    assert_eq!(value["summary"]["devices"], wanted.len());
    let enabled = wanted
        .iter()
        .filter(|r| r["latest_status"] == "enabled")
        .count();
    assert_eq!(
        value["summary"]["by_status"]["enabled"]
            .as_u64()
            .unwrap_or(0),
        enabled as u64
    );

    let off = json!({"start_time": start_time, "end_time": end_time, "status": ["off"]});
    let value = structured(&call(client, "backup_device_status", off.clone()).await);
    assert_eq!(value["total"], 0);
    assert_eq!(
        value["warnings"],
        json!(["status 'off' is not a status Dropbox sends (enabled, disabled, no_status_update); nothing matched it"])
    );
    let value = structured(&call(client, "backup_status_history", off).await);
    assert_eq!(value["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn a_cancelled_call_stops_and_leaves_no_job_folder() {
    let sim = start(team(10, 175));
    block_on(a_cancelled_call_stops_and_leaves_no_job_folder_with(&sim));
}

async fn a_cancelled_call_stops_and_leaves_no_job_folder_with(sim: &SimHandle) {
    let home = tempfile::tempdir().unwrap();
    let client = launch(home.path(), Some(sim), &[], &[]).await;
    let (start_time, _) = period();
    // The first API call waits 10 s; the client gives up after 1 s, which
    // sends notifications/cancelled.
    sim.inject(
        "team/get_info",
        1,
        Fault::RateLimited {
            retry_after: Some(10),
            text_body: false,
            write_operations: false,
        },
    );
    let args = json!({"start_time": start_time});
    let gave_up = tokio::time::timeout(
        Duration::from_secs(1),
        call(&client, "backup_device_status", args.clone()),
    )
    .await;
    assert!(gave_up.is_err());
    let started = std::time::Instant::now();
    structured(&call(&client, "backup_summary", args).await);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "not behind the cancelled call"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let jobs = std::fs::read_dir(home.path().join("jobs")).unwrap().count();
    assert_eq!(
        jobs, 1,
        "only the server's job: the cancelled call wrote none"
    );
    shut_down(client, home.path()).await;
    let log = read_log(&job_dir(home.path()), "toolbox.log");
    assert!(log.contains("backup_device_status was cancelled"), "{log}");
}

#[test]
fn closing_stdin_before_initialize_is_a_clean_end() {
    use std::process::{Command, Stdio};
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["mcp", "serve", "-simulate"])
        .env("TOOLBOX_HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Error"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn descriptions_say_what_no_status_update_means() {
    for tool in tbx::recipes::mcp::Tools::definitions() {
        let description = tool.description.as_deref().unwrap();
        if tool.name != "backup_status_history" {
            assert!(description.contains("NOT"), "{description}");
            assert!(description.contains("-365d"), "{description}");
            let status = &tool.input_schema["properties"]["status"]["description"];
            assert!(status.as_str().unwrap().contains("NOT \"off\""), "{status}");
        }
        assert!(
            description.contains("no department or group data")
                || tool.name == "backup_status_history"
        );
    }
}

#[test]
fn a_call_in_flight_at_session_end_does_not_hold_the_server() {
    let sim = start(team(10, 176));
    block_on(a_call_in_flight_at_session_end_does_not_hold_the_server_with(&sim));
}

async fn a_call_in_flight_at_session_end_does_not_hold_the_server_with(sim: &SimHandle) {
    let home = tempfile::tempdir().unwrap();
    let client = launch(home.path(), Some(sim), &[], &[]).await;
    sim.inject(
        "team/get_info",
        1,
        Fault::RateLimited {
            retry_after: Some(20),
            text_body: false,
            write_operations: false,
        },
    );
    let peer = client.peer().clone();
    let (start_time, _) = period();
    let args = json!({"start_time": start_time})
        .as_object()
        .unwrap()
        .clone();
    let in_flight = tokio::spawn(async move {
        peer.call_tool(CallToolRequestParams::new("backup_device_status").with_arguments(args))
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    // The session ends with the call still waiting out its 20 s.
    shut_down(client, home.path()).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let _ = in_flight.await;
    let jobs = std::fs::read_dir(home.path().join("jobs")).unwrap().count();
    assert_eq!(jobs, 1, "the call in flight wrote no job folder");
    let log = read_log(&job_dir(home.path()), "toolbox.log");
    assert!(log.contains("backup_device_status was cancelled"), "{log}");
}

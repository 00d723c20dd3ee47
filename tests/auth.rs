//! Authorization end to end against the simulator: the code-paste flow
//! (stdin piped to `config auth add`, a pseudo-terminal for the status
//! command), stored peers, refresh under expiry with one token request per
//! expiry even with 8 concurrent callers, revoked grants, `-secure`, file
//! modes, and no secret anywhere in what a run writes or prints. Where the
//! refresh token lives follows the build: the OS credential store on
//! Windows (checked under Wine) and macOS, the database on Linux (CI).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use tbx::dropbox::auth::store::{default_path, PeerRecord, SecretsDb};
use tbx::dropbox::auth::{os_store, placement};
use tbx::sim::{SimConfig, SimHandle, ALL_SCOPES};

fn sim_with(config: SimConfig) -> SimHandle {
    tbx::sim::start_background(team(25, 41), config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What a person does with the URL: open it and copy the code shown.
fn code_from_page(url: &str) -> String {
    let page = runtime().block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
    let start = page
        .find("<code id=\"auth-code\">")
        .expect("a code on the page")
        + 21;
    let end = start + page[start..].find("</code>").unwrap();
    page[start..end].to_string()
}

fn tbx(home: &Path, sim: &SimHandle, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TOOLBOX_DROPBOX_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_APP_KEY")
        .env("TOOLBOX_HOME", home)
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url);
    cmd
}

/// Reads `reader` until a line holds the authorize URL; returns it.
fn next_url(lines: &mut impl Iterator<Item = String>, seen: &mut String) -> String {
    for line in lines {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(i) = line.find("http://127.0.0.1") {
            if line.contains("/oauth2/authorize?") {
                return line[i..].trim().to_string();
            }
        }
    }
    panic!("no authorize URL in: {seen}");
}

struct Added {
    code: i32,
    stderr: String,
}

/// `tbx config auth add` with stdin piped: answers each prompt with the
/// given codes (`None`: the right code from the page).
fn auth_add(home: &Path, sim: &SimHandle, peer: &str, answers: &[Option<&str>]) -> Added {
    let mut child: Child = tbx(
        home,
        sim,
        &[
            "config",
            "auth",
            "add",
            "-peer",
            peer,
            "-app-key",
            sim.app_key(),
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map(|l| l.unwrap());
    let mut seen = String::new();
    for answer in answers {
        let url = next_url(&mut lines, &mut seen);
        assert!(
            url.contains("code_challenge_method=S256") && url.contains("token_access_type=offline")
        );
        let code = answer
            .map(str::to_string)
            .unwrap_or_else(|| code_from_page(&url));
        writeln!(stdin, "{code}").unwrap();
    }
    drop(stdin);
    for line in lines {
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    Added {
        code: status.code().unwrap_or(-1),
        stderr: seen,
    }
}

/// The status command for the stored peer `corp`, without a terminal.
fn report_as_corp(home: &Path, sim: &SimHandle) -> std::process::Output {
    tbx(
        home,
        sim,
        &status_args(&["-start-time", "-30d", "-peer", "corp"]),
    )
    .stdin(Stdio::null())
    .output()
    .unwrap()
}

/// Every file under `dir` (but the secrets database), read as bytes;
/// gzipped logs decompressed, so a secret inside them is seen.
fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else if path.file_name().unwrap() != "secrets.db" {
            let mut bytes = std::fs::read(&path).unwrap();
            if path.extension().is_some_and(|e| e == "gz") {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                assert!(!plain.is_empty(), "{} decompresses", path.display());
                bytes = plain;
            }
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn assert_no_secret(home: &Path, outputs: &[&str], secrets: &[&str]) {
    let mut files = Vec::new();
    all_files(home, &mut files);
    assert!(!files.is_empty());
    for secret in secrets {
        assert!(secret.len() > 10);
        for (name, bytes) in &files {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains(secret), "a secret leaked into {name}");
        }
        for out in outputs {
            assert!(
                !out.contains(secret),
                "a secret leaked into the console: {out}"
            );
        }
    }
}

/// The stored peer's record and refresh token, wherever the token lives.
fn stored(home: &Path, peer: &str) -> (PeerRecord, String) {
    let record = SecretsDb::open(&default_path(home))
        .unwrap()
        .find(peer, None)
        .unwrap()
        .unwrap();
    let refresh = placement::refresh_token(&record, os_store::platform().as_ref())
        .unwrap()
        .unwrap();
    (record, refresh.secret().to_string())
}

/// The token went where this build keeps tokens, the row says so, and the
/// notice named the place: the OS store (then the row holds no token at
/// all), else the database.
fn assert_placed(home: &Path, stderr: &str, record: &PeerRecord) {
    match os_store::platform_name() {
        Some(name) => {
            assert!(
                stderr.contains(&format!("The refresh token is kept in {name}.")),
                "{stderr}"
            );
            assert!(record.keyring_account.is_some());
            assert_eq!(record.refresh_token, None);
            assert_eq!(record.access_token, None);
        }
        None => {
            let notice = format!(
                "The refresh token is kept in the auth database {}.",
                default_path(home).display()
            );
            assert!(stderr.contains(&notice), "{stderr}");
            assert_eq!(record.keyring_account, None);
            assert!(record.refresh_token.is_some());
        }
    }
}

/// An access token for `refresh`, as a refresh would give.
fn access_for(sim: &SimHandle, refresh: &str) -> String {
    runtime().block_on(async {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/oauth2/token", sim.base_url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", sim.app_key()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_string()
    })
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn add_then_report_with_the_stored_peer_then_list_and_delete() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let added = auth_add(home.path(), &sim, "corp", &[None]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(added.stderr.contains("1. Open this URL in a browser"));
    assert!(added
        .stderr
        .contains("Authorized peer 'corp' for team Example Corp (simulated)."));

    let db_path = default_path(home.path());
    #[cfg(unix)]
    {
        assert_eq!(mode(&db_path), 0o600);
        assert_eq!(mode(db_path.parent().unwrap()), 0o700);
    }
    let (record, refresh) = stored(home.path(), "corp");
    assert_placed(home.path(), &added.stderr, &record);
    assert_eq!(record.team_name, "Example Corp (simulated)");

    let list = tbx(home.path(), &sim, &["config", "auth", "list"])
        .output()
        .unwrap();
    let list_out = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(list.status.success());
    assert!(
        list_out.contains("peer corp") && list_out.contains("Example Corp (simulated)"),
        "{list_out}"
    );

    let report = report_as_corp(home.path(), &sim);
    let report_out = String::from_utf8_lossy(&report.stdout).to_string();
    let report_err = String::from_utf8_lossy(&report.stderr).to_string();
    assert!(report.status.success(), "{report_err}");
    assert!(report_out.contains("The report generated: "));
    assert_no_secret(
        home.path(),
        &[&added.stderr, &list_out, &report_out, &report_err],
        &[&refresh],
    );

    let before = sim.calls("auth/token/revoke");
    let delete = tbx(
        home.path(),
        &sim,
        &["config", "auth", "delete", "-peer", "corp"],
    )
    .output()
    .unwrap();
    assert!(
        delete.status.success(),
        "{}",
        String::from_utf8_lossy(&delete.stderr)
    );
    assert_eq!(sim.calls("auth/token/revoke"), before + 1);
    assert!(SecretsDb::open(&db_path)
        .unwrap()
        .find("corp", None)
        .unwrap()
        .is_none());
    assert_deleted_everywhere(&record, &String::from_utf8_lossy(&delete.stderr));

    let after = report_as_corp(home.path(), &sim);
    assert_eq!(after.status.code(), Some(11));
    let err = String::from_utf8_lossy(&after.stderr);
    assert!(
        err.contains("TOOLBOX_DROPBOX_TOKEN") && err.contains("TOOLBOX_DROPBOX_REFRESH_TOKEN"),
        "{err}"
    );
}

#[test]
fn a_wrong_code_gets_a_new_link_and_the_right_one_then_works() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let added = auth_add(
        home.path(),
        &sim,
        "default",
        &[Some("not-a-real-code"), None],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(added.stderr.contains("That code was not accepted"));
    assert!(added.stderr.contains("attempt 2 of 3"));
    assert_eq!(sim.calls("oauth2/token:authorization_code"), 2);
}

#[test]
fn three_wrong_codes_fail_cleanly() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let added = auth_add(
        home.path(),
        &sim,
        "default",
        &[Some("a"), Some("b"), Some("c")],
    );
    assert_eq!(added.code, 11, "{}", added.stderr);
    assert!(added
        .stderr
        .contains("Error: the authorization code was not accepted after 3 attempts"));
    assert!(
        !default_path(home.path()).exists()
            || SecretsDb::open(&default_path(home.path()))
                .unwrap()
                .list()
                .unwrap()
                .is_empty()
    );
}

#[test]
fn no_app_key_says_how_to_register_one() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let out = tbx(home.path(), &sim, &["config", "auth", "add"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("https://www.dropbox.com/developers/apps")
            && err.contains("TOOLBOX_DROPBOX_APP_KEY"),
        "{err}"
    );
}

#[test]
fn environment_refresh_token_is_refreshed_once_per_expiry_and_never_stored() {
    let config = SimConfig {
        token_max_calls: Some(3),
        ..SimConfig::default()
    };
    let team_data = team(120, 41);
    let start = anchor() - chrono::Duration::days(60);
    let expected = expected_rows(&team_data, start, None);
    let sim = tbx::sim::start_background(team_data, config).unwrap();
    let (_, refresh) = sim.grant(&ALL_SCOPES, Duration::from_secs(3600));
    let home = tempfile::tempdir().unwrap();
    let out = tbx(
        home.path(),
        &sim,
        &status_args(&["-start-time", &z(start), "-verbose"]),
    )
    .env("TOOLBOX_DROPBOX_REFRESH_TOKEN", &refresh)
    .env("TOOLBOX_DROPBOX_APP_KEY", sim.app_key())
    .stdin(Stdio::null())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let run = Run { home, output: out };
    assert_reports_match(&run, &expected);
    let refreshes = sim.calls("oauth2/token:refresh_token") as usize;
    // The first call needs a token; every later refresh answers one expiry.
    assert!(refreshes >= 3, "{refreshes}");
    assert_eq!(refreshes, 1 + sim.expired_tokens());
    assert!(!default_path(run.home.path()).exists(), "nothing stored");
    assert_no_secret(run.home.path(), &[&stdout, &stderr], &[&refresh]);
}

#[test]
fn a_revoked_environment_refresh_token_is_named() {
    let sim = sim_with(SimConfig::default());
    let (access, refresh) = sim.grant(&ALL_SCOPES, Duration::from_secs(3600));
    runtime().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/2/auth/token/revoke", sim.base_url))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let home = tempfile::tempdir().unwrap();
    let out = tbx(home.path(), &sim, &status_args(&["-start-time", "-30d"]))
        .env("TOOLBOX_DROPBOX_REFRESH_TOKEN", &refresh)
        .env("TOOLBOX_DROPBOX_APP_KEY", sim.app_key())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TOOLBOX_DROPBOX_REFRESH_TOKEN is no longer valid"),
        "{err}"
    );
    assert!(!err.contains(&refresh));
}

#[test]
fn a_stored_peer_whose_grant_was_revoked_is_told_to_authorize_again() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    assert_eq!(auth_add(home.path(), &sim, "corp", &[None]).code, 0);
    let (_, refresh) = stored(home.path(), "corp");
    let access = access_for(&sim, &refresh);
    runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("{}/2/auth/token/revoke", sim.base_url))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
    });
    let out = report_as_corp(home.path(), &sim);
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "authorization for peer corp is no longer valid; run `tbx config auth add -peer corp`"
        ),
        "{err}"
    );
}

#[test]
fn a_stored_peer_keeps_its_refreshed_token_unless_secure() {
    let config = SimConfig {
        token_max_calls: Some(2),
        ..SimConfig::default()
    };
    let sim = sim_with(config);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(auth_add(home.path(), &sim, "corp", &[None]).code, 0);
    let db = default_path(home.path());
    let token_of = || {
        SecretsDb::open(&db)
            .unwrap()
            .find("corp", None)
            .unwrap()
            .unwrap()
            .access_token
    };
    let first = token_of();
    let run = |extra: &[&str]| {
        let mut args = vec!["-start-time", "-30d", "-peer", "corp", "-output", "none"];
        args.extend_from_slice(extra);
        tbx(home.path(), &sim, &status_args(&args))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert!(run(&["-secure"]).status.success());
    assert_eq!(token_of(), first, "-secure writes nothing");
    assert!(run(&[]).status.success());
    if os_store::platform_name().is_some() {
        // The OS store holds the refresh token: no token is written to the
        // database, access tokens stay in memory.
        assert_eq!((first, token_of()), (None, None));
        return;
    }
    assert_ne!(
        token_of(),
        first,
        "the refreshed token is kept for the next run"
    );
}

/// A transport whose token the client believes valid for `left`.
fn refreshing_transport(
    sim: &SimHandle,
    access: String,
    refresh: String,
    left: chrono::Duration,
) -> tbx::dropbox::Transport {
    use tbx::dropbox::auth::oauth::OAuthApp;
    use tbx::dropbox::auth::tokens::{RefreshOwner, Refresher, TokenSource};
    use tbx::dropbox::auth::{AccessToken, ApiBase, RefreshToken};
    use tbx::dropbox::transport::http_client;
    use tbx::dropbox::{Transport, TransportConfig};

    let base = ApiBase::parse(&sim.base_url).unwrap();
    let refresher = Refresher {
        app: OAuthApp::new(sim.app_key(), &base).unwrap(),
        refresh_token: RefreshToken::new(refresh),
        http: http_client(&base, None).unwrap(),
        owner: RefreshOwner::Environment,
        on_refresh: None,
    };
    let source = TokenSource::refreshing(
        Some((AccessToken::new(access), Some(Utc::now() + left))),
        refresher,
        "default",
    );
    Transport::new(TransportConfig::new(base, Arc::new(source))).unwrap()
}

#[test]
fn single_flight_refresh_for_eight_concurrent_callers() {
    let config = SimConfig {
        token_max_calls: Some(10),
        ..SimConfig::default()
    };
    let sim = sim_with(config);
    // The server already considers this token expired; the client does not.
    let (access, refresh) = sim.grant(&ALL_SCOPES, Duration::ZERO);
    let transport = Arc::new(refreshing_transport(
        &sim,
        access,
        refresh,
        chrono::Duration::hours(4),
    ));
    runtime().block_on(async {
        let mut workers = Vec::new();
        for _ in 0..8 {
            let transport = transport.clone();
            workers.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let info: serde_json::Value =
                        transport.rpc_void("team/get_info").await.unwrap();
                    assert_eq!(info["name"], "Example Corp (simulated)");
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
    });
    let refreshes = sim.calls("oauth2/token:refresh_token") as usize;
    assert!(
        refreshes >= 8,
        "80 calls at 10 per token need several refreshes: {refreshes}"
    );
    assert_eq!(
        refreshes,
        sim.expired_tokens(),
        "one token request per expiry"
    );
}

// util-linux script(1) provides the terminal.
#[cfg(target_os = "linux")]
#[test]
fn at_a_terminal_the_status_command_asks_and_secure_stores_nothing() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "'{}' dropbox team backup device status -start-time -30d -secure -output none",
        BIN
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("TOOLBOX_DROPBOX_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .env("TOOLBOX_DROPBOX_APP_KEY", sim.app_key())
        .env("TOOLBOX_HOME", home.path())
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let url = loop {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let (Some(i), true) = (
            seen.find("http://127.0.0.1"),
            seen.contains("Authorization code:"),
        ) {
            let url = seen[i..].split_whitespace().next().unwrap().to_string();
            break url;
        }
    };
    writeln!(stdin, "{}", code_from_page(&url)).unwrap();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert!(rest.contains("Authorized peer 'default'"), "{rest}");
    assert!(
        !default_path(home.path()).exists(),
        "-secure: no auth database"
    );
    let reports = job_dir(home.path()).join("reports");
    assert!(reports.join("devices.json").is_file());
}

#[test]
fn a_token_about_to_expire_is_refreshed_before_it_is_used() {
    let sim = sim_with(SimConfig::default());
    let (access, refresh) = sim.grant(&ALL_SCOPES, Duration::from_secs(3600));
    // Two minutes left: under the five-minute margin.
    let transport = refreshing_transport(&sim, access, refresh, chrono::Duration::minutes(2));
    runtime().block_on(async {
        let _: serde_json::Value = transport.rpc_void("team/get_info").await.unwrap();
        let _: serde_json::Value = transport.rpc_void("team/get_info").await.unwrap();
    });
    assert_eq!(sim.calls("oauth2/token:refresh_token"), 1);
    assert_eq!(
        sim.expired_tokens(),
        0,
        "no call was made with the old token"
    );
    assert_eq!(sim.calls("team/get_info"), 2);
}

/// `config auth delete` removed the peer's OS store entry too (when it had
/// one) and said where it removed it from.
fn assert_deleted_everywhere(record: &PeerRecord, stderr: &str) {
    match (&record.keyring_account, os_store::platform()) {
        (Some(account), Some(os)) => {
            assert_eq!(os.get(account).unwrap(), None, "the OS store entry is gone");
            assert!(
                stderr.contains(&format!("from {} and the auth database", os.name())),
                "{stderr}"
            );
        }
        _ => assert!(stderr.contains("from the auth database"), "{stderr}"),
    }
}

/// A row as tbx writes it, straight into the database of `home`.
fn put_record(home: &Path, peer: &str, refresh: Option<&str>, keyring_account: Option<&str>) {
    let now = Utc::now();
    SecretsDb::open(&default_path(home))
        .unwrap()
        .save(&PeerRecord {
            app_key: tbx::sim::SIM_APP_KEY.into(),
            peer: peer.into(),
            refresh_token: refresh.map(str::to_string),
            access_token: None,
            expires_at: None,
            scopes: ALL_SCOPES.join(" "),
            team_id: "dbtid:sim".into(),
            team_name: "Example Corp (simulated)".into(),
            authorized_at: now,
            updated_at: now,
            keyring_account: keyring_account.map(str::to_string),
        })
        .unwrap();
}

fn list(home: &Path, sim: &SimHandle, extra: &[&str]) -> String {
    let mut args = vec!["config", "auth", "list"];
    args.extend_from_slice(extra);
    let out = tbx(home, sim, &args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_notice_says_where_the_new_token_went_in_english_and_japanese() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let added = auth_add(home.path(), &sim, "corp", &[None]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let (record, refresh) = stored(home.path(), "corp");
    assert_placed(home.path(), &added.stderr, &record);
    assert!(!added.stderr.contains(&refresh));
    #[cfg(target_os = "linux")]
    assert!(
        !added.stderr.contains("unavailable"),
        "Linux builds have no OS store, so nothing fell back: {}",
        added.stderr
    );

    let ja = tempfile::tempdir().unwrap();
    let mut child = tbx(
        ja.path(),
        &sim,
        &[
            "config",
            "auth",
            "add",
            "-app-key",
            sim.app_key(),
            "-lang",
            "ja",
        ],
    )
    .stdin(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    let mut seen = String::new();
    let url = next_url(&mut lines, &mut seen);
    writeln!(child.stdin.take().unwrap(), "{}", code_from_page(&url)).unwrap();
    seen.extend(lines.map(|l| l + "\n"));
    assert!(child.wait().unwrap().success(), "{seen}");
    assert!(seen.contains("リフレッシュトークンを"), "{seen}");
}

#[test]
fn list_shows_where_each_peers_token_lives() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    assert_eq!(auth_add(home.path(), &sim, "added", &[None]).code, 0);
    put_record(home.path(), "indb", Some("refresh-token-in-the-db"), None);
    put_record(home.path(), "inos", None, Some("dropbox:inos:x:00000000"));
    put_record(home.path(), "notoken", None, None);

    let text = list(home.path(), &sim, &[]);
    let place_of = |peer: &str| {
        let block = text.split(&format!("peer {peer}\n")).nth(1).unwrap();
        let line = block
            .lines()
            .find(|l| l.trim_start().starts_with("refresh token in"))
            .unwrap();
        line.trim_start()["refresh token in".len()..]
            .trim()
            .to_string()
    };
    let os_name = os_store::platform_name();
    assert_eq!(place_of("added"), os_name.unwrap_or("this database"));
    assert_eq!(place_of("indb"), "this database");
    assert_eq!(
        place_of("inos"),
        os_name.unwrap_or("an OS credential store (not in this build)")
    );
    assert_eq!(place_of("notoken"), "none");
    assert!(!text.contains("refresh-token-in-the-db"));

    let json = list(home.path(), &sim, &["-output", "json"]);
    let places: Vec<(String, String)> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["peer"].as_str().unwrap().to_string(),
                v["refresh_token_in"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let added = if os_name.is_some() {
        "os_store"
    } else {
        "database"
    };
    assert_eq!(
        places,
        [
            ("added", added),
            ("indb", "database"),
            ("inos", "os_store"),
            ("notoken", "none")
        ]
        .map(|(p, w)| (p.to_string(), w.to_string()))
    );
}

#[test]
fn a_database_from_before_keeps_working() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    let (_, refresh) = sim.grant(&ALL_SCOPES, Duration::from_secs(3600));
    put_record(home.path(), "corp", Some(&refresh), None);
    let out = report_as_corp(home.path(), &sim);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(home.path(), "corp").0.keyring_account, None);
}

#[test]
fn a_token_missing_from_the_os_store_says_to_add_the_peer_again() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    match os_store::platform() {
        Some(os) => {
            assert_eq!(auth_add(home.path(), &sim, "corp", &[None]).code, 0);
            let (record, _) = stored(home.path(), "corp");
            assert!(os.delete(record.keyring_account.as_ref().unwrap()).unwrap());
        }
        // A database written on Windows or macOS, read by a Linux build.
        None => put_record(home.path(), "corp", None, Some("dropbox:corp:x:00000000")),
    }
    let out = report_as_corp(home.path(), &sim);
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the refresh token of peer 'corp'")
            && err.contains("run `tbx config auth add -peer corp` again"),
        "{err}"
    );
}

/// `config auth delete -peer PEER`, which must succeed; its stderr.
fn delete(home: &Path, sim: &SimHandle, peer: &str) -> String {
    let out = tbx(home, sim, &["config", "auth", "delete", "-peer", peer])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn delete_removes_the_token_from_the_os_store_and_the_database() {
    let sim = sim_with(SimConfig::default());
    let home = tempfile::tempdir().unwrap();
    assert_eq!(auth_add(home.path(), &sim, "corp", &[None]).code, 0);
    let (record, _) = stored(home.path(), "corp");
    let stderr = delete(home.path(), &sim, "corp");
    assert!(
        stderr.contains("Revoked and removed peer 'corp'"),
        "{stderr}"
    );
    assert_deleted_everywhere(&record, &stderr);
    assert!(list(home.path(), &sim, &["-output", "json"]).is_empty());

    // A row pointing at an OS store this build cannot reach still goes,
    // and the message says the entry must be removed by hand.
    if os_store::platform().is_none() {
        put_record(
            home.path(),
            "copied",
            None,
            Some("dropbox:copied:x:00000000"),
        );
        let stderr = delete(home.path(), &sim, "copied");
        assert!(
            stderr.contains("account 'dropbox:copied:x:00000000'"),
            "{stderr}"
        );
        assert!(list(home.path(), &sim, &["-output", "json"]).is_empty());
    }
}

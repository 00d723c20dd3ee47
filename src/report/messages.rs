//! Console messages in English and Japanese (`-lang`). Report files, column
//! names and machine output (JSON, logs) never change with the language.
//! `auto` follows `LC_ALL`, `LC_MESSAGES`, then `LANG`, then on Windows the
//! user's locale (`ja-JP` on a Japanese Windows), as tbx does.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// The language the environment asks for.
    pub fn from_env() -> Self {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .or_else(system_locale)
            .unwrap_or_default();
        if locale.to_ascii_lowercase().starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }
}

/// The user's locale name from Windows (`ja-JP`, `en-US`).
#[cfg(windows)]
fn system_locale() -> Option<String> {
    use windows_sys::Win32::Globalization::GetUserDefaultLocaleName;
    // LOCALE_NAME_MAX_LENGTH, terminating NUL included.
    let mut name = [0u16; 85];
    // SAFETY: the buffer is valid for writes of `name.len()` UTF-16 units,
    // the length passed; the call writes at most that many.
    let written = unsafe { GetUserDefaultLocaleName(name.as_mut_ptr(), name.len() as i32) };
    let len = usize::try_from(written).ok()?.checked_sub(1)?;
    Some(String::from_utf16_lossy(name.get(..len)?))
}

#[cfg(not(windows))]
fn system_locale() -> Option<String> {
    None
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Where `config auth list` finds a refresh token, beside a named OS store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPlace {
    /// An OS store this build cannot name or reach.
    UnknownOsStore,
    Database,
    Nowhere,
}

/// Every console message of a run, in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Messages(pub Lang);

impl Messages {
    fn ja(&self) -> bool {
        self.0 == Lang::Ja
    }

    pub fn team(&self, name: &str, id: &str) -> String {
        if self.ja() {
            format!("チーム:   {name} ({id})")
        } else {
            format!("Team:   {name} ({id})")
        }
    }

    pub fn period(&self, start: &str, end: Option<&str>) -> String {
        match (self.ja(), end) {
            (true, Some(end)) => {
                format!("期間:     {start} から {end} まで (開始を含み、終了を含まない)")
            }
            (true, None) => format!("期間:     {start} から現在まで (開始を含む)"),
            (false, Some(end)) => {
                format!("Period: {start} to {end} (start inclusive, end exclusive)")
            }
            (false, None) => format!("Period: {start} to now (start inclusive, end exclusive)"),
        }
    }

    pub fn job(&self, dir: &Path) -> String {
        if self.ja() {
            format!("ジョブ:   {}", dir.display())
        } else {
            format!("Job:    {}", dir.display())
        }
    }

    pub fn selection(&self, described: &str) -> String {
        if self.ja() {
            format!("絞り込み: {described}")
        } else {
            format!("Filter: {described}")
        }
    }

    pub fn fetching(&self) -> String {
        if self.ja() {
            "リンク済みのデスクトップクライアントと監査ログを取得しています...".into()
        } else {
            "Listing linked desktop clients and scanning the audit log...".into()
        }
    }

    pub fn devices_found(&self, devices: u64, owners: u64) -> String {
        if self.ja() {
            format!("  デスクトップクライアント {devices} 台 (所有者 {owners} 名)")
        } else {
            format!(
                "  {} of {}",
                plural(devices, "linked desktop client"),
                plural(owners, "owner")
            )
        }
    }

    pub fn changes_found(&self, changes: u64, sessions: u64, pages: u64) -> String {
        if self.ja() {
            format!(
                "  バックアップ状態の変更 {changes} 件 (デバイス {sessions} 台、{pages} ページ)"
            )
        } else {
            format!(
                "  {} for {} in {}",
                plural(changes, "status change"),
                plural(sessions, "device session"),
                plural(pages, "page")
            )
        }
    }

    pub fn records(&self, total: usize, shown: usize) -> String {
        match (self.ja(), total > shown) {
            (true, true) => {
                format!("{total} 件 (先頭の {shown} 件を表示; レポートには全件あります)")
            }
            (true, false) => format!("{total} 件"),
            (false, true) => {
                format!("{total} records (the first {shown} are shown; the reports hold all)")
            }
            (false, false) => format!("{total} records"),
        }
    }

    pub fn columns_hidden(&self, hidden: usize) -> String {
        if self.ja() {
            format!("(端末の幅に合わせて {hidden} 列を省略しました; レポートには全列あります)")
        } else {
            format!("({hidden} columns hidden to fit the terminal; the reports have every column)")
        }
    }

    pub fn report_generated(&self, path: &Path) -> String {
        if self.ja() {
            format!("レポートを作成しました: {}", path.display())
        } else {
            format!("The report generated: {}", path.display())
        }
    }

    /// The event store was written by another tbx version and starts anew.
    pub fn store_other_version(&self, path: &Path, found: i64, current: i64) -> String {
        if self.ja() {
            format!(
                "イベントストア {}: 別のバージョンの tbx が作成したもの (ストアのバージョン {found}、\
                 この tbx は {current}) のため、新しく作り直しました",
                path.display()
            )
        } else {
            let which = if found < current {
                "an older"
            } else {
                "a newer"
            };
            format!(
                "event store {}: written by {which} tbx (store version {found}, this one uses \
                 {current}); started a new one",
                path.display()
            )
        }
    }

    /// The event store was damaged: moved aside (`moved_to`) or, with
    /// `-no-cache`, deleted; `problem` is what the database said.
    pub fn store_damaged(&self, problem: &str, moved_to: Option<&Path>) -> String {
        match (self.ja(), moved_to) {
            (true, Some(aside)) => format!(
                "{problem}; 壊れたイベントストアを {} に移し、新しく作り直しました",
                aside.display()
            ),
            (true, None) => {
                format!("{problem}; 壊れたイベントストアを削除し、新しく作り直しました (-no-cache)")
            }
            (false, Some(aside)) => format!(
                "{problem}; moved it to {} and started a new one",
                aside.display()
            ),
            (false, None) => {
                format!("{problem}; deleted it and started a new one (-no-cache)")
            }
        }
    }

    /// `-auto-open` could not open the reports; `why` is the system's reason.
    pub fn auto_open_failed(&self, why: &str) -> String {
        if self.ja() {
            format!("-auto-open: レポートを開けませんでした ({why})")
        } else {
            format!("-auto-open: {why}")
        }
    }

    pub fn not_retained(&self) -> String {
        if self.ja() {
            "実行後にジョブフォルダーを削除します (-retain-job-data); レポートは残りません。".into()
        } else {
            "The job folder is removed after the run (-retain-job-data); the reports are not kept."
                .into()
        }
    }

    pub fn step_devices(&self) -> &'static str {
        if self.ja() {
            "デスクトップクライアントを取得中"
        } else {
            "Listing linked desktop clients"
        }
    }

    pub fn step_events(&self) -> &'static str {
        if self.ja() {
            "監査ログを取得中"
        } else {
            "Scanning the audit log"
        }
    }

    pub fn step_owners(&self) -> &'static str {
        if self.ja() {
            "所有者を確認中"
        } else {
            "Resolving device owners"
        }
    }

    pub fn step_write(&self, rows: usize) -> String {
        if self.ja() {
            format!("{rows} 行を書き出し中")
        } else {
            format!("Writing {rows} rows")
        }
    }

    /// The code-paste steps of attempt `attempt` of `max`, each line ended.
    pub fn login_steps(&self, peer: &str, url: &str, attempt: u32, max: u32) -> String {
        if self.ja() {
            let again = if attempt > 1 {
                format!("新しいリンクです ({attempt} / {max} 回目):\n")
            } else {
                format!(
                    "ピア '{peer}' の認可が必要です。Dropbox チームの管理者が承認してください。\n"
                )
            };
            return format!(
                "{again}\n1. 次の URL をブラウザーで開いてください:\n\n   {url}\n\n\
                 2. 必要ならチーム管理者としてサインインし、「許可」をクリックします。\n\
                 3. 表示された認可コードをコピーし、ここに貼り付けて Enter を押してください。\n"
            );
        }
        let again = if attempt > 1 {
            format!("A new link, attempt {attempt} of {max}:\n")
        } else {
            format!(
                "Authorization is needed for peer '{peer}'; a Dropbox team admin must approve it.\n"
            )
        };
        format!(
            "{again}\n1. Open this URL in a browser:\n\n   {url}\n\n\
             2. Sign in as a team admin if asked, and click \"Allow\".\n\
             3. Copy the authorization code Dropbox shows, paste it here and press Enter.\n"
        )
    }

    /// The prompt the code is typed after (no line end).
    pub fn login_code_prompt(&self) -> &'static str {
        if self.ja() {
            "認可コード: "
        } else {
            "Authorization code: "
        }
    }

    pub fn login_code_rejected(&self) -> &'static str {
        if self.ja() {
            "そのコードは受け付けられませんでした (入力の誤り、使用済み、または期限切れ)。"
        } else {
            "That code was not accepted (mistyped, already used, or expired)."
        }
    }

    /// `team` is empty when its name could not be read.
    pub fn login_authorized(&self, peer: &str, team: &str) -> String {
        match (self.ja(), team.is_empty()) {
            (true, true) => format!("ピア '{peer}' を認可しました。"),
            (true, false) => format!("ピア '{peer}' を認可しました (チーム {team})。"),
            (false, true) => format!("Authorized peer '{peer}'."),
            (false, false) => format!("Authorized peer '{peer}' for team {team}."),
        }
    }

    /// Where `config auth add` (or a first run) put the new refresh token.
    pub fn token_in_os_store(&self, store: &str) -> String {
        if self.ja() {
            format!("リフレッシュトークンを {store} に保存しました。")
        } else {
            format!("The refresh token is kept in {store}.")
        }
    }

    pub fn token_in_database(&self, path: &Path) -> String {
        if self.ja() {
            format!(
                "リフレッシュトークンを認証データベース {} に保存しました。",
                path.display()
            )
        } else {
            format!(
                "The refresh token is kept in the auth database {}.",
                path.display()
            )
        }
    }

    /// The OS store was tried and failed (`why`), so the database has it.
    pub fn token_in_database_instead(&self, store: &str, why: &str, path: &Path) -> String {
        if self.ja() {
            format!(
                "{store} を使えないため ({why})、リフレッシュトークンを認証データベース {} に保存しました。",
                path.display()
            )
        } else {
            format!(
                "{store} is unavailable ({why}); the refresh token is kept in the auth database {} instead.",
                path.display()
            )
        }
    }

    /// `config auth list` with nothing stored: what to run instead.
    pub fn auth_list_empty(&self, path: &Path) -> [String; 2] {
        if self.ja() {
            [
                format!("{} に保存された認可はありません。", path.display()),
                "追加するには: tbx config auth add -peer default -app-key <app key>".into(),
            ]
        } else {
            [
                format!("No stored authorizations in {}.", path.display()),
                "Add one with: tbx config auth add -peer default -app-key <app key>".into(),
            ]
        }
    }

    pub fn auth_list_heading(&self, path: &Path) -> String {
        if self.ja() {
            format!("{} に保存された認可:", path.display())
        } else {
            format!("Stored authorizations in {}:", path.display())
        }
    }

    pub fn auth_list_peer(&self, peer: &str) -> String {
        if self.ja() {
            format!("ピア {peer}")
        } else {
            format!("peer {peer}")
        }
    }

    /// The labels of a peer's lines in `config auth list`: team, app key,
    /// scopes, authorized, access token expiry, where the refresh token is.
    pub fn auth_list_labels(&self) -> [&'static str; 6] {
        if self.ja() {
            [
                "チーム",
                "アプリキー",
                "スコープ",
                "認可日時",
                "アクセストークン期限",
                "リフレッシュトークン保存先",
            ]
        } else {
            [
                "team",
                "app key",
                "scopes",
                "authorized",
                "access token expires",
                "refresh token in",
            ]
        }
    }

    /// Where a listed refresh token is, when it is not in a named OS store.
    pub fn auth_list_place(&self, place: TokenPlace) -> &'static str {
        match (self.ja(), place) {
            (true, TokenPlace::UnknownOsStore) => "OS の資格情報ストア (このビルドにはありません)",
            (true, TokenPlace::Database) => "このデータベース",
            (true, TokenPlace::Nowhere) => "なし",
            (false, TokenPlace::UnknownOsStore) => "an OS credential store (not in this build)",
            (false, TokenPlace::Database) => "this database",
            (false, TokenPlace::Nowhere) => "none",
        }
    }

    /// `config auth delete` done: `os_store` names the store the entry was
    /// also removed from; `revoke_failed` says why Dropbox kept the grant.
    pub fn auth_deleted(
        &self,
        peer: &str,
        os_store: Option<&str>,
        revoke_failed: Option<&str>,
    ) -> String {
        if self.ja() {
            let place = match os_store {
                Some(store) => format!("{store} と認証データベースから"),
                None => "認証データベースから".into(),
            };
            return match revoke_failed {
                None => format!("ピア '{peer}' のトークンを無効化し、{place}削除しました。"),
                Some(why) => format!(
                    "ピア '{peer}' を{place}削除しましたが、トークンを無効化できませんでした ({why})。\
                     念のため、Dropbox の管理コンソール (設定 > アプリ) でアプリのリンクを解除してください。"
                ),
            };
        }
        let place = match os_store {
            Some(store) => format!(" from {store} and the auth database"),
            None => " from the auth database".into(),
        };
        match revoke_failed {
            None => format!("Revoked and removed peer '{peer}'{place}."),
            Some(why) => format!(
                "Removed peer '{peer}'{place}; the revoke did not go through ({why}). \
                 To be sure, unlink the app in the Dropbox admin console (Settings > Apps)."
            ),
        }
    }

    /// The OS store kept a deleted peer's entry: how to remove it by hand.
    pub fn auth_os_entry_left(&self, store: &str, why: &str, account: &str) -> String {
        if self.ja() {
            format!(
                "{store} からトークンを削除できませんでした ({why})。\
                 サービス 'tbx'、アカウント '{account}' のエントリーを手動で削除してください。"
            )
        } else {
            format!(
                "Its token could not be removed from {store} ({why}); \
                 delete the entry of service 'tbx', account '{account}', there by hand."
            )
        }
    }

    pub fn cache_none(&self, dir: &Path) -> String {
        if self.ja() {
            format!("{} にイベントストアはありません。", dir.display())
        } else {
            format!("No event stores in {}.", dir.display())
        }
    }

    pub fn cache_heading(&self, dir: &Path) -> String {
        if self.ja() {
            format!("{} のイベントストア:", dir.display())
        } else {
            format!("Event stores in {}:", dir.display())
        }
    }

    pub fn cache_store(&self, team: &str, events: u64, bytes: u64) -> String {
        let kb = bytes as f64 / 1024.0;
        if self.ja() {
            format!("チーム {team}: イベント {events} 件、{kb:.1} KB")
        } else {
            format!("team {team}: {events} events, {kb:.1} KB")
        }
    }

    pub fn cache_covers(&self, start: &str, end: &str) -> String {
        if self.ja() {
            format!("  対象期間: {start} から {end} まで")
        } else {
            format!("  covers {start} to {end}")
        }
    }

    pub fn cache_deleted(&self, file: &Path) -> String {
        if self.ja() {
            format!("削除しました: {}", file.display())
        } else {
            format!("Deleted {}", file.display())
        }
    }

    /// The header lines `dev demo` adds: which simulated team (`name` and
    /// its counts), and that no account is used.
    pub fn demo_header(
        &self,
        name: &str,
        members: usize,
        desktops: usize,
        events: usize,
        url: &str,
    ) -> [String; 2] {
        if self.ja() {
            [
                format!(
                    "デモ:     {name}: メンバー {members} 名、\
                     デスクトップクライアント {desktops} 台、監査ログのイベント {events} 件"
                ),
                format!(
                    "          シミュレーター ({url}) が応答します。Dropbox アカウントは使いません"
                ),
            ]
        } else {
            [
                format!(
                    "Demo:   {name}: {members} members, {desktops} linked desktop clients, \
                     {events} audit log events"
                ),
                format!("        served by the simulator at {url}; no Dropbox account is used"),
            ]
        }
    }

    pub fn demo_finished(&self, devices: usize, reports: &Path) -> String {
        if self.ja() {
            format!(
                "デモが終わりました: デバイス {devices} 台。レポートは {} にあります",
                reports.display()
            )
        } else {
            format!(
                "Demo finished: {devices} devices; reports in {}",
                reports.display()
            )
        }
    }

    pub fn warning(&self) -> &'static str {
        if self.ja() {
            "警告"
        } else {
            "Warning"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a message returns, as the text a person reads.
    trait Shown {
        fn shown(self) -> String;
    }
    impl Shown for String {
        fn shown(self) -> String {
            self
        }
    }
    impl Shown for &str {
        fn shown(self) -> String {
            self.to_string()
        }
    }
    impl<T: Shown, const N: usize> Shown for [T; N] {
        fn shown(self) -> String {
            self.into_iter()
                .map(Shown::shown)
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    /// Each message (and each of its variants) with ASCII arguments, named.
    fn every_message(m: Messages) -> Vec<(&'static str, String)> {
        macro_rules! said {
            ($($name:ident ( $($arg:expr),* );)*) => {
                vec![$((stringify!($name), m.$name($($arg),*).shown())),*]
            };
        }
        let p = Path::new("/x/y");
        said! {
            team("Acme", "dbtid:1");
            period("2024-01-01T00:00:00Z", Some("2024-02-01T00:00:00Z"));
            period("2024-01-01T00:00:00Z", None);
            job(p);
            selection("status=enabled");
            auto_open_failed("no desktop");
            store_other_version(p, 1, 2);
            store_damaged("database disk image is malformed", Some(p));
            store_damaged("database disk image is malformed", None);
            fetching();
            devices_found(2, 1);
            changes_found(3, 2, 1);
            records(2, 500);
            records(600, 500);
            columns_hidden(2);
            report_generated(p);
            not_retained();
            step_devices();
            step_events();
            step_owners();
            step_write(5);
            login_steps("corp", "https://x/a", 1, 3);
            login_steps("corp", "https://x/a", 2, 3);
            login_code_prompt();
            login_code_rejected();
            login_authorized("corp", "Acme");
            login_authorized("corp", "");
            token_in_os_store("Mock Store");
            token_in_database(p);
            token_in_database_instead("Mock Store", "locked", p);
            auth_list_empty(p);
            auth_list_heading(p);
            auth_list_peer("corp");
            auth_list_labels();
            auth_list_place(TokenPlace::UnknownOsStore);
            auth_list_place(TokenPlace::Database);
            auth_list_place(TokenPlace::Nowhere);
            auth_deleted("corp", Some("Mock Store"), None);
            auth_deleted("corp", None, Some("HTTP 500"));
            auth_os_entry_left("Mock Store", "locked", "dropbox:corp:x");
            cache_none(p);
            cache_heading(p);
            cache_store("dbtid:1", 10, 2048);
            cache_covers("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z");
            cache_deleted(p);
            demo_header("Acme", 40, 50, 900, "http://127.0.0.1:1");
            demo_finished(50, p);
            warning();
        }
    }

    #[test]
    fn every_message_has_both_languages() {
        let en = every_message(Messages(Lang::En));
        let ja = every_message(Messages(Lang::Ja));
        for ((name, en), (_, ja)) in en.iter().zip(&ja) {
            assert!(en.is_ascii(), "{name}: English with other script: {en}");
            assert!(!ja.is_ascii(), "{name}: no Japanese in -lang ja: {ja}");
            for line in ja.lines().filter(|l| !l.trim().is_empty()) {
                let line = line.trim();
                assert!(
                    !line.is_ascii() || line.starts_with("https://"),
                    "{name}: an English line in -lang ja: {line}"
                );
            }
        }
        // A message added to `Messages` but not above fails here.
        let source = include_str!("messages.rs");
        let body =
            &source[source.find("impl Messages {").unwrap()..source.find("#[cfg(test)]").unwrap()];
        let declared: std::collections::BTreeSet<&str> = body
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
            .map(|l| l.split(['(', '<']).next().unwrap())
            .collect();
        let sampled: std::collections::BTreeSet<&str> = en.iter().map(|(n, _)| *n).collect();
        assert_eq!(declared, sampled, "each message belongs in every_message()");
    }

    #[test]
    fn english_keeps_its_words() {
        let m = Messages(Lang::En);
        assert_eq!(m.records(2, 500), "2 records");
        assert_eq!(Messages(Lang::Ja).records(2, 500), "2 件");
        assert_eq!(
            m.auth_deleted("corp", Some("Mock Store"), None),
            "Revoked and removed peer 'corp' from Mock Store and the auth database."
        );
        assert_eq!(
            m.auth_deleted("corp", None, Some("HTTP 500")),
            "Removed peer 'corp' from the auth database; the revoke did not go through (HTTP 500). \
             To be sure, unlink the app in the Dropbox admin console (Settings > Apps)."
        );
        assert_eq!(
            m.auth_os_entry_left("S", "locked", "dropbox:a:b"),
            "Its token could not be removed from S (locked); delete the entry of service 'tbx', \
             account 'dropbox:a:b', there by hand."
        );
        assert_eq!(
            m.demo_header("Acme", 40, 50, 900, "http://h").join("\n"),
            "Demo:   Acme: 40 members, 50 linked desktop clients, 900 audit log events\n        \
             served by the simulator at http://h; no Dropbox account is used"
        );
        assert_eq!(m.cache_store("t", 3, 2048), "team t: 3 events, 2.0 KB");
        assert_eq!(m.cache_covers("a", "b"), "  covers a to b");
        for lang in [Lang::En, Lang::Ja] {
            let m = Messages(lang);
            assert!(m
                .token_in_os_store("macOS Keychain")
                .contains("macOS Keychain"));
            assert!(m.token_in_database(Path::new("/s.db")).contains("/s.db"));
            let instead = m.token_in_database_instead("S", "locked", Path::new("/s.db"));
            assert!(instead.contains("locked") && instead.contains("/s.db"));
        }
    }
}

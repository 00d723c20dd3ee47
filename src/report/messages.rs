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

    #[test]
    fn both_languages_have_every_message() {
        for lang in [Lang::En, Lang::Ja] {
            let m = Messages(lang);
            assert!(!m.records(3, 500).is_empty());
            assert!(m.report_generated(Path::new("/x")).ends_with("/x"));
        }
        assert_eq!(Messages(Lang::En).records(2, 500), "2 records");
        assert_eq!(Messages(Lang::Ja).records(2, 500), "2 件");
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

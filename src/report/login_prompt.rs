//! The console side of a login: `dropbox::auth`'s `LoginPrompt` spoken in
//! the run's language (`Messages`) on stderr, which stays free for the
//! prompt while stdout may carry rows. The texts are `Messages`'; this only
//! decides which one each moment shows and where it goes.

use std::io::Write;
use std::sync::Arc;

use super::messages::{Lang, Messages};
use crate::dropbox::auth::placement::Placement;
use crate::dropbox::auth::prompt::LoginPrompt;

type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// Writes each moment of a login through `sink`.
pub struct ConsolePrompt {
    messages: Messages,
    sink: Sink,
}

/// The prompt of a run at the terminal: stderr, in `lang`.
pub fn stderr(lang: Lang) -> Arc<dyn LoginPrompt> {
    Arc::new(ConsolePrompt::new(
        Messages(lang),
        Box::new(|text: &str| {
            // A closed stderr must not stop the login: the code is still read.
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
        }),
    ))
}

impl ConsolePrompt {
    pub fn new(messages: Messages, sink: Sink) -> Self {
        ConsolePrompt { messages, sink }
    }

    fn line(&self, text: &str) {
        (self.sink)(&format!("{text}\n"));
    }

    /// Where the new token went, in one line.
    fn stored(&self, placement: &Placement) -> String {
        let m = self.messages;
        match placement {
            Placement::OsStore(name) => m.token_in_os_store(name),
            Placement::Database {
                path,
                os_failed: None,
            } => m.token_in_database(path),
            Placement::Database {
                path,
                os_failed: Some((name, why)),
            } => m.token_in_database_instead(name, why, path),
        }
    }
}

impl LoginPrompt for ConsolePrompt {
    fn show_steps(&self, peer: &str, url: &str, attempt: u32, max: u32) {
        (self.sink)(&self.messages.login_steps(peer, url, attempt, max));
    }

    fn ask_code(&self) {
        (self.sink)(self.messages.login_code_prompt());
    }

    fn no_code(&self) {
        self.line("");
    }

    fn code_rejected(&self) {
        self.line(self.messages.login_code_rejected());
    }

    fn authorized(&self, peer: &str, team: &str, stored: Option<&Placement>) {
        self.line(&self.messages.login_authorized(peer, team));
        if let Some(placement) = stored {
            self.line(&self.stored(placement));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// A prompt in `lang` and what it has written so far.
    fn captured(lang: Lang) -> (ConsolePrompt, Arc<Mutex<String>>) {
        let seen = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&seen);
        let sink: Sink = Box::new(move |text: &str| into.lock().unwrap().push_str(text));
        (ConsolePrompt::new(Messages(lang), sink), seen)
    }

    /// A whole login with one rejected code, as the flow calls it.
    fn login(prompt: &dyn LoginPrompt, stored: &Placement) {
        prompt.show_steps("corp", "https://x/y?z=1", 1, 3);
        prompt.ask_code();
        prompt.code_rejected();
        prompt.show_steps("corp", "https://x/y?z=2", 2, 3);
        prompt.ask_code();
        prompt.authorized("corp", "Example Corp", Some(stored));
    }

    #[test]
    fn the_english_login_keeps_its_words() {
        let (prompt, seen) = captured(Lang::En);
        login(&prompt, &Placement::OsStore("Mock Store"));
        let seen = seen.lock().unwrap();
        let steps = |head: &str, url: &str| {
            format!(
                "{head}\n\n1. Open this URL in a browser:\n\n   {url}\n\n\
                 2. Sign in as a team admin if asked, and click \"Allow\".\n\
                 3. Copy the authorization code Dropbox shows, paste it here and press Enter.\n"
            )
        };
        let expected = [
            steps(
                "Authorization is needed for peer 'corp'; a Dropbox team admin must approve it.",
                "https://x/y?z=1",
            ),
            "Authorization code: ".into(),
            "That code was not accepted (mistyped, already used, or expired).\n".into(),
            steps("A new link, attempt 2 of 3:", "https://x/y?z=2"),
            "Authorization code: ".into(),
            "Authorized peer 'corp' for team Example Corp.\n".into(),
            "The refresh token is kept in Mock Store.\n".into(),
        ]
        .concat();
        assert_eq!(*seen, expected);
    }

    #[test]
    fn the_login_in_ja_is_japanese() {
        let (prompt, seen) = captured(Lang::Ja);
        let path = PathBuf::from("/home/u/secrets.db");
        login(
            &prompt,
            &Placement::Database {
                path,
                os_failed: None,
            },
        );
        let seen = seen.lock().unwrap();
        let steps = |head: &str, url: &str| {
            format!(
                "{head}\n\n1. 次の URL をブラウザーで開いてください:\n\n   {url}\n\n\
                 2. 必要ならチーム管理者としてサインインし、「許可」をクリックします。\n\
                 3. 表示された認可コードをコピーし、ここに貼り付けて Enter を押してください。\n"
            )
        };
        assert!(seen.starts_with(&steps(
            "ピア 'corp' の認可が必要です。Dropbox チームの管理者が承認してください。",
            "https://x/y?z=1"
        )));
        assert!(seen.contains(&steps("新しいリンクです (2 / 3 回目):", "https://x/y?z=2")));
        assert_eq!(seen.matches("認可コード: ").count(), 2, "{seen}");
        assert!(seen.ends_with(
            "ピア 'corp' を認可しました (チーム Example Corp)。\n\
             リフレッシュトークンを認証データベース /home/u/secrets.db に保存しました。\n"
        ));
        // Every line but the URLs, paths and names is Japanese.
        for line in seen.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.trim();
            assert!(
                line.starts_with("https://") || !line.is_ascii(),
                "an English line in -lang ja: {line}"
            );
        }
    }

    #[test]
    fn a_failed_os_store_says_why_and_a_missing_team_is_left_out() {
        for lang in [Lang::En, Lang::Ja] {
            let (prompt, seen) = captured(lang);
            prompt.authorized(
                "corp",
                "",
                Some(&Placement::Database {
                    path: PathBuf::from("/s.db"),
                    os_failed: Some(("macOS Keychain", "keychain locked".into())),
                }),
            );
            let seen = seen.lock().unwrap();
            assert!(
                seen.contains("macOS Keychain")
                    && seen.contains("keychain locked")
                    && seen.contains("/s.db"),
                "{seen}"
            );
        }
        let (prompt, seen) = captured(Lang::En);
        prompt.ask_code();
        prompt.no_code();
        prompt.authorized("corp", "", None);
        assert_eq!(
            *seen.lock().unwrap(),
            "Authorization code: \nAuthorized peer 'corp'.\n"
        );
    }
}

//! What the code-paste flow has to tell the person at the terminal, as
//! calls on a `LoginPrompt`. The words and their language belong to the
//! console (`report::login_prompt`), so this layer holds no user-facing
//! text and prints nothing itself.

use super::placement::Placement;

/// The moments of a login a person must see, in the order they happen.
pub trait LoginPrompt: Send + Sync {
    /// The numbered steps and the authorize URL of attempt `attempt` (from
    /// 1) of `max`; later attempts say a new link replaces the old one.
    fn show_steps(&self, peer: &str, url: &str, attempt: u32, max: u32);
    /// Asks for the code, on the line the person will type it on.
    fn ask_code(&self);
    /// The input ended without a code: ends the prompt's line.
    fn no_code(&self);
    /// Dropbox did not accept the pasted code.
    fn code_rejected(&self);
    /// The peer is authorized. `team` is empty when its name could not be
    /// read; `stored` says where the token went (`None` under `-secure`).
    fn authorized(&self, peer: &str, team: &str, stored: Option<&Placement>);
}

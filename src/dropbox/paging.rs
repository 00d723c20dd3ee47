//! Guards every paged listing (devices, members, events) against a server
//! that never lets it end: a cursor it gave before in the same chain of
//! pages (a loop, caught at once), or empty pages with `has_more` without
//! end. A listing that legitimately restarts (`reset`, `bad_cursor`,
//! `invalid_cursor`) begins a fresh chain.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::error::ApiError;

/// Empty pages in a row one listing may return. Dropbox does return empty
/// pages with `has_more` (while it scans quiet stretches of the log), but
/// never thousands in a row.
pub const MAX_EMPTY_PAGES: u32 = 10_000;

pub struct PageGuard {
    max_empty: u32,
    /// Hashes of the cursors followed in this chain: 8 bytes a page, however
    /// long the server's cursors are.
    seen: HashSet<u64>,
    empty_in_a_row: u32,
}

impl PageGuard {
    pub fn new(max_empty: u32) -> Self {
        Self {
            max_empty,
            seen: HashSet::new(),
            empty_in_a_row: 0,
        }
    }

    /// The listing starts over: cursors of the old chain may come back.
    pub fn restart(&mut self) {
        self.seen.clear();
        self.empty_in_a_row = 0;
    }

    /// Checks a page with `has_more` (from `route`, holding `items`) before
    /// its `cursor` is followed.
    pub fn follow(&mut self, route: &str, cursor: &str, items: usize) -> Result<(), ApiError> {
        let endless = |detail: String| ApiError::EndlessListing {
            route: route.into(),
            detail,
        };
        if items == 0 {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row > self.max_empty {
                return Err(endless(format!(
                    "over {} empty pages in a row with has_more",
                    self.max_empty
                )));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        cursor.hash(&mut hasher);
        if !self.seen.insert(hasher.finish()) {
            return Err(endless(
                "it returned a cursor it had given before, with has_more".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_given_twice_fails_at_once_unless_the_listing_restarted() {
        let mut guard = PageGuard::new(10);
        guard.follow("r", "a", 1).unwrap();
        guard.follow("r", "b", 0).unwrap();
        let err = guard.follow("r", "a", 5).unwrap_err();
        assert!(
            err.to_string().starts_with("r: the listing never ends"),
            "{err}"
        );
        guard.restart();
        guard.follow("r", "a", 1).unwrap();
    }

    #[test]
    fn empty_pages_are_counted_in_a_row_only() {
        let mut guard = PageGuard::new(3);
        for i in 0..3 {
            guard.follow("r", &format!("e{i}"), 0).unwrap();
        }
        guard.follow("r", "full", 2).unwrap();
        for i in 0..3 {
            guard.follow("r", &format!("f{i}"), 0).unwrap();
        }
        let err = guard.follow("r", "f3", 0).unwrap_err();
        assert!(
            err.to_string().contains("over 3 empty pages in a row"),
            "{err}"
        );
    }
}

//! Which rows a report shows and in what order: `-status`, `-platform`,
//! `-client-type`, `-member` and `-sort COLUMN [-desc]`. Pure: rows in,
//! rows out. Without any of them the report is tbx's: every linked desktop
//! client, by owner email, host name and session id.

use super::row::{col, Row, COLUMNS};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep rows whose latest status is one of these (any tag).
    pub statuses: Vec<String>,
    /// Exact, case-insensitive.
    pub platform: Option<String>,
    /// Exact, case-insensitive.
    pub client_type: Option<String>,
    /// Part of the owner's email or display name, case-insensitive.
    pub member: Option<String>,
    /// A column of `COLUMNS` to sort by, then the default order.
    pub sort: Option<usize>,
    pub descending: bool,
}

fn contains_caseless(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl Selection {
    pub fn is_default(&self) -> bool {
        *self == Selection::default()
    }

    pub fn keeps(&self, row: &Row) -> bool {
        let status_ok = self.statuses.is_empty()
            || self
                .statuses
                .iter()
                .any(|s| s.eq_ignore_ascii_case(row.get(col::LATEST_STATUS)));
        let platform_ok = self
            .platform
            .as_ref()
            .is_none_or(|p| p.eq_ignore_ascii_case(row.get(col::PLATFORM)));
        let client_ok = self
            .client_type
            .as_ref()
            .is_none_or(|c| c.eq_ignore_ascii_case(row.get(col::CLIENT_TYPE)));
        let member_ok = self.member.as_ref().is_none_or(|m| {
            contains_caseless(row.get(col::EMAIL), m)
                || contains_caseless(row.get(col::DISPLAY_NAME), m)
        });
        status_ok && platform_ok && client_ok && member_ok
    }

    /// Filters and orders `rows` (already in the default order).
    pub fn apply(&self, mut rows: Vec<Row>) -> Vec<Row> {
        if self.is_default() {
            return rows;
        }
        rows.retain(|r| self.keeps(r));
        if let Some(column) = self.sort {
            // Stable: equal values keep the default order. Each row's key is
            // lowercased once, not once per comparison.
            if self.descending {
                rows.sort_by_cached_key(|r| std::cmp::Reverse(r.get(column).to_lowercase()));
            } else {
                rows.sort_by_cached_key(|r| r.get(column).to_lowercase());
            }
        } else if self.descending {
            rows.reverse();
        }
        rows
    }

    /// One line for headers and summaries, e.g.
    /// `status=disabled,no_status_update member~bob sort=timestamp desc`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.statuses.is_empty() {
            parts.push(format!("status={}", self.statuses.join(",")));
        }
        if let Some(p) = &self.platform {
            parts.push(format!("platform={p}"));
        }
        if let Some(c) = &self.client_type {
            parts.push(format!("client-type={c}"));
        }
        if let Some(m) = &self.member {
            parts.push(format!("member~{m}"));
        }
        if let Some(c) = self.sort {
            parts.push(format!("sort={}", COLUMNS[c]));
        }
        if self.descending {
            parts.push("desc".into());
        }
        parts.join(" ")
    }
}

/// The column named by `-sort`, if it is one.
pub fn sort_column(name: &str) -> Option<usize> {
    COLUMNS
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::sort_rows;

    fn row(
        email: &str,
        name: &str,
        host: &str,
        platform: &str,
        client: &str,
        status: &str,
        ts: &str,
    ) -> Row {
        Row::default()
            .with(col::EMAIL, email)
            .with(col::DISPLAY_NAME, name)
            .with(col::HOST_NAME, host)
            .with(col::SESSION_ID, host)
            .with(col::PLATFORM, platform)
            .with(col::CLIENT_TYPE, client)
            .with(col::LATEST_STATUS, status)
            .with(col::TIMESTAMP, ts)
    }

    fn rows() -> Vec<Row> {
        let mut rows = vec![
            row(
                "bob@x.com",
                "Bob Smith",
                "b1",
                "Windows 11 Pro",
                "windows",
                "disabled",
                "2024-01-02T00:00:00Z",
            ),
            row(
                "ann@x.com",
                "Ann Lee",
                "a1",
                "macOS 14.5",
                "mac",
                "enabled",
                "2024-01-03T00:00:00Z",
            ),
            row(
                "ann@x.com",
                "Ann Lee",
                "a2",
                "Windows 11 Pro",
                "windows",
                "no_status_update",
                "",
            ),
            row(
                "cy@x.com",
                "Cy Bobbins",
                "c1",
                "Ubuntu",
                "linux",
                "paused",
                "2024-01-01T00:00:00Z",
            ),
        ];
        sort_rows(&mut rows);
        rows
    }

    fn hosts(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.get(col::HOST_NAME)).collect()
    }

    #[test]
    fn no_selection_keeps_the_default_report() {
        assert_eq!(
            hosts(&Selection::default().apply(rows())),
            ["a1", "a2", "b1", "c1"]
        );
    }

    #[test]
    fn statuses_platform_client_type_and_member_filter() {
        let s = Selection {
            statuses: vec!["disabled".into(), "PAUSED".into()],
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["b1", "c1"]);
        let s = Selection {
            platform: Some("windows 11 pro".into()),
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["a2", "b1"]);
        let s = Selection {
            client_type: Some("MAC".into()),
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["a1"]);
        let s = Selection {
            member: Some("bob".into()),
            ..Default::default()
        };
        assert_eq!(
            hosts(&s.apply(rows())),
            ["b1", "c1"],
            "email or display name, partial"
        );
    }

    #[test]
    fn sort_by_a_column_ascending_or_descending() {
        let s = Selection {
            sort: sort_column("timestamp"),
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["a2", "c1", "b1", "a1"]);
        let s = Selection {
            sort: sort_column("timestamp"),
            descending: true,
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["a1", "b1", "c1", "a2"]);
        assert_eq!(sort_column("nope"), None);
    }

    #[test]
    fn equal_sort_keys_keep_the_default_order_either_way() {
        // a2 and b1 share a platform; ubuntu sorts between macOS and Windows
        // only without case.
        let s = Selection {
            sort: sort_column("session_info_platform"),
            ..Default::default()
        };
        assert_eq!(hosts(&s.apply(rows())), ["a1", "c1", "a2", "b1"]);
        let s = Selection {
            descending: true,
            ..s
        };
        assert_eq!(hosts(&s.apply(rows())), ["a2", "b1", "c1", "a1"]);
    }

    #[test]
    fn describe_lists_what_was_asked() {
        let s = Selection {
            statuses: vec!["disabled".into()],
            member: Some("bob".into()),
            sort: sort_column("timestamp"),
            descending: true,
            ..Default::default()
        };
        assert_eq!(
            s.describe(),
            "status=disabled member~bob sort=timestamp desc"
        );
    }
}

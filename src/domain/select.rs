//! Which rows a report shows and in what order: `-status`, `-platform`,
//! `-client-type`, `-member` and `-sort COLUMN [-desc]`. Pure: rows in,
//! rows out. Without any of them the report is tbx's: every linked desktop
//! client, by owner email, host name and session id.

use std::cmp::Ordering;

use super::row::{cmp_caseless, sort_rows_by, Column, Row, Value};

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
    pub sort: Option<Column>,
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
        let device = &row.device;
        let status_ok = self.statuses.is_empty()
            || self
                .statuses
                .iter()
                .any(|s| s.eq_ignore_ascii_case(row.status_tag()));
        let platform_ok = self
            .platform
            .as_ref()
            .is_none_or(|p| p.eq_ignore_ascii_case(device.platform()));
        let client_ok = self
            .client_type
            .as_ref()
            .is_none_or(|c| c.eq_ignore_ascii_case(device.client_type()));
        let member_ok = self.member.as_ref().is_none_or(|m| {
            contains_caseless(&row.owner.email, m) || contains_caseless(&row.owner.display_name, m)
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
            // Stable: equal values keep the default order.
            if self.descending {
                sort_rows_by(&mut rows, |a, b| cmp_column(column, b, a));
            } else {
                sort_rows_by(&mut rows, |a, b| cmp_column(column, a, b));
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
            parts.push(format!("sort={}", c.name()));
        }
        if self.descending {
            parts.push("desc".into());
        }
        parts.join(" ")
    }
}

/// The column named by `-sort`, if it is one.
pub fn sort_column(name: &str) -> Option<Column> {
    Column::named(name)
}

/// `-sort`'s order: the values as the reports write them, compared without
/// case; times by the whole second the reports show.
fn cmp_column(column: Column, a: &Row, b: &Row) -> Ordering {
    match (a.value(column), b.value(column)) {
        (Value::Text(x), Value::Text(y)) => cmp_lowercase(x, y),
        (Value::Time(x), Value::Time(y)) => {
            // No time is an empty cell: first, as "" sorts before any text.
            x.map(|t| t.timestamp()).cmp(&y.map(|t| t.timestamp()))
        }
        (Value::Flag(x), Value::Flag(y)) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}

/// `a.to_lowercase().cmp(&b.to_lowercase())` without allocating. Lowercasing
/// char by char gives the same text except for a word-final capital sigma,
/// which only `str::to_lowercase` turns into `ς`: strings with a `Σ` take the
/// allocating path.
fn cmp_lowercase(a: &str, b: &str) -> Ordering {
    if a.contains('Σ') || b.contains('Σ') {
        a.to_lowercase().cmp(&b.to_lowercase())
    } else {
        cmp_caseless(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::{sort_rows, RowSpec};

    fn row(
        email: &str,
        name: &str,
        host: &str,
        platform: &str,
        client: &str,
        status: &str,
        ts: &str,
    ) -> Row {
        RowSpec {
            email,
            name,
            host,
            session: host,
            platform,
            client_type: client,
            status: (status != "no_status_update").then_some(status),
            timestamp: Some(ts).filter(|t| !t.is_empty()),
            ..Default::default()
        }
        .build()
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
        rows.iter().map(|r| r.device.host_name()).collect()
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

    #[test]
    fn caseless_order_is_lowercased_text_order() {
        let words = [
            "", "a", "A", "b", "Z", "_", "~", "é", "É", "İx", "ix", "ΑΣ", "ας", "ΑΣ~", "ΑΣa",
            "ΑΣΑ", "σ", "ß", "SS", "日本",
        ];
        for a in words {
            for b in words {
                assert_eq!(
                    cmp_lowercase(a, b),
                    a.to_lowercase().cmp(&b.to_lowercase()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn timestamps_sort_by_the_second_shown_and_none_first() {
        let at = |t: &str| {
            RowSpec {
                host: t,
                timestamp: Some(t).filter(|t| !t.is_empty()),
                ..Default::default()
            }
            .build()
        };
        let rows = vec![
            at("2024-01-01T00:00:00.7Z"),
            at("2024-01-01T00:00:00.2Z"),
            at(""),
            at("2023-12-31T23:59:59Z"),
        ];
        let s = Selection {
            sort: sort_column("timestamp"),
            ..Default::default()
        };
        assert_eq!(
            hosts(&s.apply(rows)),
            [
                "",
                "2023-12-31T23:59:59Z",
                "2024-01-01T00:00:00.7Z",
                "2024-01-01T00:00:00.2Z"
            ],
            "one second apart only by fraction: kept in order"
        );
    }
}

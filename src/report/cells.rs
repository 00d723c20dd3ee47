//! Where typed values become text: every writer (CSV, JSON, XLSX, HTML, the
//! console) takes a row's cells from here, so a time or a status reads the
//! same in each format. Times are Dropbox's (`2026-07-14T09:12:44Z`), no time
//! is an empty cell, `linked` is `true`/`false`.

use std::borrow::Cow;

use crate::domain::history::HistoryRow;
use crate::domain::period::format_dropbox_time;
use crate::domain::row::{Column, Row, Value};

/// The text of one value.
pub fn text(value: Value<'_>) -> Cow<'_, str> {
    match value {
        Value::Text(text) => Cow::Borrowed(text),
        Value::Time(Some(t)) => Cow::Owned(format_dropbox_time(t)),
        Value::Time(None) => Cow::Borrowed(""),
        Value::Flag(true) => Cow::Borrowed("true"),
        Value::Flag(false) => Cow::Borrowed("false"),
    }
}

/// The text of `row` in each of `columns`, in order.
pub fn row_cells<'a>(row: &'a Row, columns: &[Column]) -> Vec<Cow<'a, str>> {
    columns.iter().map(|&c| text(row.value(c))).collect()
}

/// The text of a history row, in `HISTORY_COLUMNS` order.
pub fn history_cells(row: &HistoryRow) -> Vec<Cow<'_, str>> {
    vec![
        Cow::Owned(format_dropbox_time(row.timestamp)),
        Cow::Borrowed(row.session_id.as_str()),
        Cow::Borrowed(row.host_name.as_str()),
        Cow::Borrowed(row.owner.email.as_str()),
        Cow::Borrowed(row.owner.display_name.as_str()),
        Cow::Borrowed(row.previous.as_str()),
        Cow::Borrowed(row.new.as_str()),
        Cow::Borrowed(row.actor_type.as_str()),
        Cow::Borrowed(row.actor_email.as_str()),
        Cow::Borrowed(row.actor_name.as_str()),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::history::HISTORY_COLUMNS;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::row::{Layout, Owner, RowSpec};
    use crate::domain::status::BackupStatus;

    #[test]
    fn typed_values_read_as_tbx_writes_them() {
        let row = RowSpec {
            email: "a@x",
            timestamp: Some("2024-01-03T04:05:06Z"),
            status: Some("paused_by_policy"),
            unlinked: true,
            ..Default::default()
        }
        .build();
        let columns = [
            Column::Email,
            Column::Timestamp,
            Column::LatestStatus,
            Column::Linked,
        ];
        assert_eq!(
            row_cells(&row, &columns),
            ["a@x", "2024-01-03T04:05:06Z", "paused_by_policy", "false"]
        );
        let none = RowSpec::default().build();
        assert_eq!(
            row_cells(&none, &columns),
            ["", "", "no_status_update", "true"]
        );
        let all = Layout {
            all_columns: true,
            linked: true,
        };
        assert_eq!(row_cells(&none, &all.columns()).len(), 13);
    }

    #[test]
    fn history_cells_follow_the_history_columns() {
        let row = HistoryRow {
            timestamp: parse_dropbox_time("2024-01-03T04:05:06Z").unwrap(),
            session_id: "s".into(),
            host_name: "h".into(),
            owner: Arc::new(Owner {
                email: "o@x".into(),
                display_name: "O".into(),
            }),
            previous: BackupStatus::from_tag(""),
            new: BackupStatus::Enabled,
            actor_type: "admin".into(),
            actor_email: "a@x".into(),
            actor_name: "A".into(),
        };
        let cells = history_cells(&row);
        assert_eq!(cells.len(), HISTORY_COLUMNS.len());
        assert_eq!(
            cells,
            [
                "2024-01-03T04:05:06Z",
                "s",
                "h",
                "o@x",
                "O",
                "",
                "enabled",
                "admin",
                "a@x",
                "A"
            ]
        );
    }
}

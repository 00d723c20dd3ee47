//! One report row per linked desktop session, the join that builds the rows
//! (device list + latest status + owner), and the row order every format
//! shares.

use std::collections::HashMap;

use serde::Serialize;

use super::fold::LatestStatus;
use super::period::format_dropbox_time;
use super::status::NO_STATUS_UPDATE;

/// Every column of `devices.json`, in tbx's order.
pub const COLUMNS: [&str; 12] = [
    "actor_user_team_member_id",
    "actor_user_email",
    "actor_user_display_name",
    "session_info_session_id",
    "session_info_ip_address",
    "session_info_host_name",
    "session_info_updated",
    "session_info_client_type",
    "session_info_client_version",
    "session_info_platform",
    "timestamp",
    "latest_status",
];

/// Columns tbx hides from CSV, XLSX and the console (ids are noise there).
pub const HIDDEN_COLUMNS: [&str; 2] = ["actor_user_team_member_id", "session_info_session_id"];

/// The columns shown in CSV, XLSX and the console.
pub fn visible_columns() -> impl Iterator<Item = (usize, &'static str)> {
    COLUMNS
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, name)| !HIDDEN_COLUMNS.contains(name))
}

/// A desktop client as the device listing reports it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkedDevice {
    pub team_member_id: String,
    pub session_id: String,
    pub ip_address: String,
    pub host_name: String,
    pub updated: String,
    pub client_type: String,
    pub client_version: String,
    pub platform: String,
}

/// The device's owner. (The columns keep tbx's `actor_user_*` names, but
/// hold the owner, not whoever toggled backup.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub email: String,
    pub display_name: String,
}

/// One line of the `devices` report. Field order is the JSON key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub actor_user_team_member_id: String,
    pub actor_user_email: String,
    pub actor_user_display_name: String,
    pub session_info_session_id: String,
    pub session_info_ip_address: String,
    pub session_info_host_name: String,
    pub session_info_updated: String,
    pub session_info_client_type: String,
    pub session_info_client_version: String,
    pub session_info_platform: String,
    pub timestamp: String,
    pub latest_status: String,
}

impl Row {
    /// All 12 values, in `COLUMNS` order.
    pub fn values(&self) -> [&str; 12] {
        [
            &self.actor_user_team_member_id,
            &self.actor_user_email,
            &self.actor_user_display_name,
            &self.session_info_session_id,
            &self.session_info_ip_address,
            &self.session_info_host_name,
            &self.session_info_updated,
            &self.session_info_client_type,
            &self.session_info_client_version,
            &self.session_info_platform,
            &self.timestamp,
            &self.latest_status,
        ]
    }

    /// The values of `visible_columns()`, in order.
    pub fn visible_values(&self) -> Vec<&str> {
        let values = self.values();
        visible_columns().map(|(i, _)| values[i]).collect()
    }
}

/// Joins the device list with the fold's result and the owners, one row per
/// linked desktop session, in report order.
pub fn build_rows(
    devices: Vec<LinkedDevice>,
    latest: &HashMap<String, LatestStatus>,
    owners: &HashMap<String, Owner>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = devices
        .into_iter()
        .map(|device| {
            let owner = owners
                .get(&device.team_member_id)
                .cloned()
                .unwrap_or_default();
            let (timestamp, latest_status) = match latest.get(&device.session_id) {
                Some(l) => (
                    format_dropbox_time(l.timestamp),
                    l.status.as_str().to_string(),
                ),
                None => (String::new(), NO_STATUS_UPDATE.to_string()),
            };
            Row {
                actor_user_team_member_id: device.team_member_id,
                actor_user_email: owner.email,
                actor_user_display_name: owner.display_name,
                session_info_session_id: device.session_id,
                session_info_ip_address: device.ip_address,
                session_info_host_name: device.host_name,
                session_info_updated: device.updated,
                session_info_client_type: device.client_type,
                session_info_client_version: device.client_version,
                session_info_platform: device.platform,
                timestamp,
                latest_status,
            }
        })
        .collect();
    sort_rows(&mut rows);
    rows
}

/// Report order: owner email, host name, session id. Case-insensitive first
/// (people read `Bob` and `bob` as neighbours), exact bytes as a tiebreak so
/// the order is total; rows whose owner is unknown go last.
pub fn sort_rows(rows: &mut [Row]) {
    rows.sort_by_cached_key(|r| {
        (
            r.actor_user_email.is_empty(),
            r.actor_user_email.to_lowercase(),
            r.session_info_host_name.to_lowercase(),
            r.actor_user_email.clone(),
            r.session_info_host_name.clone(),
            r.session_info_session_id.clone(),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::status::BackupStatus;

    fn device(member: &str, session: &str, host: &str) -> LinkedDevice {
        LinkedDevice {
            team_member_id: member.into(),
            session_id: session.into(),
            host_name: host.into(),
            client_type: "windows".into(),
            ..Default::default()
        }
    }

    fn owner(email: &str) -> Owner {
        Owner {
            email: email.into(),
            display_name: email.to_uppercase(),
        }
    }

    #[test]
    fn json_keys_follow_tbx_column_order() {
        let json = serde_json::to_value(Row::default()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, COLUMNS);
        let text = serde_json::to_string(&Row::default()).unwrap();
        let positions: Vec<usize> = COLUMNS.iter().map(|c| text.find(c).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn visible_columns_drop_the_two_ids() {
        let names: Vec<&str> = visible_columns().map(|(_, n)| n).collect();
        assert_eq!(names.len(), 10);
        assert!(!names.contains(&"actor_user_team_member_id"));
        assert!(!names.contains(&"session_info_session_id"));
        assert_eq!(names[0], "actor_user_email");
        assert_eq!(names[9], "latest_status");
    }

    #[test]
    fn rows_take_owner_from_member_and_status_from_fold() {
        let mut latest = HashMap::new();
        latest.insert(
            "s1".to_string(),
            LatestStatus::new(
                parse_dropbox_time("2024-01-03T04:05:06Z").unwrap(),
                BackupStatus::Enabled,
            ),
        );
        let owners = HashMap::from([("m1".to_string(), owner("a@example.com"))]);
        let rows = build_rows(
            vec![device("m1", "s1", "PC-1"), device("m1", "s2", "PC-2")],
            &latest,
            &owners,
        );
        assert_eq!(rows[0].latest_status, "enabled");
        assert_eq!(rows[0].timestamp, "2024-01-03T04:05:06Z");
        assert_eq!(rows[0].actor_user_email, "a@example.com");
        assert_eq!(rows[1].latest_status, NO_STATUS_UPDATE);
        assert_eq!(rows[1].timestamp, "");
    }

    #[test]
    fn unknown_owner_leaves_empty_names_and_sorts_last() {
        let owners = HashMap::from([("m1".to_string(), owner("z@example.com"))]);
        let rows = build_rows(
            vec![device("gone", "s9", "A"), device("m1", "s1", "B")],
            &HashMap::new(),
            &owners,
        );
        assert_eq!(rows[0].actor_user_email, "z@example.com");
        assert_eq!(rows[1].actor_user_email, "");
        assert_eq!(rows[1].actor_user_team_member_id, "gone");
    }

    #[test]
    fn rows_sort_by_email_then_host_then_session() {
        let owners = HashMap::from([
            ("m1".to_string(), owner("bob@example.com")),
            ("m2".to_string(), owner("Alice@example.com")),
        ]);
        let rows = build_rows(
            vec![
                device("m1", "s3", "zeta"),
                device("m1", "s2", "Alpha"),
                device("m1", "s1", "alpha"),
                device("m2", "s4", "mac"),
                device("m1", "s0", "alpha"),
            ],
            &HashMap::new(),
            &owners,
        );
        let order: Vec<&str> = rows
            .iter()
            .map(|r| r.session_info_session_id.as_str())
            .collect();
        assert_eq!(order, ["s4", "s2", "s0", "s1", "s3"]);
    }
}

//! One report row per linked desktop session, the join that builds the rows
//! (device list + latest status + owner), and the row order every format
//! shares. Rows and devices keep their strings in one allocation each: a
//! team of 100,000 computers is 100,000 allocations, not 1,200,000.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

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

/// Column positions in `COLUMNS`.
pub mod col {
    pub const TEAM_MEMBER_ID: usize = 0;
    pub const EMAIL: usize = 1;
    pub const DISPLAY_NAME: usize = 2;
    pub const SESSION_ID: usize = 3;
    pub const IP_ADDRESS: usize = 4;
    pub const HOST_NAME: usize = 5;
    pub const UPDATED: usize = 6;
    pub const CLIENT_TYPE: usize = 7;
    pub const CLIENT_VERSION: usize = 8;
    pub const PLATFORM: usize = 9;
    pub const TIMESTAMP: usize = 10;
    pub const LATEST_STATUS: usize = 11;
    /// Only shown with `-include-unlinked`.
    pub const LINKED: usize = 12;
}

/// The column `-include-unlinked` adds: `true` for a linked client.
pub const LINKED_COLUMN: &str = "linked";

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

/// Which columns CSV, XLSX and the console show: tbx's visible ten, or
/// all twelve (`-experiment report_all_columns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    pub all_columns: bool,
    /// `-include-unlinked`: a last column `linked`.
    pub linked: bool,
}

impl Layout {
    pub fn columns(self) -> Vec<(usize, &'static str)> {
        let mut columns: Vec<(usize, &'static str)> = if self.all_columns {
            COLUMNS.iter().copied().enumerate().collect()
        } else {
            visible_columns().collect()
        };
        if self.linked {
            columns.push((col::LINKED, LINKED_COLUMN));
        }
        columns
    }

    /// The names of `columns`, for headers.
    pub fn headers(self) -> Vec<&'static str> {
        self.columns().into_iter().map(|(_, name)| name).collect()
    }

    /// The keys of a JSON row: tbx's twelve, and `linked` when asked for.
    pub fn json_columns(self) -> Vec<(usize, &'static str)> {
        let mut columns: Vec<(usize, &'static str)> = COLUMNS.iter().copied().enumerate().collect();
        if self.linked {
            columns.push((col::LINKED, LINKED_COLUMN));
        }
        columns
    }
}

/// `N` strings stored end to end in one allocation.
#[derive(Clone, PartialEq, Eq)]
struct Packed<const N: usize> {
    text: Box<str>,
    ends: [u32; N],
}

impl<const N: usize> Packed<N> {
    fn new(values: [&str; N]) -> Self {
        let mut text = String::with_capacity(values.iter().map(|v| v.len()).sum());
        let mut ends = [0u32; N];
        for (end, value) in ends.iter_mut().zip(values) {
            text.push_str(value);
            // A row over 4 GiB is not a row: clamp rather than wrap.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Self {
            text: text.into_boxed_str(),
            ends,
        }
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    fn all(&self) -> [&str; N] {
        std::array::from_fn(|i| self.get(i))
    }
}

/// A desktop client as the device listing reports it now.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkedDevice(Packed<8>);

impl LinkedDevice {
    // Named arguments read better than an array of eight strings at the one
    // place devices are made.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        team_member_id: &str,
        session_id: &str,
        ip_address: &str,
        host_name: &str,
        updated: &str,
        client_type: &str,
        client_version: &str,
        platform: &str,
    ) -> Self {
        Self(Packed::new([
            team_member_id,
            session_id,
            ip_address,
            host_name,
            updated,
            client_type,
            client_version,
            platform,
        ]))
    }

    pub fn team_member_id(&self) -> &str {
        self.0.get(0)
    }

    pub fn session_id(&self) -> &str {
        self.0.get(1)
    }
}

impl fmt::Debug for LinkedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LinkedDevice").field(&self.0.all()).finish()
    }
}

/// The device's owner. (The columns keep tbx's `actor_user_*` names, but
/// hold the owner, not whoever toggled backup.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub email: String,
    pub display_name: String,
}

/// One line of the `devices` report: the values of `COLUMNS`.
#[derive(Clone, PartialEq, Eq)]
pub struct Row(Packed<13>);

impl Row {
    /// A linked client's row.
    pub fn new(values: [&str; 12]) -> Self {
        Self::with_link(values, true)
    }

    /// A row whose client is (`true`) or is no longer (`false`) linked.
    pub fn with_link(values: [&str; 12], linked: bool) -> Self {
        let v = values;
        let linked = if linked { "true" } else { "false" };
        Self(Packed::new([
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], linked,
        ]))
    }

    pub fn is_linked(&self) -> bool {
        self.get(col::LINKED) == "true"
    }

    /// The value of column `col::...`.
    pub fn get(&self, column: usize) -> &str {
        self.0.get(column)
    }

    /// A copy with one column changed.
    pub fn with(&self, column: usize, value: &str) -> Self {
        let mut values = self.values();
        values[column] = value;
        Self::with_link(values, self.is_linked())
    }

    /// All 12 values, in `COLUMNS` order.
    pub fn values(&self) -> [&str; 12] {
        std::array::from_fn(|i| self.0.get(i))
    }

    /// The values of the layout's columns, in order.
    pub fn values_for(&self, layout: Layout) -> Vec<&str> {
        layout
            .columns()
            .into_iter()
            .map(|(i, _)| self.0.get(i))
            .collect()
    }

    /// The row as a JSON object with the layout's keys, in order.
    pub fn to_json(&self, layout: Layout) -> serde_json::Value {
        let object: serde_json::Map<String, serde_json::Value> = layout
            .json_columns()
            .into_iter()
            .map(|(i, key)| (key.to_string(), serde_json::Value::from(self.0.get(i))))
            .collect();
        serde_json::Value::Object(object)
    }
}

impl Default for Row {
    fn default() -> Self {
        Self::new([""; 12])
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(COLUMNS.iter().zip(self.values()))
            .finish()
    }
}

/// An object with tbx's keys, in tbx's order.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COLUMNS.len()))?;
        for (key, value) in COLUMNS.iter().zip(self.values()) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Joins the device list with the fold's result and the owners, one row per
/// linked desktop session, in report order.
pub fn build_rows(
    devices: Vec<LinkedDevice>,
    latest: &HashMap<String, LatestStatus>,
    owners: &HashMap<String, Owner>,
) -> Vec<Row> {
    let no_owner = Owner::default();
    // into_iter: each device is freed once its row exists.
    let mut rows: Vec<Row> = devices
        .into_iter()
        .map(|device| {
            let owner = owners.get(device.team_member_id()).unwrap_or(&no_owner);
            device_row(&device, owner, latest.get(device.session_id()), true)
        })
        .collect();
    sort_rows(&mut rows);
    rows
}

/// Rows for clients seen in the log but no longer linked (`-include-
/// unlinked`): the device as its latest event described it, the member that
/// event named, and the latest status.
pub fn unlinked_rows(
    seen: HashMap<String, (LinkedDevice, Owner)>,
    linked: &std::collections::HashSet<String>,
    latest: &HashMap<String, LatestStatus>,
) -> Vec<Row> {
    seen.into_iter()
        .filter(|(session, _)| !linked.contains(session))
        .map(|(session, (device, owner))| device_row(&device, &owner, latest.get(&session), false))
        .collect()
}

/// One row: the device's columns, its owner, and its latest status.
fn device_row(
    device: &LinkedDevice,
    owner: &Owner,
    latest: Option<&LatestStatus>,
    linked: bool,
) -> Row {
    let [member, session, ip, host, updated, client_type, client_version, platform] =
        device.0.all();
    let (timestamp, status) = match latest {
        Some(l) => (format_dropbox_time(l.timestamp), l.status.as_str()),
        None => (String::new(), NO_STATUS_UPDATE),
    };
    Row::with_link(
        [
            member,
            &owner.email,
            &owner.display_name,
            session,
            ip,
            host,
            updated,
            client_type,
            client_version,
            platform,
            &timestamp,
            status,
        ],
        linked,
    )
}

/// Compares case-insensitively without allocating.
fn cmp_caseless(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// Report order: owner email, host name, session id. Case-insensitive first
/// (people read `Bob` and `bob` as neighbours), exact bytes as a tiebreak so
/// the order is total; rows whose owner is unknown go last.
pub fn sort_rows(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        let (email_a, email_b) = (a.get(col::EMAIL), b.get(col::EMAIL));
        let (host_a, host_b) = (a.get(col::HOST_NAME), b.get(col::HOST_NAME));
        email_a
            .is_empty()
            .cmp(&email_b.is_empty())
            .then_with(|| cmp_caseless(email_a, email_b))
            .then_with(|| cmp_caseless(host_a, host_b))
            .then_with(|| email_a.cmp(email_b))
            .then_with(|| host_a.cmp(host_b))
            .then_with(|| a.get(col::SESSION_ID).cmp(b.get(col::SESSION_ID)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::status::BackupStatus;

    fn device(member: &str, session: &str, host: &str) -> LinkedDevice {
        LinkedDevice::new(member, session, "", host, "", "windows", "", "")
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
        assert_eq!(rows[0].get(col::LATEST_STATUS), "enabled");
        assert_eq!(rows[0].get(col::TIMESTAMP), "2024-01-03T04:05:06Z");
        assert_eq!(rows[0].get(col::EMAIL), "a@example.com");
        assert_eq!(rows[1].get(col::LATEST_STATUS), NO_STATUS_UPDATE);
        assert_eq!(rows[1].get(col::TIMESTAMP), "");
    }

    #[test]
    fn unknown_owner_leaves_empty_names_and_sorts_last() {
        let owners = HashMap::from([("m1".to_string(), owner("z@example.com"))]);
        let rows = build_rows(
            vec![device("gone", "s9", "A"), device("m1", "s1", "B")],
            &HashMap::new(),
            &owners,
        );
        assert_eq!(rows[0].get(col::EMAIL), "z@example.com");
        assert_eq!(rows[1].get(col::EMAIL), "");
        assert_eq!(rows[1].get(col::TEAM_MEMBER_ID), "gone");
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
        let order: Vec<&str> = rows.iter().map(|r| r.get(col::SESSION_ID)).collect();
        assert_eq!(order, ["s4", "s2", "s0", "s1", "s3"]);
    }
}

//! One report row per desktop session, typed: the device as listed, its
//! owner, the latest status and when it changed, and whether the client is
//! still linked. The join that builds the rows (device list, latest status
//! and owner) and the row order every format shares live here too; turning
//! values into text is the writers' job (`report::cells`). A device keeps
//! its strings in one allocation and the rows of one owner share its names,
//! so a team of 100,000 computers costs about 100,000 allocations.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::latest::{Latest, LatestStatus};
use super::period::parse_dropbox_time;
use super::status::{BackupStatus, NO_STATUS_UPDATE};

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

/// The column `-include-unlinked` adds: `true` for a linked client.
pub const LINKED_COLUMN: &str = "linked";

/// A report column. The first twelve are `COLUMNS`, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    TeamMemberId,
    Email,
    DisplayName,
    SessionId,
    IpAddress,
    HostName,
    Updated,
    ClientType,
    ClientVersion,
    Platform,
    Timestamp,
    LatestStatus,
    /// Only shown with `-include-unlinked`.
    Linked,
}

impl Column {
    /// tbx's twelve, in `COLUMNS` order.
    pub const ALL: [Column; 12] = [
        Column::TeamMemberId,
        Column::Email,
        Column::DisplayName,
        Column::SessionId,
        Column::IpAddress,
        Column::HostName,
        Column::Updated,
        Column::ClientType,
        Column::ClientVersion,
        Column::Platform,
        Column::Timestamp,
        Column::LatestStatus,
    ];

    /// The column's name in headers and JSON keys.
    pub fn name(self) -> &'static str {
        // The discriminants of the first twelve are their COLUMNS indices.
        COLUMNS.get(self as usize).copied().unwrap_or(LINKED_COLUMN)
    }

    /// The column of `COLUMNS` called `name` (any case, spaces around).
    pub fn named(name: &str) -> Option<Column> {
        Column::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Columns tbx hides from CSV, XLSX and the console (ids are noise there).
pub const HIDDEN_COLUMNS: [Column; 2] = [Column::TeamMemberId, Column::SessionId];

/// The columns shown in CSV, XLSX and the console.
pub fn visible_columns() -> impl Iterator<Item = Column> {
    Column::ALL
        .into_iter()
        .filter(|c| !HIDDEN_COLUMNS.contains(c))
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
    pub fn columns(self) -> Vec<Column> {
        let mut columns: Vec<Column> = if self.all_columns {
            Column::ALL.to_vec()
        } else {
            visible_columns().collect()
        };
        if self.linked {
            columns.push(Column::Linked);
        }
        columns
    }

    /// The names of `columns`, for headers.
    pub fn headers(self) -> Vec<&'static str> {
        self.columns().into_iter().map(Column::name).collect()
    }

    /// The keys of a JSON row: tbx's twelve, and `linked` when asked for.
    pub fn json_columns(self) -> Vec<Column> {
        let mut columns = Column::ALL.to_vec();
        if self.linked {
            columns.push(Column::Linked);
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
}

/// A desktop client as the device listing (or, no longer linked, its latest
/// backup event) describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkedDevice(Packed<8>);

// The positions of the fields in a `LinkedDevice`.
const MEMBER: usize = 0;
const SESSION: usize = 1;
const IP: usize = 2;
const HOST: usize = 3;
const UPDATED: usize = 4;
const CLIENT_TYPE: usize = 5;
const CLIENT_VERSION: usize = 6;
const PLATFORM: usize = 7;

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
        self.0.get(MEMBER)
    }

    pub fn session_id(&self) -> &str {
        self.0.get(SESSION)
    }

    pub fn ip_address(&self) -> &str {
        self.0.get(IP)
    }

    pub fn host_name(&self) -> &str {
        self.0.get(HOST)
    }

    /// `session_info_updated`, as the API wrote it (the reports copy it).
    pub fn updated(&self) -> &str {
        self.0.get(UPDATED)
    }

    /// `updated` as a time; `None` when empty or not a timestamp. Read when
    /// asked (by the summary) rather than kept: every byte of a device
    /// counts at the run's peak, where the whole list is in memory.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        parse_dropbox_time(self.updated())
    }

    pub fn client_type(&self) -> &str {
        self.0.get(CLIENT_TYPE)
    }

    pub fn client_version(&self) -> &str {
        self.0.get(CLIENT_VERSION)
    }

    pub fn platform(&self) -> &str {
        self.0.get(PLATFORM)
    }
}

impl fmt::Debug for LinkedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedDevice")
            .field("team_member_id", &self.team_member_id())
            .field("session_id", &self.session_id())
            .field("ip_address", &self.ip_address())
            .field("host_name", &self.host_name())
            .field("updated", &self.updated())
            .field("client_type", &self.client_type())
            .field("client_version", &self.client_version())
            .field("platform", &self.platform())
            .finish()
    }
}

/// The device's owner. (The columns keep tbx's `actor_user_*` names, but
/// hold the owner, not whoever toggled backup.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub email: String,
    pub display_name: String,
}

/// One line of the `devices` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub device: LinkedDevice,
    /// Shared by every row of the same owner.
    pub owner: Arc<Owner>,
    /// When the latest status change happened; `None` without one in the
    /// period.
    pub timestamp: Option<DateTime<Utc>>,
    /// `None`: no change in the period (written `no_status_update`).
    pub latest_status: Option<BackupStatus>,
    /// `false` for a client seen in the log but no longer linked.
    pub linked: bool,
}

/// A row's value in one column, typed; writers turn it into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Text(&'a str),
    /// `timestamp`: `None` without a change in the period.
    Time(Option<DateTime<Utc>>),
    /// `linked`.
    Flag(bool),
}

impl Row {
    /// The row of `device`, owned by `owner`, with the fold's `latest`.
    pub fn new(
        device: LinkedDevice,
        owner: Arc<Owner>,
        latest: Option<LatestStatus>,
        linked: bool,
    ) -> Self {
        Self {
            device,
            owner,
            timestamp: latest.as_ref().map(|l| l.timestamp),
            latest_status: latest.map(|l| l.status),
            linked,
        }
    }

    /// The latest status's tag, or `no_status_update`.
    pub fn status_tag(&self) -> &str {
        self.latest_status
            .as_ref()
            .map_or(NO_STATUS_UPDATE, BackupStatus::as_str)
    }

    /// The value of `column`.
    pub fn value(&self, column: Column) -> Value<'_> {
        let d = &self.device;
        Value::Text(match column {
            Column::TeamMemberId => d.team_member_id(),
            Column::Email => &self.owner.email,
            Column::DisplayName => &self.owner.display_name,
            Column::SessionId => d.session_id(),
            Column::IpAddress => d.ip_address(),
            Column::HostName => d.host_name(),
            Column::Updated => d.updated(),
            Column::ClientType => d.client_type(),
            Column::ClientVersion => d.client_version(),
            Column::Platform => d.platform(),
            Column::LatestStatus => self.status_tag(),
            Column::Timestamp => return Value::Time(self.timestamp),
            Column::Linked => return Value::Flag(self.linked),
        })
    }
}

/// The owners, each in the one copy its rows will share. Moved, not
/// copied: this runs at the end of a run, when memory is at its peak.
pub fn share_owners(owners: HashMap<String, Owner>) -> HashMap<String, Arc<Owner>> {
    owners
        .into_iter()
        .map(|(id, owner)| (id, Arc::new(owner)))
        .collect()
}

/// Joins the device list with the fold's result and the owners (see
/// `share_owners`), one row per linked desktop session, in report order.
pub fn build_rows(
    devices: Vec<LinkedDevice>,
    latest: &Latest,
    owners: &HashMap<String, Arc<Owner>>,
) -> Vec<Row> {
    let no_owner = Arc::new(Owner::default());
    // into_iter: each device moves into its row.
    let mut rows: Vec<Row> = devices
        .into_iter()
        .map(|device| {
            let owner = owners.get(device.team_member_id()).unwrap_or(&no_owner);
            let latest = latest.get(device.session_id());
            Row::new(device, Arc::clone(owner), latest, true)
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
    linked: &HashSet<String>,
    latest: &Latest,
) -> Vec<Row> {
    seen.into_iter()
        .filter(|(session, _)| !linked.contains(session))
        .map(|(session, (device, owner))| {
            Row::new(device, Arc::new(owner), latest.get(&session), false)
        })
        .collect()
}

/// Compares case-insensitively without allocating.
pub fn cmp_caseless(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// Report order: owner email, host name, session id. Case-insensitive first
/// (people read `Bob` and `bob` as neighbours), exact bytes as a tiebreak so
/// the order is total; rows whose owner is unknown go last.
pub fn sort_rows(rows: &mut [Row]) {
    sort_rows_by(rows, |a, b| {
        let (email_a, email_b) = (a.owner.email.as_str(), b.owner.email.as_str());
        let (host_a, host_b) = (a.device.host_name(), b.device.host_name());
        email_a
            .is_empty()
            .cmp(&email_b.is_empty())
            .then_with(|| cmp_caseless(email_a, email_b))
            .then_with(|| cmp_caseless(host_a, host_b))
            .then_with(|| email_a.cmp(email_b))
            .then_with(|| host_a.cmp(host_b))
            .then_with(|| a.device.session_id().cmp(b.device.session_id()))
    });
}

/// A stable sort of `rows` by `compare` that sorts their positions and
/// then moves the rows into place: a stable sort of the rows themselves
/// takes a buffer of up to 8 MB (100,000 rows), at the run's peak of memory.
pub fn sort_rows_by(rows: &mut [Row], compare: impl Fn(&Row, &Row) -> Ordering) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| match (rows.get(a), rows.get(b)) {
        (Some(a), Some(b)) => compare(a, b),
        _ => Ordering::Equal,
    });
    permute(rows, order);
}

/// Puts `items[order[k]]` at `k`, for every `k`, one cycle at a time.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        // Each position is marked placed (`order[at] == at`) as it is filled.
        while let Some(from) = order.get_mut(at).map(|from| std::mem::replace(from, at)) {
            if from == start || from >= items.len() {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// Rows for unit tests, any field set by name.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct RowSpec<'a> {
    pub member: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub session: &'a str,
    pub ip: &'a str,
    pub host: &'a str,
    pub updated: &'a str,
    pub client_type: &'a str,
    pub client_version: &'a str,
    pub platform: &'a str,
    /// A Dropbox timestamp, or none.
    pub timestamp: Option<&'a str>,
    /// A tag, or `None` for no change in the period.
    pub status: Option<&'a str>,
    pub unlinked: bool,
}

#[cfg(test)]
impl RowSpec<'_> {
    pub fn build(&self) -> Row {
        let device = LinkedDevice::new(
            self.member,
            self.session,
            self.ip,
            self.host,
            self.updated,
            self.client_type,
            self.client_version,
            self.platform,
        );
        let owner = Owner {
            email: self.email.into(),
            display_name: self.name.into(),
        };
        let mut row = Row::new(device, Arc::new(owner), None, !self.unlinked);
        row.timestamp = self.timestamp.and_then(parse_dropbox_time);
        row.latest_status = self.status.map(BackupStatus::from_tag);
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn columns_are_named_in_tbx_order() {
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, COLUMNS);
        assert_eq!(Column::Linked.name(), "linked");
        assert_eq!(
            Column::named(" Session_Info_Host_Name "),
            Some(Column::HostName)
        );
        assert_eq!(Column::named("linked"), None, "not a sort column");
    }

    #[test]
    fn visible_columns_drop_the_two_ids() {
        let names: Vec<&str> = visible_columns().map(Column::name).collect();
        assert_eq!(names.len(), 10);
        assert!(!names.contains(&"actor_user_team_member_id"));
        assert!(!names.contains(&"session_info_session_id"));
        assert_eq!(names[0], "actor_user_email");
        assert_eq!(names[9], "latest_status");
    }

    #[test]
    fn a_device_keeps_its_fields_and_reads_its_update_time() {
        let d = LinkedDevice::new(
            "m",
            "s",
            "1.2.3.4",
            "h",
            "2024-01-02T03:04:05Z",
            "t",
            "v",
            "p",
        );
        let fields = [
            d.team_member_id(),
            d.session_id(),
            d.ip_address(),
            d.host_name(),
            d.updated(),
            d.client_type(),
            d.client_version(),
            d.platform(),
        ];
        assert_eq!(
            fields,
            [
                "m",
                "s",
                "1.2.3.4",
                "h",
                "2024-01-02T03:04:05Z",
                "t",
                "v",
                "p"
            ]
        );
        assert_eq!(d.updated_at(), parse_dropbox_time("2024-01-02T03:04:05Z"));
        assert_eq!(device("m", "s", "h").updated_at(), None);
    }

    #[test]
    fn devices_and_rows_stay_small() {
        // The device list is in memory while the log is read, the rows
        // while the reports are written: 100,000 of each on a large team.
        assert!(std::mem::size_of::<LinkedDevice>() <= 48);
        assert!(std::mem::size_of::<Row>() <= 96);
    }

    #[test]
    fn rows_take_owner_from_member_and_status_from_fold() {
        let mut latest = Latest::new();
        let at = parse_dropbox_time("2024-01-03T04:05:06Z").unwrap();
        latest.insert("s1", LatestStatus::new(at, BackupStatus::Enabled));
        let owners = HashMap::from([("m1".to_string(), owner("a@example.com"))]);
        let rows = build_rows(
            vec![device("m1", "s1", "PC-1"), device("m1", "s2", "PC-2")],
            &latest,
            &share_owners(owners),
        );
        assert_eq!(rows[0].latest_status, Some(BackupStatus::Enabled));
        assert_eq!(rows[0].timestamp, Some(at));
        assert_eq!(rows[0].owner.email, "a@example.com");
        assert!(
            Arc::ptr_eq(&rows[0].owner, &rows[1].owner),
            "one owner, one copy"
        );
        assert_eq!(rows[1].status_tag(), NO_STATUS_UPDATE);
        assert_eq!(rows[1].value(Column::Timestamp), Value::Time(None));
        assert_eq!(rows[1].value(Column::Linked), Value::Flag(true));
    }

    #[test]
    fn unknown_tags_round_trip_through_a_row() {
        let mut latest = Latest::new();
        let at = parse_dropbox_time("2024-01-03T04:05:06Z").unwrap();
        let status = BackupStatus::from_tag("paused_by_policy");
        latest.insert("s1", LatestStatus::new(at, status));
        let rows = build_rows(vec![device("m1", "s1", "PC-1")], &latest, &HashMap::new());
        assert_eq!(
            rows[0].value(Column::LatestStatus),
            Value::Text("paused_by_policy")
        );
    }

    #[test]
    fn unknown_owner_leaves_empty_names_and_sorts_last() {
        let owners = HashMap::from([("m1".to_string(), owner("z@example.com"))]);
        let rows = build_rows(
            vec![device("gone", "s9", "A"), device("m1", "s1", "B")],
            &Latest::new(),
            &share_owners(owners),
        );
        assert_eq!(rows[0].owner.email, "z@example.com");
        assert_eq!(rows[1].owner.email, "");
        assert_eq!(rows[1].device.team_member_id(), "gone");
    }

    #[test]
    fn unlinked_rows_skip_linked_sessions_and_say_so() {
        let seen = HashMap::from([
            ("s1".to_string(), (device("m1", "s1", "A"), owner("a@x"))),
            ("s2".to_string(), (device("m2", "s2", "B"), owner("b@x"))),
        ]);
        let linked = HashSet::from(["s1".to_string()]);
        let rows = unlinked_rows(seen, &linked, &Latest::new());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].device.session_id(), "s2");
        assert_eq!(rows[0].owner.email, "b@x");
        assert_eq!(rows[0].value(Column::Linked), Value::Flag(false));
    }

    #[test]
    fn permute_moves_each_item_to_its_place() {
        for n in 0..7usize {
            // Every rotation and the reversal of 0..n.
            let mut orders: Vec<Vec<usize>> = (0..n.max(1))
                .map(|r| (0..n).map(|k| (k + r) % n).collect())
                .collect();
            orders.push((0..n).rev().collect());
            for order in orders {
                let mut items: Vec<usize> = (0..n).map(|k| k * 10).collect();
                permute(&mut items, order.clone());
                let expected: Vec<usize> = order.iter().map(|&k| k * 10).collect();
                assert_eq!(items, expected, "{order:?}");
            }
        }
        let mut items = vec!['a', 'b', 'c', 'd', 'e'];
        permute(&mut items, vec![3, 0, 4, 1, 2]);
        assert_eq!(items, ['d', 'a', 'e', 'b', 'c']);
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
            &Latest::new(),
            &share_owners(owners),
        );
        let order: Vec<&str> = rows.iter().map(|r| r.device.session_id()).collect();
        assert_eq!(order, ["s4", "s2", "s0", "s1", "s3"]);
    }
}

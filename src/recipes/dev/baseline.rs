//! The watermint toolbox's algorithm for the same report, kept as the
//! benchmark's baseline: list every session, scan the whole `devices` event
//! category 1000 a page, then, for the devices no event named, list the
//! team's members once (tbx's cached member lookup, `citron/dropbox/team/
//! backup/device/status.go` with `sv_member.NewCached`). One request at a
//! time, as tbx does. It
//! produces rows by the same rules as the real command, so the two can be
//! compared row for row.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::fold::StatusFold;
use crate::domain::period::{format_dropbox_time, Period};
use crate::domain::row::{build_rows, share_owners, Owner, Row};
use crate::dropbox::backup_event;
use crate::dropbox::team_log::{ContinueArg, ROUTE_CONTINUE, ROUTE_GET_EVENTS};
use crate::dropbox::{devices, members, ApiError, Transport};

#[derive(Serialize)]
struct CategoryArg {
    limit: u32,
    time: TimeArg,
    category: &'static str,
}

#[derive(Serialize)]
struct TimeArg {
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
    cursor: String,
    has_more: bool,
}

/// What tbx reads of an event besides the status: who it concerns.
#[derive(Deserialize)]
struct EventContext {
    #[serde(default)]
    context: Option<Member>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    team_member_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

/// The baseline's result: rows, and how many log events it read.
pub struct BaselineRun {
    pub rows: Vec<Row>,
    pub events_read: u64,
}

pub async fn run(transport: &Transport, period: &Period) -> Result<BaselineRun, ApiError> {
    let devices = devices::list_all_sessions_keep_desktop(transport).await?;

    let mut fold = StatusFold::new();
    let mut owners: HashMap<String, Owner> = HashMap::new();
    let mut events_read = 0u64;
    let arg = CategoryArg {
        limit: 1000,
        time: TimeArg {
            start_time: format_dropbox_time(period.start),
            end_time: period.end.map(format_dropbox_time),
        },
        category: "devices",
    };
    let mut route = ROUTE_GET_EVENTS;
    let mut bytes = transport.rpc_bytes(route, &arg).await?;
    loop {
        let page: Page = serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
            route: route.into(),
            detail: e.to_string(),
        })?;
        for raw in &page.events {
            events_read += 1;
            // tbx parses every event of the category, then skips the others.
            let context: EventContext =
                serde_json::from_str(raw.get()).unwrap_or(EventContext { context: None });
            if let Some(change) = backup_event::decode(route, raw, events_read)? {
                if let Some(Member {
                    team_member_id: Some(id),
                    email: Some(email),
                    display_name,
                }) = context.context
                {
                    owners.insert(
                        id,
                        Owner {
                            email,
                            display_name: display_name.unwrap_or_default(),
                        },
                    );
                }
                fold.push(change.into_status_change());
            }
        }
        if !page.has_more {
            break;
        }
        let cursor = page.cursor.clone();
        bytes = transport
            .rpc_bytes(ROUTE_CONTINUE, &ContinueArg { cursor: &cursor })
            .await?;
        route = ROUTE_CONTINUE;
    }

    // tbx resolves the owner of each device without an event through a
    // cached member list: the whole list (1000 a page, tbx's default) at
    // the first such device.
    let latest = fold.finish();
    let without_event = devices.iter().any(|d| !latest.contains(d.session_id()));
    if without_event {
        for (id, owner) in members::list_members(transport).await? {
            owners.entry(id).or_insert(owner);
        }
    }
    Ok(BaselineRun {
        rows: build_rows(devices, &latest, &share_owners(owners)),
        events_read,
    })
}

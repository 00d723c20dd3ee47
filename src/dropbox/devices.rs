//! `team/devices/list_members_devices`: every linked desktop client of the
//! team, all pages. Web and mobile sessions are filtered out by the server.

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::paging::PageGuard;
use super::transport::Transport;
use super::union::Tag;
use crate::domain::row::LinkedDevice;

pub const ROUTE: &str = "team/devices/list_members_devices";
/// How often a `reset` may restart the listing before we give up.
const MAX_RESETS: u32 = 3;

#[derive(Serialize)]
struct ListArg<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
    include_web_sessions: bool,
    include_desktop_clients: bool,
    include_mobile_clients: bool,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    devices: Vec<MemberDevices>,
    has_more: bool,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct MemberDevices {
    team_member_id: String,
    #[serde(default)]
    desktop_clients: Option<Vec<DesktopClient>>,
}

#[derive(Deserialize)]
struct DesktopClient {
    session_id: String,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    host_name: String,
    #[serde(default)]
    client_type: Tag,
    #[serde(default)]
    client_version: Option<String>,
    #[serde(default)]
    platform: String,
}

/// Lists all linked desktop clients; `on_page` sees every page's running
/// list (it starts again after a `reset`).
pub async fn list_desktop_clients(
    transport: &Transport,
    on_page: impl FnMut(&[LinkedDevice]),
) -> Result<Vec<LinkedDevice>, ApiError> {
    list(transport, false, on_page).await
}

/// The listing as tbx asks for it: every kind of session, desktop kept.
pub async fn list_all_sessions_keep_desktop(
    transport: &Transport,
) -> Result<Vec<LinkedDevice>, ApiError> {
    list(transport, true, |_| {}).await
}

async fn list(
    transport: &Transport,
    other_kinds: bool,
    mut on_page: impl FnMut(&[LinkedDevice]),
) -> Result<Vec<LinkedDevice>, ApiError> {
    let mut resets = 0;
    let mut guard = PageGuard::new(transport.max_empty_pages());
    'restart: loop {
        guard.restart();
        let mut devices = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let arg = ListArg {
                cursor: cursor.as_deref(),
                include_web_sessions: other_kinds,
                include_desktop_clients: true,
                include_mobile_clients: other_kinds,
            };
            let page: Page = match transport.rpc(ROUTE, &arg).await {
                Ok(page) => page,
                // The cursor was invalidated: start over, dropping partial results.
                Err(e) if e.route_tag() == Some("reset") && resets < MAX_RESETS => {
                    resets += 1;
                    continue 'restart;
                }
                Err(e) => return Err(e),
            };
            let members = page.devices.len();
            devices.extend(page.devices.into_iter().flat_map(to_linked_devices));
            on_page(&devices);
            if !page.has_more {
                return Ok(devices);
            }
            let next = page.cursor.ok_or_else(|| ApiError::Decode {
                route: ROUTE.into(),
                detail: "has_more is true but no cursor was given".into(),
            })?;
            guard.follow(ROUTE, &next, members)?;
            cursor = Some(next);
        }
    }
}

fn to_linked_devices(member: MemberDevices) -> impl Iterator<Item = LinkedDevice> {
    let team_member_id = member.team_member_id;
    member
        .desktop_clients
        .unwrap_or_default()
        .into_iter()
        .map(move |c| {
            LinkedDevice::new(
                &team_member_id,
                &c.session_id,
                c.ip_address.as_deref().unwrap_or_default(),
                &c.host_name,
                c.updated.as_deref().unwrap_or_default(),
                &c.client_type.0,
                c.client_version.as_deref().unwrap_or_default(),
                &c.platform,
            )
        })
}

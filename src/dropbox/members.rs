//! `team/members/list_v2` (+ `list/continue_v2`) and `get_info_v2`: resolves
//! device owners to email and display name in as few calls as the team's
//! size allows, never one call per member.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::paging::PageGuard;
use super::transport::Transport;
use crate::domain::row::Owner;

pub const ROUTE_LIST: &str = "team/members/list_v2";
pub const ROUTE_CONTINUE: &str = "team/members/list/continue_v2";
pub const ROUTE_GET_INFO: &str = "team/members/get_info_v2";
const LIST_LIMIT: u32 = 1000;
/// Batch size for `get_info_v2`; the spec sets no maximum, so stay modest.
pub const GET_INFO_BATCH: usize = 100;
/// Listing restarts after `invalid_cursor` before giving up.
const MAX_RESTARTS: u32 = 3;

#[derive(Serialize)]
struct ListArg {
    limit: u32,
    include_removed: bool,
}

#[derive(Serialize)]
struct ContinueArg<'a> {
    cursor: &'a str,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    members: Vec<MemberInfo>,
    #[serde(default)]
    cursor: String,
    has_more: bool,
}

#[derive(Deserialize)]
struct MemberInfo {
    profile: Profile,
}

#[derive(Deserialize)]
struct Profile {
    team_member_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: Option<Name>,
}

#[derive(Deserialize)]
struct Name {
    #[serde(default)]
    display_name: String,
}

#[derive(Serialize)]
struct GetInfoArg<'a> {
    members: Vec<Selector<'a>>,
}

#[derive(Serialize)]
struct Selector<'a> {
    #[serde(rename = ".tag")]
    tag: &'static str,
    team_member_id: &'a str,
}

#[derive(Deserialize)]
struct GetInfoResult {
    #[serde(default)]
    members_info: Vec<GetInfoItem>,
}

#[derive(Deserialize)]
#[serde(tag = ".tag")]
enum GetInfoItem {
    #[serde(rename = "member_info")]
    MemberInfo { profile: Profile },
    #[serde(other)]
    NotFound,
}

impl Profile {
    fn into_owner(self) -> (String, Owner) {
        let owner = Owner {
            email: self.email,
            display_name: self.name.map(|n| n.display_name).unwrap_or_default(),
        };
        (self.team_member_id, owner)
    }
}

/// Which API calls resolve owners most cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Page the whole member list (1000 a call).
    ListAll,
    /// Look the wanted members up in batches.
    GetInfo,
}

/// Picks the strategy with fewer calls, given how many members are wanted
/// and (when known) how many the team has.
pub fn choose_strategy(wanted: usize, team_size: Option<u32>) -> Strategy {
    let Some(size) = team_size.filter(|&s| s > 0) else {
        return Strategy::GetInfo;
    };
    let list_calls = (size as usize).div_ceil(LIST_LIMIT as usize);
    let info_calls = wanted.div_ceil(GET_INFO_BATCH);
    if list_calls < info_calls {
        Strategy::ListAll
    } else {
        Strategy::GetInfo
    }
}

/// How many `list_v2` calls page a team of `size` members.
pub fn list_calls(size: u32) -> usize {
    (size as usize).div_ceil(LIST_LIMIT as usize)
}

/// Resolves `wanted` team member ids. Ids the API does not know are simply
/// absent from the result (their rows keep empty names, as in tbx).
pub async fn resolve_owners(
    transport: &Transport,
    wanted: &BTreeSet<String>,
    team_size: Option<u32>,
) -> Result<HashMap<String, Owner>, ApiError> {
    let mut owners = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(owners);
    }
    if choose_strategy(wanted.len(), team_size) == Strategy::ListAll {
        list_all(transport, Some(wanted), &mut owners).await?;
    }
    look_up_missing(transport, wanted, owners).await
}

/// Every active member of the team, by team member id.
pub async fn list_members(transport: &Transport) -> Result<HashMap<String, Owner>, ApiError> {
    let mut owners = HashMap::new();
    list_all(transport, None, &mut owners).await?;
    Ok(owners)
}

/// `owners` (all the listed members, say) narrowed to `wanted`, with the
/// members it lacks (removed since, say) looked up.
pub async fn look_up_missing(
    transport: &Transport,
    wanted: &BTreeSet<String>,
    mut owners: HashMap<String, Owner>,
) -> Result<HashMap<String, Owner>, ApiError> {
    owners.retain(|id, _| wanted.contains(id));
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|id| !owners.contains_key(*id))
        .collect();
    // Every batch at once: the transport bounds the requests in flight.
    let found = futures_util::future::try_join_all(
        missing
            .chunks(GET_INFO_BATCH)
            .map(|batch| get_info(transport, batch)),
    )
    .await?;
    owners.extend(found.into_iter().flatten());
    Ok(owners)
}

/// Pages the member list; keeps only `wanted` members when given.
async fn list_all(
    transport: &Transport,
    wanted: Option<&BTreeSet<String>>,
    owners: &mut HashMap<String, Owner>,
) -> Result<(), ApiError> {
    let arg = ListArg {
        limit: LIST_LIMIT,
        include_removed: false,
    };
    let mut restarts = 0;
    let mut guard = PageGuard::new(transport.max_empty_pages());
    let mut route = ROUTE_LIST;
    let mut page: ListPage = transport.rpc(route, &arg).await?;
    loop {
        let listed = page.members.len();
        for member in page.members {
            if wanted.is_none_or(|w| w.contains(&member.profile.team_member_id)) {
                let (id, owner) = member.profile.into_owner();
                owners.insert(id, owner);
            }
        }
        if !page.has_more {
            return Ok(());
        }
        let cursor = page.cursor;
        guard.follow(route, &cursor, listed)?;
        route = ROUTE_CONTINUE;
        page = match transport
            .rpc(ROUTE_CONTINUE, &ContinueArg { cursor: &cursor })
            .await
        {
            Ok(page) => page,
            // An invalidated cursor: list again (what was found is kept).
            Err(e) if e.route_tag() == Some("invalid_cursor") && restarts < MAX_RESTARTS => {
                restarts += 1;
                guard.restart();
                route = ROUTE_LIST;
                transport.rpc(ROUTE_LIST, &arg).await?
            }
            Err(e) => return Err(e),
        };
    }
}

/// One `get_info_v2` call: the members of `batch` the team knows.
pub(crate) async fn get_info(
    transport: &Transport,
    batch: &[&String],
) -> Result<Vec<(String, Owner)>, ApiError> {
    let arg = GetInfoArg {
        members: batch
            .iter()
            .map(|id| Selector {
                tag: "team_member_id",
                team_member_id: id,
            })
            .collect(),
    };
    let result: GetInfoResult = transport.rpc(ROUTE_GET_INFO, &arg).await?;
    Ok(result
        .members_info
        .into_iter()
        .filter_map(|item| match item {
            GetInfoItem::MemberInfo { profile } => Some(profile.into_owner()),
            GetInfoItem::NotFound => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_owners_in_a_big_team_use_get_info() {
        assert_eq!(choose_strategy(30, Some(20_000)), Strategy::GetInfo);
    }

    #[test]
    fn many_owners_use_the_member_list() {
        assert_eq!(choose_strategy(1_500, Some(2_000)), Strategy::ListAll);
    }

    #[test]
    fn unknown_team_size_uses_get_info() {
        assert_eq!(choose_strategy(5_000, None), Strategy::GetInfo);
    }

    #[test]
    fn get_info_items_of_both_kinds_parse() {
        let r: GetInfoResult = serde_json::from_str(
            r#"{"members_info": [
              {".tag": "member_info", "profile": {"team_member_id": "m1", "email": "a@x",
                "name": {"display_name": "A"}, "status": {".tag": "active"}}, "roles": []},
              {".tag": "id_not_found", "id_not_found": "m2"}]}"#,
        )
        .unwrap();
        assert!(matches!(r.members_info[0], GetInfoItem::MemberInfo { .. }));
        assert!(matches!(r.members_info[1], GetInfoItem::NotFound));
    }
}

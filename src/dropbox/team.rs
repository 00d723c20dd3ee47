//! `team/get_info`: the team's name and id for the report header, and the
//! member count that decides how owners are resolved.

use serde::Deserialize;

use super::error::ApiError;
use super::transport::Transport;

pub const ROUTE: &str = "team/get_info";

#[derive(Debug, Clone, Deserialize)]
pub struct TeamInfo {
    pub name: String,
    pub team_id: String,
    #[serde(default)]
    pub num_licensed_users: u32,
    #[serde(default)]
    pub num_provisioned_users: u32,
}

pub async fn get_info(transport: &Transport) -> Result<TeamInfo, ApiError> {
    transport.rpc_void(ROUTE).await
}

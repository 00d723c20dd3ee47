//! Backup status as reported in `details.new_value`: an open union, so tags
//! this build does not know pass through verbatim instead of failing.

use std::fmt;

/// The latest status string written when a device had no status change in
/// the period (tbx's wording, kept for script compatibility).
pub const NO_STATUS_UPDATE: &str = "no_status_update";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupStatus {
    Enabled,
    Disabled,
    /// A tag this build does not know (`other`, or one Dropbox adds later).
    Other(String),
}

impl BackupStatus {
    pub fn from_tag(tag: &str) -> Self {
        match tag {
            "enabled" => Self::Enabled,
            "disabled" => Self::Disabled,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Other(tag) => tag,
        }
    }
}

impl fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tags_map_to_variants_and_back() {
        assert_eq!(BackupStatus::from_tag("enabled"), BackupStatus::Enabled);
        assert_eq!(BackupStatus::from_tag("disabled").as_str(), "disabled");
    }

    #[test]
    fn unknown_tags_pass_through_verbatim() {
        let status = BackupStatus::from_tag("paused_by_policy");
        assert_eq!(status, BackupStatus::Other("paused_by_policy".into()));
        assert_eq!(status.to_string(), "paused_by_policy");
    }
}

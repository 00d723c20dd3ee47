//! `tbx config cache list|delete`: the local event stores, one per team
//! (`<home>/store/<team_id>.db`): what they cover and how big they are, and
//! removing them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::job::resolve_home;
use crate::options::{CommonArgs, OptionError};
use crate::report::messages::Messages;
use crate::store::EventStore;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the local event stores
    List(CacheArgs),
    /// Delete the event store of one team (-team ID) or all of them (-all)
    Delete(CacheDeleteArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CacheDeleteArgs {
    /// The team id whose store goes (as `config cache list` shows it)
    #[arg(long, value_name = "TEAM_ID")]
    pub team: Option<String>,
    /// Delete every store
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The store folder, its stores, and the language to talk about them in.
fn stores(common: &CommonArgs) -> Result<(PathBuf, Vec<PathBuf>, Messages), String> {
    let options = common.validate().map_err(|e: OptionError| e.to_string())?;
    let home = resolve_home(options.workspace.as_deref()).map_err(|e| e.to_string())?;
    let dir = home.join("store");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "db"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    Ok((dir, files, Messages(options.lang)))
}

pub fn list(args: &CacheArgs) -> Result<(), String> {
    let (dir, files, text) = stores(&args.common)?;
    if files.is_empty() {
        println!("{}", text.cache_none(&dir));
        return Ok(());
    }
    println!("{}", text.cache_heading(&dir));
    for file in files {
        let store = EventStore::open(&file).map_err(|e| e.to_string())?;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let team = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let events = store.event_count().map_err(|e| e.to_string())?;
        println!("{}", text.cache_store(&team, events, size));
        for span in store.covered().map_err(|e| e.to_string())? {
            println!(
                "{}",
                text.cache_covers(
                    &crate::domain::period::format_dropbox_time(span.start_time()),
                    &crate::domain::period::format_dropbox_time(span.end_time())
                )
            );
        }
    }
    Ok(())
}

pub fn delete(args: &CacheDeleteArgs) -> Result<(), String> {
    let (_, files, text) = stores(&args.common)?;
    let wanted: Vec<PathBuf> = match (&args.team, args.all) {
        (_, true) => files,
        (Some(team), false) => {
            let safe = crate::store::store_path(std::path::Path::new(""), team);
            files
                .into_iter()
                .filter(|f| f.file_name() == safe.file_name())
                .collect()
        }
        (None, false) => {
            return Err("-team: expected a team id (see `tbx config cache list`), or -all".into())
        }
    };
    if wanted.is_empty() {
        return Err("no such event store (see `tbx config cache list`)".into());
    }
    for file in wanted {
        std::fs::remove_file(&file)
            .map_err(|e| format!("cannot delete {}: {e}", file.display()))?;
        eprintln!("{}", text.cache_deleted(&file));
    }
    Ok(())
}

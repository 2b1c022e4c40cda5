//! The operator interface. Scripts depend on these names: `davit serve`, `davit user add|list|
//! passwd|delete`, `davit backup`, `davit import
//! contacts|calendar`, `davit org|team|room|grant|share|member …`, `--listen`,
//! `--data-dir`, `--config` and their `DAVIT_*` variables.

mod app_password;
mod backup;
mod feed;
mod import;
mod log_output;
mod org;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "davit",
    version,
    about = "A standards-first CalDAV/CardDAV server on one SQLite file",
    long_about = "davit serves calendars, task lists and address books (CalDAV, CardDAV, WebDAV) \
                  from one SQLite file. Without a subcommand it runs `serve`."
)]
pub struct Cli {
    /// TOML configuration file (every key is documented in config.example.toml).
    #[arg(long, global = true, env = "DAVIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding the database (default: ./davit-data).
    #[arg(long, global = true, env = "DAVIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(serve::ServeArgs),
    /// Manage user accounts (safe while the server runs).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Per-device app passwords for sync clients: create, list, revoke.
    #[command(subcommand)]
    AppPassword(app_password::AppPasswordCommand),
    /// Publish a calendar read-only at a secret URL, or stop publishing it.
    #[command(subcommand)]
    Feed(feed::FeedCommand),
    /// Organizations: list them, their members, and members' roles.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Teams: named groups of members with grants and collections of their own.
    #[command(subcommand)]
    Team(org::TeamCommand),
    /// Meeting rooms: ROOM principals with a calendar.
    #[command(subcommand)]
    Room(org::RoomCommand),
    /// Rights on organization collections (team and room calendars, shared address books).
    #[command(subcommand)]
    Grant(org::GrantCommand),
    /// Share a calendar, task list or address book; list, revoke, resend invitations.
    #[command(subcommand)]
    Share(org::ShareCommand),
    /// Remove a member of the organization (their collections are transferred or deleted).
    #[command(subcommand)]
    Member(org::MemberCommand),
    /// Import contacts (vCard, CSV) or a calendar (iCalendar) file; re-importing updates.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Write a consistent copy of the database to a new file (safe while the server runs).
    Backup {
        /// Where to write the copy; an existing file is never overwritten.
        output: PathBuf,
    },
}

impl Cli {
    /// The configuration: file, then environment, then these flags.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref(), &|k| std::env::var(k).ok())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.load_config()?;
    match cli.command {
        None => serve::serve(config, serve::ServeArgs::default()),
        Some(Command::Serve(args)) => serve::serve(config, args),
        Some(Command::User(cmd)) => user::run(config, cmd),
        Some(Command::AppPassword(cmd)) => app_password::run(config, cmd),
        Some(Command::Backup { output }) => backup::run(config, &output),
        Some(Command::Feed(cmd)) => feed::run(config, cmd),
        Some(Command::Import(cmd)) => import::run(config, cmd),
        Some(Command::Org(cmd)) => org::run_org(config, cmd),
        Some(Command::Team(cmd)) => org::run_team(config, cmd),
        Some(Command::Room(cmd)) => org::run_room(config, cmd),
        Some(Command::Grant(cmd)) => org::run_grant(config, cmd),
        Some(Command::Share(cmd)) => org::run_share(config, cmd),
        Some(Command::Member(cmd)) => org::run_member(config, cmd),
    }
}

//! `davit app-password create|list|revoke`: per-device passwords for sync clients.

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app;
use crate::auth::app_password;
use crate::config::Config;
use crate::store::{AppPasswordScope, Store};

#[derive(Debug, Subcommand)]
pub enum AppPasswordCommand {
    /// Create an app password; it is printed once, alone on the last line.
    Create {
        user: String,
        /// What it is for, e.g. "Phone – DAVx5".
        #[arg(long)]
        label: String,
        /// Only reading is allowed.
        #[arg(long)]
        read_only: bool,
        /// Limit it to these calendars/address books (OWNER/NAME, repeatable).
        #[arg(long = "collection", value_name = "OWNER/NAME")]
        collections: Vec<String>,
    },
    /// List a user's app passwords: ID, label, scope, created, last use, last client, address.
    List { user: String },
    /// Revoke an app password (effective on the next request).
    Revoke { user: String, id: i64 },
}

fn user_id(store: &dyn Store, name: &str) -> anyhow::Result<i64> {
    store.principal_by_slug(name)?.map(|p| p.id).with_context(|| format!("no user {name:?}"))
}

pub fn run(config: Config, cmd: AppPasswordCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        AppPasswordCommand::Create { user, label, read_only, collections } => {
            let uid = user_id(store, &user)?;
            let scope = app_password::scope_from_names(store, read_only, &collections)?;
            let (id, secret) = app_password::issue(store, uid, &label, &scope)?;
            println!("created app password {id} for {user} ({})", describe(&scope));
            println!("It is shown only now. Use it with the username {user:?}:");
            println!("{secret}");
        }
        AppPasswordCommand::List { user } => {
            for p in store.app_passwords(user_id(store, &user)?)? {
                let when = |t: Option<i64>| {
                    t.map(crate::dav::headers::format_http_date).unwrap_or_else(|| "never".into())
                };
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}\t{}\t{}",
                    p.id,
                    p.label,
                    describe(&p.scope),
                    when(Some(p.created_at)),
                    when(p.last_used_at),
                    p.last_user_agent.as_deref().unwrap_or("-"),
                    p.last_ip.as_deref().unwrap_or("-"),
                );
            }
        }
        AppPasswordCommand::Revoke { user, id } => {
            if !store.revoke_app_password(user_id(store, &user)?, id)? {
                bail!("{user} has no active app password {id}");
            }
            println!("revoked app password {id} of {user}");
        }
    }
    Ok(())
}

fn describe(scope: &AppPasswordScope) -> String {
    let access = if scope.read_only { "read-only" } else { "read-write" };
    match &scope.collections {
        None => format!("{access}, all collections"),
        Some(ids) => format!("{access}, {} collection(s)", ids.len()),
    }
}

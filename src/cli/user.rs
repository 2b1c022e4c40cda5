//! `davit user add|list|passwd|delete`. These open the database directly; SQLite's locking
//! makes them safe while the server runs.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app::{self, organization_for, validate_username};
use crate::auth;
use crate::config::Config;
use crate::store::{NewUser, Role, Store};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (with a default calendar, task list and address book).
    Add {
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Organization to join (created if it does not exist; default: the first one).
        #[arg(long)]
        org: Option<String>,
        /// owner, admin, collaborator or external (default: collaborator; owner of a new organization).
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input; otherwise one is generated
        /// and printed.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their organization and role.
    List,
    /// Set a user's password.
    Passwd {
        name: String,
        /// Read the new password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete a user and everything they own (the last owner of an organization stays).
    Delete { name: String },
}

pub fn run(config: Config, cmd: UserCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        UserCommand::Add { name, email, org, role, display_name, password_stdin } => {
            validate_username(&name)?;
            let (org_id, new_org) = organization_for(store, org.as_deref(), &config.initial_organization)?;
            let role = match role {
                Some(r) => Role::parse(&r).with_context(|| format!("unknown role {r:?}"))?,
                None if new_org => Role::Owner,
                None => Role::Collaborator,
            };
            let (password, generated) = match password_stdin {
                true => (read_password()?, false),
                false => (auth::generate_password()?, true),
            };
            store
                .create_user(&NewUser {
                    display_name: display_name.unwrap_or_else(|| name.clone()),
                    slug: name.clone(),
                    email,
                    password_hash: auth::hash_password(&password)?,
                    org_id,
                    role,
                })
                .map_err(|e| anyhow::anyhow!("cannot create {name}: {e}"))?;
            println!("created user {name} ({role})");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for u in store.users()? {
                let email = u.principal.email.as_deref().unwrap_or("-");
                println!("{}\t{}\t{}\t{}", u.principal.slug, email, u.organization, u.role);
            }
        }
        UserCommand::Passwd { name, .. } => {
            let password = read_password()?;
            store
                .set_password(&name, &auth::hash_password(&password)?)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            println!("password of {name} changed; their web sessions have ended");
        }
        UserCommand::Delete { name } => {
            store.delete_user(&name).map_err(|e| anyhow::anyhow!("cannot delete {name}: {e}"))?;
            println!("deleted user {name}");
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    // The same rule as a change on the account page or through the API.
    if let Err(why) = crate::auth::password_change::check_new_password(&password) {
        bail!("{why}");
    }
    Ok(password)
}

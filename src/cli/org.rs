//! `davit org|team|room|grant|share|member …`: the organization model at the command line.
//! The operator acts with every right the data allows; the rules (same organization, never
//! zero owners, no self-shares…) are those of `crate::org`, shared with the management API.

use std::io::BufRead;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};

use crate::app;
use crate::config::Config;
use crate::org::{self, Actor, GrantOn, MemberDisposition};
use crate::store::{ContentAccess, GrantScope, Grantee, Id, PrincipalKind, Role, ShareAccess, Store};

/// Which organization a command is about (default: the only, or first, one).
#[derive(Debug, Args)]
pub struct OrgArg {
    #[arg(long, value_name = "ORGANIZATION")]
    org: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List organizations.
    List,
    /// List the members of an organization with their roles.
    Members(OrgArg),
    /// Change a member's role (owner, admin, collaborator, external); never leaves zero owners.
    Role {
        name: String,
        role: String,
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team (it gets its own calendar and address-book homes).
    Add {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        org: OrgArg,
    },
    /// List teams with their members.
    List(OrgArg),
    /// Delete a team with its collections, grants and shares.
    Delete {
        name: String,
        #[command(flatten)]
        org: OrgArg,
    },
    /// Add a member to a team.
    #[command(alias = "add-member")]
    Join {
        team: String,
        user: String,
        #[command(flatten)]
        org: OrgArg,
    },
    /// Remove a member from a team.
    #[command(alias = "remove-member")]
    Leave {
        team: String,
        user: String,
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Create a meeting room (a ROOM principal with a calendar, shared like any other).
    Add {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        org: OrgArg,
    },
    List(OrgArg),
    Delete {
        name: String,
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Grant use and/or manage rights on organization collections to a user or team.
    Add {
        /// user:NAME or team:NAME
        #[arg(long)]
        to: String,
        /// One collection, OWNER/COLLECTION (a team's or room's calendar or address book).
        #[arg(long, conflicts_with = "every")]
        collection: Option<String>,
        /// Every current and future organization collection: calendars, addressbooks or all.
        #[arg(long)]
        every: Option<String>,
        /// none, read or write.
        #[arg(long = "use", default_value = "read")]
        use_access: String,
        /// Also rename, recolour, share and delete.
        #[arg(long)]
        manage: bool,
        #[command(flatten)]
        org: OrgArg,
    },
    /// Everything, with the highest permission, in one action.
    Everything {
        user: String,
        #[command(flatten)]
        org: OrgArg,
    },
    List(OrgArg),
    Revoke {
        id: Id,
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Share OWNER/COLLECTION (or change the right of an existing share).
    Add {
        collection: String,
        /// user:NAME (username or e-mail), team:NAME, org, or email:ADDRESS (an invitation).
        #[arg(long)]
        to: String,
        /// view, modify or share (modify and share).
        #[arg(long)]
        right: String,
    },
    /// List the shares and pending invitations of OWNER/COLLECTION.
    List { collection: String },
    /// End a share or delete a pending invitation.
    Revoke {
        collection: String,
        #[arg(long)]
        to: String,
    },
    /// Mark a pending invitation as sent again.
    Resend {
        collection: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Remove a member: their collections go to another member (shares kept) or are deleted;
    /// their shares, grants, team memberships and app passwords end. Asks for the acting
    /// owner's or administrator's password on standard input.
    Remove {
        name: String,
        #[arg(long, required_unless_present = "delete", conflicts_with = "delete")]
        transfer_to: Option<String>,
        #[arg(long)]
        delete: bool,
        /// The acting owner or administrator (default: the organization's only owner).
        #[arg(long = "as", value_name = "NAME")]
        acting: Option<String>,
        #[command(flatten)]
        org: OrgArg,
    },
}

fn org_id(store: &dyn Store, arg: &OrgArg) -> anyhow::Result<Id> {
    let orgs = store.organizations()?;
    match &arg.org {
        Some(name) => orgs
            .iter()
            .find(|o| &o.name == name)
            .map(|o| o.id)
            .ok_or_else(|| anyhow!("no organization {name}")),
        None => orgs
            .first()
            .map(|o| o.id)
            .ok_or_else(|| anyhow!("there is no organization yet: add a user first")),
    }
}

fn err(e: org::OrgError) -> anyhow::Error {
    anyhow!("{e}")
}

pub fn run_org(config: Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        OrgCommand::List => {
            for o in store.organizations()? {
                println!("{}\t{}", o.id, o.name);
            }
        }
        OrgCommand::Members(arg) => {
            for m in store.org_members(org_id(store, &arg)?)? {
                println!("{}\t{}\t{}", m.principal.slug, m.principal.email.as_deref().unwrap_or("-"), m.role);
            }
        }
        OrgCommand::Role { name, role, org: arg } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role {role:?}"))?;
            org::set_role(store, Actor::Operator, org_id(store, &arg)?, &name, role).map_err(err)?;
            println!("{name} is now {role}");
        }
    }
    Ok(())
}

pub fn run_team(config: Config, cmd: TeamCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        TeamCommand::Add { name, display_name, org: arg } => {
            let org = org_id(store, &arg)?;
            let display = display_name.unwrap_or_else(|| name.clone());
            org::create_group(store, Actor::Operator, org, PrincipalKind::Team, &name, &display, None)
                .map_err(err)?;
            println!("created team {name}");
        }
        TeamCommand::List(arg) => {
            for team in store.group_principals(org_id(store, &arg)?, PrincipalKind::Team)? {
                let members: Vec<String> = store.team_members(team.id)?.into_iter().map(|p| p.slug).collect();
                println!("{}\t{}\t{}", team.slug, team.display_name, members.join(","));
            }
        }
        TeamCommand::Delete { name, org: arg } => {
            org::delete_group(store, Actor::Operator, org_id(store, &arg)?, PrincipalKind::Team, &name)
                .map_err(err)?;
            println!("deleted team {name}");
        }
        TeamCommand::Join { team, user, org: arg } => {
            org::set_team_member(store, Actor::Operator, org_id(store, &arg)?, &team, &user, true)
                .map_err(err)?;
            println!("{user} is a member of {team}");
        }
        TeamCommand::Leave { team, user, org: arg } => {
            if !org::set_team_member(store, Actor::Operator, org_id(store, &arg)?, &team, &user, false)
                .map_err(err)?
            {
                bail!("{user} is not a member of {team}");
            }
            println!("{user} left {team}");
        }
    }
    Ok(())
}

pub fn run_room(config: Config, cmd: RoomCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        RoomCommand::Add { name, display_name, email, org: arg } => {
            let org = org_id(store, &arg)?;
            let display = display_name.unwrap_or_else(|| name.clone());
            org::create_group(
                store,
                Actor::Operator,
                org,
                PrincipalKind::Room,
                &name,
                &display,
                email.as_deref(),
            )
            .map_err(err)?;
            println!("created room {name} with calendar {name}/calendar");
        }
        RoomCommand::List(arg) => {
            for room in store.group_principals(org_id(store, &arg)?, PrincipalKind::Room)? {
                println!("{}\t{}\t{}", room.slug, room.display_name, room.email.as_deref().unwrap_or("-"));
            }
        }
        RoomCommand::Delete { name, org: arg } => {
            org::delete_group(store, Actor::Operator, org_id(store, &arg)?, PrincipalKind::Room, &name)
                .map_err(err)?;
            println!("deleted room {name}");
        }
    }
    Ok(())
}

pub fn run_grant(config: Config, cmd: GrantCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        GrantCommand::Add { to, collection, every, use_access, manage, org: arg } => {
            let use_access = ContentAccess::parse(&use_access)
                .with_context(|| format!("--use {use_access:?}: none, read or write"))?;
            let on = match (collection, every) {
                (Some(c), _) => GrantOn::Collection(c),
                (None, Some(scope)) => GrantOn::Every(
                    GrantScope::parse(&scope)
                        .with_context(|| format!("--every {scope:?}: calendars, addressbooks or all"))?,
                ),
                (None, None) => bail!(
                    "say what the grant is on: --collection OWNER/NAME or --every calendars|addressbooks|all"
                ),
            };
            let id =
                org::add_grant(store, Actor::Operator, org_id(store, &arg)?, &to, &on, use_access, manage)
                    .map_err(err)?;
            println!("{id}");
        }
        GrantCommand::Everything { user, org: arg } => {
            let id =
                org::grant_everything(store, Actor::Operator, org_id(store, &arg)?, &user).map_err(err)?;
            println!("{id}");
        }
        GrantCommand::List(arg) => {
            for g in store.grants(org_id(store, &arg)?)? {
                let on = match g.collection_id {
                    Some(c) => format!("collection:{c}"),
                    None => format!("every:{}", g.scope.as_str()),
                };
                let kind = if g.grantee.kind == PrincipalKind::Team { "team" } else { "user" };
                let manage = if g.manage { "manage" } else { "-" };
                println!("{}\t{kind}:{}\t{on}\t{}\t{manage}", g.id, g.grantee.slug, g.use_access.as_str());
            }
        }
        GrantCommand::Revoke { id, org: arg } => {
            org::revoke_grant(store, Actor::Operator, org_id(store, &arg)?, id).map_err(err)?;
            println!("revoked grant {id}");
        }
    }
    Ok(())
}

pub fn run_share(config: Config, cmd: ShareCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        ShareCommand::Add { collection, to, right } => {
            let access = ShareAccess::parse(&right)
                .with_context(|| format!("--right {right:?}: view, modify or share"))?;
            let c = org::find_collection(store, &collection).map_err(err)?;
            let share = org::share(store, Actor::Operator, &c, &to, access).map_err(err)?;
            let pending =
                if matches!(share.grantee, Grantee::Email(_)) { " (invitation pending)" } else { "" };
            println!("shared {collection} with {} ({}){pending}", share.grantee_name, share.access.as_str());
        }
        ShareCommand::List { collection } => {
            let c = org::find_collection(store, &collection).map_err(err)?;
            for s in org::shares(store, Actor::Operator, &c).map_err(err)? {
                let kind = match s.grantee {
                    Grantee::User(_) => "user",
                    Grantee::Team(_) => "team",
                    Grantee::Organization(_) => "org",
                    Grantee::Email(_) => "email",
                };
                println!("{}\t{kind}:{}\t{}", s.id, s.grantee_name, s.access.as_str());
            }
        }
        ShareCommand::Revoke { collection, to } => {
            let c = org::find_collection(store, &collection).map_err(err)?;
            org::revoke(store, Actor::Operator, &c, &to).map_err(err)?;
            println!("revoked the share of {collection} with {to}");
        }
        ShareCommand::Resend { collection, to } => {
            let c = org::find_collection(store, &collection).map_err(err)?;
            let email = to.strip_prefix("email:").unwrap_or(&to);
            org::resend_invitation(store, Actor::Operator, &c, email).map_err(err)?;
            println!("invitation to {email} marked as sent again");
        }
    }
    Ok(())
}

pub fn run_member(config: Config, cmd: MemberCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        MemberCommand::Remove { name, transfer_to, delete, acting, org: arg } => {
            let org = org_id(store, &arg)?;
            let members = store.org_members(org)?;
            let acting = match acting {
                Some(a) => a,
                None => {
                    let owners: Vec<_> = members.iter().filter(|m| m.role == Role::Owner).collect();
                    match owners.as_slice() {
                        [only] => only.principal.slug.clone(),
                        _ => bail!("the organization has several owners: say who acts with --as NAME"),
                    }
                }
            };
            let (actor, role) = org::member_of(store, org, &acting).map_err(err)?;
            if !matches!(role, Role::Owner | Role::Admin) {
                bail!("{acting} is not an owner or administrator of the organization");
            }
            eprintln!("password of {acting}:");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            org::verify_actor_password(store, &actor.slug, line.trim_end_matches(['\r', '\n']))
                .map_err(err)?;
            let disposition = match (&transfer_to, delete) {
                (Some(heir), _) => MemberDisposition::TransferTo(heir),
                (None, _) => MemberDisposition::Delete,
            };
            let (organization, _) =
                store.role_of(actor.id)?.context("the acting user has no organization")?;
            let subject = crate::acl::Subject {
                principal: actor,
                organization: Some(organization),
                role: Some(role),
                scope: None,
            };
            let report = org::remove_member(store, Actor::User(&subject), org, &name, disposition, &[])
                .map_err(err)?;
            for (_, segment, _) in &report.transferred {
                println!("transferred {segment} to {}", transfer_to.as_deref().unwrap_or("-"));
            }
            if !report.deleted.is_empty() {
                println!("deleted {} collection(s)", report.deleted.len());
            }
            println!("removed member {name}");
        }
    }
    Ok(())
}

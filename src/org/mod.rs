//! Organization management as use cases: members and roles, teams, rooms, grants, shares and
//! member removal. The CLI (`davit org|team|room|grant|share|member …`) and the management
//! API call these, so both follow the same rules. Who may act is decided by `acl` (the
//! `share` privilege on a collection) and by the actor's role in the organization.

use crate::acl::{self, Privilege, Subject, Target};
use crate::store::{
    Collection, CollectionKind, ContentAccess, Disposition, GrantScope, Grantee, HomeKind, Id, MemberRemoval,
    NewGrant, Principal, PrincipalKind, RemovalReport, Role, Share, ShareAccess, Store, StoreError,
};

/// Who performs an action: a signed-in user, or the operator at the command line (who may
/// do anything the data allows).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Operator,
    User(&'a Subject),
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// 404: the named user, team, room or collection does not exist (or is not visible).
    #[error("{0}")]
    NotFound(String),
    /// 403: the actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 400/409: the request contradicts the model (oneself, another organization, last owner…).
    #[error("{0}")]
    Invalid(String),
    /// 401: the actor's password was wrong.
    #[error("the password is not correct")]
    WrongPassword,
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl OrgError {
    /// Store conflicts (last owner, other organization) are the caller's mistake, not ours.
    fn from_store(e: StoreError) -> OrgError {
        match e {
            StoreError::Conflict(m) => OrgError::Invalid(m),
            StoreError::NotFound => OrgError::NotFound("no such resource".into()),
            StoreError::AlreadyExists => OrgError::Invalid("that name is already taken".into()),
            other => OrgError::Store(other),
        }
    }
}

pub type OrgResult<T> = Result<T, OrgError>;

/// A share's grantee as written by users: `user:NAME` (username or e-mail), `team:NAME`,
/// `org`, `email:ADDRESS`.
pub fn parse_grantee_spec(spec: &str) -> OrgResult<(String, String)> {
    let (kind, name) = match spec.split_once(':') {
        Some((k, n)) => (k.trim(), n.trim()),
        None if spec.trim() == "org" => ("org", ""),
        None => {
            return Err(OrgError::Invalid(format!(
                "{spec:?}: expected user:NAME, team:NAME, org or email:ADDRESS"
            )));
        }
    };
    if !matches!(kind, "user" | "team" | "org" | "email") || (kind != "org" && name.is_empty()) {
        return Err(OrgError::Invalid(format!(
            "{spec:?}: expected user:NAME, team:NAME, org or email:ADDRESS"
        )));
    }
    Ok((kind.to_owned(), name.to_owned()))
}

/// The calendar or address book `OWNER/COLLECTION` (URL segments; the owner may be a user,
/// team or room).
pub fn find_collection(store: &dyn Store, path: &str) -> OrgResult<Collection> {
    let missing =
        || OrgError::NotFound(format!("no calendar or address book {path} (expected OWNER/COLLECTION)"));
    let (owner, segment) = path.trim_matches('/').split_once('/').ok_or_else(missing)?;
    if owner.is_empty() || segment.is_empty() || segment.contains('/') {
        return Err(missing());
    }
    let principal = store.principal_by_slug(owner)?.ok_or_else(missing)?;
    for kind in [HomeKind::Calendar, HomeKind::Addressbook] {
        if let Some(home) = store.home(principal.id, kind)?
            && let Some(c) = store.child_collection(home.id, segment)?
            && matches!(c.kind, CollectionKind::Calendar | CollectionKind::Addressbook)
        {
            return Ok(c);
        }
    }
    Err(missing())
}

/// The ACL target of a collection for `subject`.
pub fn target_for(store: &dyn Store, subject: &Subject, collection: &Collection) -> OrgResult<Target> {
    let access = if collection.owner_id == subject.principal.id {
        Default::default()
    } else {
        store.collection_access(subject.principal.id, collection.id)?
    };
    Ok(Target::Owned { owner: collection.owner_id, collection: collection.id, access })
}

/// The organization a collection belongs to: its owner's (user, team or room).
fn collection_org(store: &dyn Store, collection: &Collection) -> OrgResult<Id> {
    store
        .organization_of(collection.owner_id)?
        .ok_or_else(|| OrgError::Invalid("the collection's owner belongs to no organization".into()))
}

/// The highest right `actor` may hand out on the collection (never above their own).
fn highest_grantable(store: &dyn Store, actor: Actor<'_>, collection: &Collection) -> OrgResult<ShareAccess> {
    let Actor::User(subject) = actor else { return Ok(ShareAccess::Share) };
    let target = target_for(store, subject, collection)?;
    let href = format!("{}/{}", collection_owner_slug(store, collection)?, collection.segment);
    acl::authorize(subject, target, Privilege::Share, &href).map_err(|_| {
        OrgError::Forbidden(format!("you may not share {href}: that needs *can modify and share*"))
    })?;
    let privileges = acl::effective_privileges(subject, target);
    Ok(if privileges.contains(Privilege::WriteContent) { ShareAccess::Share } else { ShareAccess::View })
}

fn collection_owner_slug(store: &dyn Store, collection: &Collection) -> OrgResult<String> {
    Ok(store.principal_by_id(collection.owner_id)?.map(|p| p.slug).unwrap_or_default())
}

/// Resolves a grantee spec within the collection's organization, refusing what makes no
/// sense: oneself, the owner, unknown users, users or teams of another organization.
fn resolve_grantee(
    store: &dyn Store,
    actor: Actor<'_>,
    collection: &Collection,
    kind: &str,
    name: &str,
) -> OrgResult<Grantee> {
    let org = collection_org(store, collection)?;
    let user_in_org = |p: &Principal| -> OrgResult<Grantee> {
        if p.kind != PrincipalKind::User {
            return Err(OrgError::Invalid(format!("{} is not a user", p.slug)));
        }
        if store.organization_of(p.id)? != Some(org) {
            return Err(OrgError::Invalid(format!("{} is not a member of this organization", p.slug)));
        }
        if let Actor::User(s) = actor
            && s.principal.id == p.id
        {
            return Err(OrgError::Invalid("you cannot share a collection with yourself".into()));
        }
        if p.id == collection.owner_id {
            return Err(OrgError::Invalid(format!("{} owns this collection already", p.slug)));
        }
        Ok(Grantee::User(p.id))
    };
    match kind {
        "user" => {
            let p = principal_by_name(store, name)?
                .ok_or_else(|| OrgError::NotFound(format!("no user {name}")))?;
            user_in_org(&p)
        }
        "team" => {
            let p = store
                .principal_by_slug(name)?
                .filter(|p| p.kind == PrincipalKind::Team)
                .ok_or_else(|| OrgError::NotFound(format!("no team {name}")))?;
            if store.organization_of(p.id)? != Some(org) {
                return Err(OrgError::Invalid(format!("team {name} belongs to another organization")));
            }
            Ok(Grantee::Team(p.id))
        }
        "org" => Ok(Grantee::Organization(org)),
        _ => {
            let email = name.trim().to_lowercase();
            if !is_plausible_email(&email) {
                return Err(OrgError::Invalid(format!("{name:?} is not an e-mail address")));
            }
            match store.login_credentials(&email)? {
                Some(c) => {
                    let p =
                        store.principal_by_id(c.user_id)?.ok_or_else(|| OrgError::NotFound(email.clone()))?;
                    user_in_org(&p)
                }
                None => Ok(Grantee::Email(email)),
            }
        }
    }
}

/// A principal by slug, or a user by the e-mail address they sign in with.
fn principal_by_name(store: &dyn Store, name: &str) -> OrgResult<Option<Principal>> {
    if let Some(p) = store.principal_by_slug(name)? {
        return Ok(Some(p));
    }
    match store.login_credentials(name)? {
        Some(c) => Ok(store.principal_by_id(c.user_id)?),
        None => Ok(None),
    }
}

fn is_plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
                && s.len() <= 254
        }
        None => false,
    }
}

/// Shares the collection (or changes an existing share's right). Returns the share.
pub fn share(
    store: &dyn Store,
    actor: Actor<'_>,
    collection: &Collection,
    grantee_spec: &str,
    access: ShareAccess,
) -> OrgResult<Share> {
    let highest = highest_grantable(store, actor, collection)?;
    if access > highest {
        return Err(OrgError::Forbidden(format!(
            "you can give at most {:?} on this collection: no right above your own",
            highest.as_str()
        )));
    }
    let (kind, name) = parse_grantee_spec(grantee_spec)?;
    let grantee = resolve_grantee(store, actor, collection, &kind, &name)?;
    let by = match actor {
        Actor::User(s) => s.principal.id,
        Actor::Operator => collection.owner_id,
    };
    let id = store.put_share(collection.id, &grantee, access, by).map_err(OrgError::from_store)?;
    store
        .shares(collection.id)?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| OrgError::NotFound("the share vanished".into()))
}

/// The shares of a collection; seeing them needs the share privilege (or read-acl).
pub fn shares(store: &dyn Store, actor: Actor<'_>, collection: &Collection) -> OrgResult<Vec<Share>> {
    if let Actor::User(subject) = actor {
        let target = target_for(store, subject, collection)?;
        if !acl::effective_privileges(subject, target).contains(Privilege::ReadAcl) {
            return Err(OrgError::Forbidden("you may not see who this collection is shared with".into()));
        }
    }
    Ok(store.shares(collection.id)?)
}

/// Ends a share. Takes effect on the grantee's next request.
pub fn revoke(
    store: &dyn Store,
    actor: Actor<'_>,
    collection: &Collection,
    grantee_spec: &str,
) -> OrgResult<()> {
    highest_grantable(store, actor, collection)?;
    let (kind, name) = parse_grantee_spec(grantee_spec)?;
    let grantee = match kind.as_str() {
        // A former member's address may no longer resolve; match the stored row directly.
        "email" => match store.login_credentials(&name)? {
            Some(c) => Grantee::User(c.user_id),
            None => Grantee::Email(name.to_lowercase()),
        },
        _ => resolve_grantee_for_revoke(store, collection, &kind, &name)?,
    };
    if !store.revoke_share(collection.id, &grantee).map_err(OrgError::from_store)? {
        return Err(OrgError::NotFound(format!("the collection is not shared with {grantee_spec}")));
    }
    Ok(())
}

fn resolve_grantee_for_revoke(
    store: &dyn Store,
    collection: &Collection,
    kind: &str,
    name: &str,
) -> OrgResult<Grantee> {
    Ok(match kind {
        "org" => Grantee::Organization(collection_org(store, collection)?),
        _ => {
            let p = principal_by_name(store, name)?
                .ok_or_else(|| OrgError::NotFound(format!("no {kind} {name}")))?;
            match (kind, p.kind) {
                ("team", PrincipalKind::Team) => Grantee::Team(p.id),
                ("user", PrincipalKind::User) => Grantee::User(p.id),
                _ => return Err(OrgError::NotFound(format!("no {kind} {name}"))),
            }
        }
    })
}

/// Records that a pending invitation was sent again (davit sends no mail itself: the
/// operator's mail integration reads `invited_at`).
pub fn resend_invitation(
    store: &dyn Store,
    actor: Actor<'_>,
    collection: &Collection,
    email: &str,
) -> OrgResult<()> {
    highest_grantable(store, actor, collection)?;
    if !store.touch_invitation(collection.id, email)? {
        return Err(OrgError::NotFound(format!("no pending invitation for {email}")));
    }
    Ok(())
}

// ---- organization administration -----------------------------------------------------

/// The organization the actor administers (owner or administrator), or Forbidden.
pub fn administered_org(actor: Actor<'_>, org_id: Id) -> OrgResult<()> {
    match actor {
        Actor::Operator => Ok(()),
        Actor::User(s) => {
            let same = s.organization.as_ref().map(|o| o.id) == Some(org_id);
            if same && matches!(s.role, Some(Role::Owner | Role::Admin)) {
                Ok(())
            } else {
                Err(OrgError::Forbidden(
                    "only owners and administrators of the organization may do this".into(),
                ))
            }
        }
    }
}

/// Only owners make or unmake owners.
fn check_owner_change(actor: Actor<'_>, from: Role, to: Role) -> OrgResult<()> {
    if let Actor::User(s) = actor
        && (from == Role::Owner || to == Role::Owner)
        && s.role != Some(Role::Owner)
    {
        return Err(OrgError::Forbidden(
            "only an owner can make someone owner or change an owner's role".into(),
        ));
    }
    Ok(())
}

pub fn member_of(store: &dyn Store, org_id: Id, name: &str) -> OrgResult<(Principal, Role)> {
    store
        .org_members(org_id)?
        .into_iter()
        .find(|m| {
            m.principal.slug == name
                || m.principal.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(name))
        })
        .map(|m| (m.principal, m.role))
        .ok_or_else(|| OrgError::NotFound(format!("{name} is not a member of the organization")))
}

pub fn set_role(store: &dyn Store, actor: Actor<'_>, org_id: Id, member: &str, role: Role) -> OrgResult<()> {
    administered_org(actor, org_id)?;
    let (p, current) = member_of(store, org_id, member)?;
    check_owner_change(actor, current, role)?;
    store.set_role(org_id, p.id, role).map_err(OrgError::from_store)
}

pub fn create_group(
    store: &dyn Store,
    actor: Actor<'_>,
    org_id: Id,
    kind: PrincipalKind,
    slug: &str,
    display_name: &str,
    email: Option<&str>,
) -> OrgResult<Principal> {
    administered_org(actor, org_id)?;
    crate::app::validate_username(slug).map_err(|e| OrgError::Invalid(e.to_string()))?;
    store.create_group_principal(org_id, kind, slug, display_name, email).map_err(|e| match e {
        StoreError::AlreadyExists => OrgError::Invalid(format!("the name {slug} (or that e-mail) is taken")),
        other => OrgError::from_store(other),
    })
}

pub fn group(store: &dyn Store, org_id: Id, kind: PrincipalKind, slug: &str) -> OrgResult<Principal> {
    store
        .principal_by_slug(slug)?
        .filter(|p| p.kind == kind)
        .filter(|p| store.organization_of(p.id).ok().flatten() == Some(org_id))
        .ok_or_else(|| {
            let what = if kind == PrincipalKind::Team { "team" } else { "room" };
            OrgError::NotFound(format!("no {what} {slug} in the organization"))
        })
}

pub fn delete_group(
    store: &dyn Store,
    actor: Actor<'_>,
    org_id: Id,
    kind: PrincipalKind,
    slug: &str,
) -> OrgResult<()> {
    administered_org(actor, org_id)?;
    let p = group(store, org_id, kind, slug)?;
    store.delete_group_principal(p.id).map_err(OrgError::from_store)
}

pub fn set_team_member(
    store: &dyn Store,
    actor: Actor<'_>,
    org_id: Id,
    team: &str,
    user: &str,
    member: bool,
) -> OrgResult<bool> {
    administered_org(actor, org_id)?;
    let team = group(store, org_id, PrincipalKind::Team, team)?;
    let (user, _) = member_of(store, org_id, user)?;
    store.set_team_member(team.id, user.id, member).map_err(OrgError::from_store)
}

/// What a grant is given on: one collection, or every current and future one of a scope.
#[derive(Debug, Clone)]
pub enum GrantOn {
    Collection(String),
    Every(GrantScope),
}

pub fn add_grant(
    store: &dyn Store,
    actor: Actor<'_>,
    org_id: Id,
    grantee_spec: &str,
    on: &GrantOn,
    use_access: ContentAccess,
    manage: bool,
) -> OrgResult<Id> {
    administered_org(actor, org_id)?;
    let (kind, name) = parse_grantee_spec(grantee_spec)?;
    let grantee_id = match kind.as_str() {
        "user" => member_of(store, org_id, &name)?.0.id,
        "team" => group(store, org_id, PrincipalKind::Team, &name)?.id,
        _ => return Err(OrgError::Invalid("grants are given to a user:NAME or a team:NAME".into())),
    };
    let (collection_id, scope) = match on {
        GrantOn::Collection(path) => (Some(find_collection(store, path)?.id), GrantScope::All),
        GrantOn::Every(scope) => (None, *scope),
    };
    store
        .add_grant(&NewGrant { org_id, grantee_id, collection_id, scope, use_access, manage })
        .map_err(OrgError::from_store)
}

/// "Everything, with the highest permission", in one action.
pub fn grant_everything(store: &dyn Store, actor: Actor<'_>, org_id: Id, user: &str) -> OrgResult<Id> {
    add_grant(
        store,
        actor,
        org_id,
        &format!("user:{user}"),
        &GrantOn::Every(GrantScope::All),
        ContentAccess::Write,
        true,
    )
}

pub fn revoke_grant(store: &dyn Store, actor: Actor<'_>, org_id: Id, id: Id) -> OrgResult<()> {
    administered_org(actor, org_id)?;
    if !store.revoke_grant(org_id, id)? {
        return Err(OrgError::NotFound(format!("no grant {id}")));
    }
    Ok(())
}

/// Removes a member (owner or administrator only, with their password checked again by the
/// caller through `verify_actor_password`). Everything happens in one transaction.
pub fn remove_member(
    store: &dyn Store,
    actor: Actor<'_>,
    org_id: Id,
    member: &str,
    default: MemberDisposition<'_>,
    per_collection: &[(String, MemberDisposition<'_>)],
) -> OrgResult<RemovalReport> {
    administered_org(actor, org_id)?;
    let (p, role) = member_of(store, org_id, member)?;
    if let Actor::User(s) = actor {
        if s.principal.id == p.id {
            return Err(OrgError::Invalid(
                "you cannot remove yourself; ask another owner or administrator".into(),
            ));
        }
        if role == Role::Owner && s.role != Some(Role::Owner) {
            return Err(OrgError::Forbidden("only an owner can remove an owner".into()));
        }
    }
    let disposition = |d: MemberDisposition<'_>| -> OrgResult<Disposition> {
        Ok(match d {
            MemberDisposition::Delete => Disposition::Delete,
            MemberDisposition::TransferTo(name) => {
                let (heir, heir_role) = member_of(store, org_id, name).map_err(|_| {
                    OrgError::Invalid(format!("{name} is not a member: collections go to members only"))
                })?;
                if heir.id == p.id {
                    return Err(OrgError::Invalid(
                        "collections cannot be transferred to the member being removed".into(),
                    ));
                }
                if heir_role == Role::External {
                    return Err(OrgError::Invalid(format!(
                        "{name} is an external member: transfer to a member"
                    )));
                }
                Disposition::TransferTo(heir.id)
            }
        })
    };
    let mut named = Vec::new();
    for (path, d) in per_collection {
        let c = find_collection(store, path)?;
        if c.owner_id != p.id {
            return Err(OrgError::Invalid(format!("{path} does not belong to {member}")));
        }
        named.push((c.id, disposition(*d)?));
    }
    let removal =
        MemberRemoval { org_id, member_id: p.id, default: disposition(default)?, per_collection: named };
    store.remove_member(&removal).map_err(OrgError::from_store)
}

#[derive(Debug, Clone, Copy)]
pub enum MemberDisposition<'a> {
    TransferTo(&'a str),
    Delete,
}

/// Checks the acting user's password again (member removal asks for it).
pub fn verify_actor_password(store: &dyn Store, actor_slug: &str, password: &str) -> OrgResult<()> {
    let creds = store.login_credentials(actor_slug)?.ok_or(OrgError::WrongPassword)?;
    if crate::auth::verify_password(&creds.password_hash, password) {
        Ok(())
    } else {
        Err(OrgError::WrongPassword)
    }
}

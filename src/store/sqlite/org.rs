//! The organization model: roles, teams, rooms, grants, shares, the sharee's view of a share
//! and member removal. Rules that need the acting user (who may share what) live in
//! `crate::org`; this module keeps the data consistent (same organization, no dangling rows,
//! never zero owners).

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, map_err, now, rows, tree_read, tree_write};
use crate::store::{
    CollectionAccess, CollectionField, CollectionKind, CollectionProps, ContentAccess, Disposition, Grant,
    GrantScope, Grantee, Held, HomeKind, Id, MemberRemoval, MountedCollection, NewGrant, OrgMember,
    Principal, PrincipalKind, RemovalReport, Role, Share, ShareAccess, StoreError, StoreResult,
};

fn conflict(message: impl Into<String>) -> StoreError {
    StoreError::Conflict(message.into())
}

pub fn org_members(conn: &Connection, org_id: Id) -> StoreResult<Vec<OrgMember>> {
    let sql = format!(
        "SELECT {}, m.role FROM memberships m JOIN principals p ON p.id = m.user_id
         WHERE m.org_id = ?1 ORDER BY p.slug",
        rows::qualified(rows::PRINCIPAL_COLUMNS, "p")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map([org_id], |r| {
            let role: String = r.get(5)?;
            Ok(OrgMember {
                principal: rows::principal(r)?,
                role: Role::parse(&role).unwrap_or(Role::External),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

fn role_in(conn: &Connection, org_id: Id, user_id: Id) -> StoreResult<Option<Role>> {
    let role: Option<String> = conn
        .cached_row(
            "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
            [org_id, user_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    Ok(role.and_then(|r| Role::parse(&r)))
}

fn owner_count(conn: &Connection, org_id: Id) -> StoreResult<i64> {
    conn.cached_row("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'", [org_id], |r| {
        r.get(0)
    })
    .map_err(map_err)
}

pub fn set_role(tx: &Connection, org_id: Id, user_id: Id, role: Role) -> StoreResult<()> {
    let current = role_in(tx, org_id, user_id)?.ok_or(StoreError::NotFound)?;
    if current == Role::Owner && role != Role::Owner && owner_count(tx, org_id)? <= 1 {
        return Err(conflict(
            "the last owner of an organization cannot be demoted; make someone else owner first",
        ));
    }
    tx.cached_execute(
        "UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
        params![org_id, user_id, role.as_str()],
    )
    .map_err(map_err)?;
    // A member made external loses organization-wide shares at once: the access query
    // excludes externals (and one made internal gains them). Their home records the change,
    // so a sync of it sees the shares leave or arrive. Team memberships and grants stay; they
    // were given explicitly.
    if (current == Role::External) != (role == Role::External) {
        for collection in collections_shared_with(tx, &Grantee::Organization(org_id))? {
            refresh_mounts(tx, collection, &[user_id])?;
        }
    }
    Ok(())
}

pub fn organization_of(conn: &Connection, principal_id: Id) -> StoreResult<Option<Id>> {
    conn.cached_row(
        "SELECT coalesce(p.org_id,
             (SELECT m.org_id FROM memberships m WHERE m.user_id = p.id ORDER BY m.org_id LIMIT 1))
         FROM principals p WHERE p.id = ?1",
        [principal_id],
        |r| r.get::<_, Option<Id>>(0),
    )
    .optional()
    .map(Option::flatten)
    .map_err(map_err)
}

pub fn create_group_principal(
    tx: &Connection,
    org_id: Id,
    kind: PrincipalKind,
    slug: &str,
    display_name: &str,
    email: Option<&str>,
) -> StoreResult<Principal> {
    if kind == PrincipalKind::User {
        return Err(StoreError::Internal("users are created with create_user".into()));
    }
    let taken: bool = tx
        .cached_row(
            "SELECT EXISTS(SELECT 1 FROM principals WHERE slug = ?1 OR (?2 IS NOT NULL AND email = ?2 COLLATE NOCASE))",
            params![slug, email],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if taken {
        return Err(StoreError::AlreadyExists);
    }
    let t = now();
    tx.cached_execute(
        "INSERT INTO principals (kind, slug, display_name, email, org_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![kind.as_str(), slug, display_name, email, org_id, t],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    let homes: &[CollectionKind] = match kind {
        PrincipalKind::Team => &[CollectionKind::CalendarHome, CollectionKind::AddressbookHome],
        _ => &[CollectionKind::CalendarHome],
    };
    for home in homes {
        tx.cached_execute(
            "INSERT INTO collections (owner_id, parent_id, kind, segment, created_at, modified_at)
             VALUES (?1, NULL, ?2, '', ?3, ?3)",
            params![id, home.as_str(), t],
        )
        .map_err(map_err)?;
        let home_id = tx.last_insert_rowid();
        if kind == PrincipalKind::Room {
            let props = CollectionProps {
                displayname: Some(display_name.to_owned()),
                components: Some("VEVENT".into()),
                ..Default::default()
            };
            tree_write::insert_collection(tx, id, home_id, "calendar", CollectionKind::Calendar, &props, t)?;
        }
    }
    Ok(Principal {
        id,
        kind,
        slug: slug.to_owned(),
        display_name: display_name.to_owned(),
        email: email.map(str::to_owned),
    })
}

pub fn group_principals(conn: &Connection, org_id: Id, kind: PrincipalKind) -> StoreResult<Vec<Principal>> {
    let sql = format!(
        "SELECT {} FROM principals WHERE org_id = ?1 AND kind = ?2 ORDER BY slug",
        rows::PRINCIPAL_COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt.query_map(params![org_id, kind.as_str()], rows::principal).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn delete_group_principal(tx: &Connection, id: Id) -> StoreResult<()> {
    // A team's shares, grants and memberships end with it (ON DELETE CASCADE): what they
    // showed in its members' homes is taken first, and its departure recorded after.
    let reached = team_collections(tx, id)?;
    let members = users_reached(tx, &Grantee::Team(id))?;
    let n =
        delete_principal_where(tx, id, "DELETE FROM principals WHERE id = ?1 AND kind IN ('team', 'room')")?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    for collection in reached {
        // The team's own collections went with it (delete_principal_where recorded those).
        if tree_read::collection(tx, collection)?.is_some() {
            refresh_mounts(tx, collection, &members)?;
        }
    }
    Ok(())
}

pub fn team_members(conn: &Connection, team_id: Id) -> StoreResult<Vec<Principal>> {
    let sql = format!(
        "SELECT {} FROM team_members t JOIN principals p ON p.id = t.user_id WHERE t.team_id = ?1 ORDER BY p.slug",
        rows::qualified(rows::PRINCIPAL_COLUMNS, "p")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt.query_map([team_id], rows::principal).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn teams_of(conn: &Connection, user_id: Id) -> StoreResult<Vec<Principal>> {
    let sql = format!(
        "SELECT {} FROM team_members t JOIN principals p ON p.id = t.team_id WHERE t.user_id = ?1 ORDER BY p.slug",
        rows::qualified(rows::PRINCIPAL_COLUMNS, "p")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt.query_map([user_id], rows::principal).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// The organization of a team or room (`kind`), or NotFound.
fn group_org(conn: &Connection, id: Id, kind: PrincipalKind) -> StoreResult<Id> {
    conn.cached_row(
        "SELECT org_id FROM principals WHERE id = ?1 AND kind = ?2",
        params![id, kind.as_str()],
        |r| r.get::<_, Option<Id>>(0),
    )
    .optional()
    .map_err(map_err)?
    .flatten()
    .ok_or(StoreError::NotFound)
}

pub fn set_team_member(tx: &Connection, team_id: Id, user_id: Id, member: bool) -> StoreResult<bool> {
    let org = group_org(tx, team_id, PrincipalKind::Team)?;
    if !member {
        let n = tx
            .cached_execute(
                "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
                [team_id, user_id],
            )
            .map_err(map_err)?;
        refresh_team_mounts(tx, team_id, user_id)?;
        return Ok(n > 0);
    }
    if role_in(tx, org, user_id)?.is_none() {
        return Err(conflict("only members of the team's organization can join it"));
    }
    let n = tx
        .cached_execute(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
            [team_id, user_id],
        )
        .map_err(map_err)?;
    refresh_team_mounts(tx, team_id, user_id)?;
    Ok(n > 0)
}

/// A user joining or leaving a team gains or loses the team's shares and grants in their home.
fn refresh_team_mounts(tx: &Connection, team_id: Id, user_id: Id) -> StoreResult<()> {
    for collection in team_collections(tx, team_id)? {
        refresh_mounts(tx, collection, &[user_id])?;
    }
    Ok(())
}

/// The collections a team reaches: those shared with it and those its grants cover.
fn team_collections(tx: &Connection, team_id: Id) -> StoreResult<Vec<Id>> {
    let mut collections = collections_shared_with(tx, &Grantee::Team(team_id))?;
    let granted: Vec<(Id, Option<Id>, String)> = {
        let mut stmt = tx
            .prepare_cached("SELECT org_id, collection_id, scope FROM grants WHERE grantee_id = ?1")
            .map_err(map_err)?;
        let rows = stmt.query_map([team_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    for (org_id, collection_id, scope) in granted {
        collections.extend(grant_collections(tx, org_id, collection_id, &scope)?);
    }
    collections.sort_unstable();
    collections.dedup();
    Ok(collections)
}

/// The collections shared with `grantee` itself (not with a team or organization holding it).
fn collections_shared_with(tx: &Connection, grantee: &Grantee) -> StoreResult<Vec<Id>> {
    use rusqlite::types::Value;
    let (kind, _, _, email) = grantee_columns(grantee);
    // A plain equality per kind of grantee, so that each uses its own (partial) index.
    let (sql, key) = match grantee {
        Grantee::User(id) | Grantee::Team(id) => {
            ("SELECT collection_id FROM shares WHERE grantee_id = ?1 AND grantee_kind = ?2", Value::from(*id))
        }
        Grantee::Organization(id) => {
            ("SELECT collection_id FROM shares WHERE org_id = ?1 AND grantee_kind = ?2", Value::from(*id))
        }
        Grantee::Email(_) => {
            ("SELECT collection_id FROM shares WHERE email = ?1 AND grantee_kind = ?2", Value::from(email))
        }
    };
    let mut stmt = tx.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt.query_map(params![key, kind], |r| r.get(0)).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// The team and room collections a grant covers: the one it names, or those its scope takes.
fn grant_collections(
    conn: &Connection,
    org_id: Id,
    collection_id: Option<Id>,
    scope: &str,
) -> StoreResult<Vec<Id>> {
    if let Some(collection) = collection_id {
        return Ok(vec![collection]);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.id FROM collections c JOIN principals o ON o.id = c.owner_id
             WHERE o.org_id = ?1 AND o.kind IN ('team', 'room') AND c.kind IN ('calendar', 'addressbook')
               AND (?2 = 'all' OR (?2 = 'calendars' AND c.kind = 'calendar')
                    OR (?2 = 'addressbooks' AND c.kind = 'addressbook'))
             ORDER BY c.id",
        )
        .map_err(map_err)?;
    let rows = stmt.query_map(params![org_id, scope], |r| r.get(0)).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// After a grant came or went: each collection it covers, in the home of each user it reaches
/// (its grantee, or the grantee team's members), is recorded as arrived or left.
fn refresh_grant_mounts(
    tx: &Connection,
    org_id: Id,
    grantee_id: Id,
    collection_id: Option<Id>,
    scope: &str,
) -> StoreResult<()> {
    let users = users_reached(tx, &grant_grantee(tx, grantee_id))?;
    for collection in grant_collections(tx, org_id, collection_id, scope)? {
        refresh_mounts(tx, collection, &users)?;
    }
    Ok(())
}

/// A grant's grantee: a member or a team of the organization (`add_grant`).
fn grant_grantee(conn: &Connection, grantee_id: Id) -> Grantee {
    match group_org(conn, grantee_id, PrincipalKind::Team) {
        Ok(_) => Grantee::Team(grantee_id),
        Err(_) => Grantee::User(grantee_id),
    }
}

/// The users a collection is shared or granted to: those in whose home it may show (whether
/// it does is decided by `mounted_collections`: a declined share, an external member).
fn audience(conn: &Connection, collection_id: Id) -> StoreResult<Vec<Id>> {
    let mut users = Vec::new();
    for share in shares(conn, collection_id)? {
        users.extend(users_reached(conn, &share.grantee)?);
    }
    if let Some((org, kind)) = collection_org(conn, collection_id)? {
        let grantees: Vec<Id> = {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT grantee_id FROM grants WHERE org_id = ?1 AND (collection_id = ?2
                       OR (collection_id IS NULL AND (scope = 'all'
                           OR (scope = 'calendars' AND ?3 = 'calendar')
                           OR (scope = 'addressbooks' AND ?3 = 'addressbook'))))",
                )
                .map_err(map_err)?;
            let rows =
                stmt.query_map(params![org, collection_id, kind.as_str()], |r| r.get(0)).map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)?
        };
        for grantee in grantees {
            users.extend(users_reached(conn, &grant_grantee(conn, grantee))?);
        }
    }
    users.sort_unstable();
    users.dedup();
    Ok(users)
}

/// A new collection arrives in the homes of the users that grants already reach with it (a
/// grant of every calendar of the organization's teams and rooms takes a new team calendar).
pub(super) fn mount_new_collection(
    tx: &Connection,
    collection_id: Id,
    kind: CollectionKind,
) -> StoreResult<()> {
    if !is_shareable(kind) {
        return Ok(());
    }
    let users = audience(tx, collection_id)?;
    if users.is_empty() {
        // Most new collections: a user's own, which nothing shares yet.
        return Ok(());
    }
    refresh_mounts(tx, collection_id, &users)
}

/// The homes (id, member name) in which these collections show now as shared or granted
/// ones: taken before the collections are deleted, for `record_unmounts` after.
pub(super) fn mounts_of(tx: &Connection, collections: &[Id]) -> StoreResult<Vec<(Id, String)>> {
    let mut mounts = Vec::new();
    for &collection in collections {
        let kind: String = tx
            .cached_row("SELECT kind FROM collections WHERE id = ?1", [collection], |r| r.get(0))
            .map_err(map_err)?;
        let Some(kind) = CollectionKind::parse(&kind).filter(|k| is_shareable(*k)) else { continue };
        let segment = format!("{}/", crate::store::mount_segment(collection));
        for (home, mounted) in homes_showing(tx, collection, home_area(kind), &audience(tx, collection)?)? {
            if mounted {
                mounts.push((home, segment.clone()));
            }
        }
    }
    Ok(mounts)
}

/// Records the departure of what `mounts_of` found, once its collections are gone.
pub(super) fn record_unmounts(tx: &Connection, mounts: &[(Id, String)]) -> StoreResult<()> {
    for (home, segment) in mounts {
        tree_write::record_change(tx, *home, segment, true, true)?;
    }
    Ok(())
}

/// The calendars and address books a principal owns (deleted with it).
fn owned_collections(tx: &Connection, owner: Id) -> StoreResult<Vec<Id>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id FROM collections WHERE owner_id = ?1 AND kind IN ('calendar', 'addressbook')",
        )
        .map_err(map_err)?;
    let rows = stmt.query_map([owner], |r| r.get(0)).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Deletes a principal (and by cascade what it owns), recording in other users' homes the
/// departure of its collections that were shared or granted to them.
pub(super) fn delete_principal_where(tx: &Connection, id: Id, sql: &str) -> StoreResult<usize> {
    let mounts = mounts_of(tx, &owned_collections(tx, id)?)?;
    let n = tx.cached_execute(sql, [id]).map_err(map_err)?;
    if n > 0 {
        record_unmounts(tx, &mounts)?;
    }
    Ok(n)
}

fn home_area(kind: CollectionKind) -> HomeKind {
    match kind {
        CollectionKind::Addressbook => HomeKind::Addressbook,
        _ => HomeKind::Calendar,
    }
}

/// For each of `users` who has a home of `area`: that home, and whether the collection shows
/// in it now.
fn homes_showing(
    tx: &Connection,
    collection_id: Id,
    area: HomeKind,
    users: &[Id],
) -> StoreResult<Vec<(Id, bool)>> {
    let mut out = Vec::with_capacity(users.len());
    for &user in users {
        let Some(home) = home_of(tx, user, area)? else { continue };
        let mounted = mounted_collections(tx, user, area)?.iter().any(|m| m.collection.id == collection_id);
        out.push((home, mounted));
    }
    Ok(out)
}

fn home_of(tx: &Connection, user: Id, area: HomeKind) -> StoreResult<Option<Id>> {
    let home_kind = match area {
        HomeKind::Addressbook => "addressbook-home",
        HomeKind::Calendar => "calendar-home",
    };
    tx.cached_row(
        "SELECT id FROM collections WHERE owner_id = ?1 AND kind = ?2 AND parent_id IS NULL",
        params![user, home_kind],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)
}

/// The organization whose collection this is (owner is a team or room), if any.
fn collection_org(conn: &Connection, collection_id: Id) -> StoreResult<Option<(Id, CollectionKind)>> {
    let row: Option<(Option<Id>, String, String)> = conn
        .cached_row(
            "SELECT p.org_id, p.kind, c.kind FROM collections c JOIN principals p ON p.id = c.owner_id
             WHERE c.id = ?1",
            [collection_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(map_err)?;
    let (org, owner_kind, kind) = row.ok_or(StoreError::NotFound)?;
    let kind = CollectionKind::parse(&kind).unwrap_or(CollectionKind::Plain);
    Ok(match (org, owner_kind.as_str()) {
        (Some(org), "team" | "room") => Some((org, kind)),
        _ => None,
    })
}

pub fn add_grant(tx: &Connection, g: &NewGrant) -> StoreResult<Id> {
    let grantee_ok = role_in(tx, g.org_id, g.grantee_id)?.is_some()
        || group_org(tx, g.grantee_id, PrincipalKind::Team).ok() == Some(g.org_id);
    if !grantee_ok {
        return Err(conflict("a grant is for a member or a team of the same organization"));
    }
    if let Some(c) = g.collection_id {
        match collection_org(tx, c)? {
            Some((org, kind)) if org == g.org_id && is_shareable(kind) => {}
            _ => {
                return Err(conflict(
                    "grants name a calendar or address book of a team or room of the organization",
                ));
            }
        }
    }
    if g.use_access == ContentAccess::None && !g.manage {
        return Err(conflict("a grant gives use, manage or both"));
    }
    tx.cached_execute(
        "INSERT INTO grants (org_id, grantee_id, collection_id, scope, use_access, manage, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            g.org_id,
            g.grantee_id,
            g.collection_id,
            g.scope.as_str(),
            g.use_access.as_str(),
            g.manage,
            now()
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    refresh_grant_mounts(tx, g.org_id, g.grantee_id, g.collection_id, g.scope.as_str())?;
    Ok(id)
}

pub fn grants(conn: &Connection, org_id: Id) -> StoreResult<Vec<Grant>> {
    let sql = format!(
        "SELECT {}, g.id, g.collection_id, g.scope, g.use_access, g.manage, g.created_at
         FROM grants g JOIN principals p ON p.id = g.grantee_id WHERE g.org_id = ?1 ORDER BY g.id",
        rows::qualified(rows::PRINCIPAL_COLUMNS, "p")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map([org_id], |r| {
            let scope: String = r.get(7)?;
            let use_access: String = r.get(8)?;
            Ok(Grant {
                grantee: rows::principal(r)?,
                id: r.get(5)?,
                collection_id: r.get(6)?,
                scope: GrantScope::parse(&scope).unwrap_or(GrantScope::All),
                use_access: ContentAccess::parse(&use_access).unwrap_or_default(),
                manage: r.get(9)?,
                created_at: r.get(10)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn revoke_grant(tx: &Connection, org_id: Id, id: Id) -> StoreResult<bool> {
    let grant: Option<(Id, Option<Id>, String)> = tx
        .cached_row(
            "SELECT grantee_id, collection_id, scope FROM grants WHERE org_id = ?1 AND id = ?2",
            [org_id, id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(map_err)?;
    let Some((grantee_id, collection_id, scope)) = grant else { return Ok(false) };
    tx.cached_execute("DELETE FROM grants WHERE org_id = ?1 AND id = ?2", [org_id, id]).map_err(map_err)?;
    refresh_grant_mounts(tx, org_id, grantee_id, collection_id, &scope)?;
    Ok(true)
}

fn is_shareable(kind: CollectionKind) -> bool {
    matches!(kind, CollectionKind::Calendar | CollectionKind::Addressbook)
}

/// (kind, grantee_id, org_id, email) columns of a grantee.
fn grantee_columns(g: &Grantee) -> (&'static str, Option<Id>, Option<Id>, Option<String>) {
    match g {
        Grantee::User(id) => ("user", Some(*id), None, None),
        Grantee::Team(id) => ("team", Some(*id), None, None),
        Grantee::Organization(id) => ("org", None, Some(*id), None),
        Grantee::Email(e) => ("email", None, None, Some(e.trim().to_lowercase())),
    }
}

fn existing_share(tx: &Connection, collection_id: Id, g: &Grantee) -> StoreResult<Option<Id>> {
    let (kind, gid, org, email) = grantee_columns(g);
    tx.cached_row(
        "SELECT id FROM shares WHERE collection_id = ?1 AND grantee_kind = ?2
           AND grantee_id IS ?3 AND org_id IS ?4 AND email IS ?5",
        params![collection_id, kind, gid, org, email],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)
}

pub fn put_share(
    tx: &Connection,
    collection_id: Id,
    grantee: &Grantee,
    access: ShareAccess,
    by: Id,
) -> StoreResult<Id> {
    let kind: String = tx
        .cached_row(
            "SELECT kind FROM collections WHERE id = ?1 AND parent_id IS NOT NULL",
            [collection_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    if !is_shareable(CollectionKind::parse(&kind).unwrap_or(CollectionKind::Plain)) {
        return Err(conflict("only calendars, task lists and address books can be shared"));
    }
    // An invitation to an address that already has an account is a share with that user.
    let grantee = match grantee {
        Grantee::Email(email) => match user_by_email(tx, email)? {
            Some(id) => Grantee::User(id),
            None => grantee.clone(),
        },
        other => other.clone(),
    };
    let t = now();
    let id = match existing_share(tx, collection_id, &grantee)? {
        Some(id) => {
            tx.cached_execute("UPDATE shares SET access = ?2 WHERE id = ?1", params![id, access.as_str()])
                .map_err(map_err)?;
            id
        }
        None => {
            let (kind, gid, org, email) = grantee_columns(&grantee);
            let invited = (kind == "email").then_some(t);
            tx.cached_execute(
                "INSERT INTO shares (collection_id, grantee_kind, grantee_id, org_id, email, access,
                     created_by, created_at, invited_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![collection_id, kind, gid, org, email, access.as_str(), by, t, invited],
            )
            .map_err(map_err)?;
            tx.last_insert_rowid()
        }
    };
    if let Grantee::User(user) = grantee {
        tx.cached_execute(
            "UPDATE sharee_settings SET declined = 0 WHERE collection_id = ?1 AND user_id = ?2",
            [collection_id, user],
        )
        .map_err(map_err)?;
    }
    refresh_mounts(tx, collection_id, &users_reached(tx, &grantee)?)?;
    Ok(id)
}

fn user_by_email(conn: &Connection, email: &str) -> StoreResult<Option<Id>> {
    conn.cached_row(
        "SELECT id FROM principals WHERE kind = 'user' AND email = ?1 COLLATE NOCASE",
        [email.trim()],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)
}

pub fn shares(conn: &Connection, collection_id: Id) -> StoreResult<Vec<Share>> {
    let sql = "SELECT s.id, s.grantee_kind, s.grantee_id, s.org_id, s.email, s.access, s.created_at,
                      s.invited_at, coalesce(p.slug, o.name, s.email)
               FROM shares s LEFT JOIN principals p ON p.id = s.grantee_id
               LEFT JOIN organizations o ON o.id = s.org_id
               WHERE s.collection_id = ?1 ORDER BY s.id";
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map([collection_id], |r| {
            let kind: String = r.get(1)?;
            let grantee = match kind.as_str() {
                "user" => Grantee::User(r.get(2)?),
                "team" => Grantee::Team(r.get(2)?),
                "org" => Grantee::Organization(r.get(3)?),
                _ => Grantee::Email(r.get(4)?),
            };
            let access: String = r.get(5)?;
            Ok(Share {
                id: r.get(0)?,
                collection_id,
                grantee,
                grantee_name: r.get(8)?,
                access: ShareAccess::parse(&access).unwrap_or(ShareAccess::View),
                created_at: r.get(6)?,
                invited_at: r.get(7)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn revoke_share(tx: &Connection, collection_id: Id, grantee: &Grantee) -> StoreResult<bool> {
    match existing_share(tx, collection_id, grantee)? {
        Some(id) => {
            tx.cached_execute("DELETE FROM shares WHERE id = ?1", [id]).map_err(map_err)?;
            refresh_mounts(tx, collection_id, &users_reached(tx, grantee)?)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The users a share with `grantee` reaches (externals included for an organization: whether
/// it shows in their home is decided by `refresh_mounts`).
fn users_reached(conn: &Connection, grantee: &Grantee) -> StoreResult<Vec<Id>> {
    let (sql, id) = match grantee {
        Grantee::User(id) => return Ok(vec![*id]),
        Grantee::Team(id) => ("SELECT user_id FROM team_members WHERE team_id = ?1", *id),
        Grantee::Organization(id) => ("SELECT user_id FROM memberships WHERE org_id = ?1", *id),
        Grantee::Email(_) => return Ok(vec![]),
    };
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt.query_map([id], |r| r.get(0)).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Records in each user's home whether the collection is now shared into it, so a
/// sync-collection or ctag poll on the home sees a share arrive or leave (RFC 6578 §3.5).
fn refresh_mounts(tx: &Connection, collection_id: Id, users: &[Id]) -> StoreResult<()> {
    let (owner, kind): (Id, String) = tx
        .cached_row("SELECT owner_id, kind FROM collections WHERE id = ?1", [collection_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(map_err)?;
    let area = home_area(CollectionKind::parse(&kind).unwrap_or(CollectionKind::Calendar));
    let segment = format!("{}/", crate::store::mount_segment(collection_id));
    let others: Vec<Id> = users.iter().copied().filter(|u| *u != owner).collect();
    for (home, mounted) in homes_showing(tx, collection_id, area, &others)? {
        tree_write::record_change(tx, home, &segment, true, !mounted)?;
    }
    Ok(())
}

pub fn touch_invitation(tx: &Connection, collection_id: Id, email: &str) -> StoreResult<bool> {
    let n = tx
        .cached_execute(
            "UPDATE shares SET invited_at = ?3 WHERE collection_id = ?1 AND grantee_kind = 'email' AND email = ?2",
            params![collection_id, email.trim().to_lowercase(), now()],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

/// Turns pending invitations to `email` into shares with the new user (in `create_user`).
pub fn accept_invitations(tx: &Connection, user_id: Id, email: &str) -> StoreResult<()> {
    let pending: Vec<(Id, Id, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT id, collection_id, access FROM shares WHERE grantee_kind = 'email' AND email = ?1",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map([email.trim().to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    for (id, collection_id, access) in pending {
        tx.cached_execute("DELETE FROM shares WHERE id = ?1", [id]).map_err(map_err)?;
        let access = ShareAccess::parse(&access).unwrap_or(ShareAccess::View);
        put_share(tx, collection_id, &Grantee::User(user_id), access, user_id)?;
    }
    Ok(())
}

/// SQL true when share `s` reaches user ?1 (directly, through a team, or organization-wide
/// unless ?1 is an external member) and ?1 has not declined it.
const SHARE_REACHES_USER: &str = "(
    ((s.grantee_kind = 'user' AND s.grantee_id = ?1)
     OR (s.grantee_kind = 'team' AND s.grantee_id IN (SELECT team_id FROM team_members WHERE user_id = ?1))
     OR (s.grantee_kind = 'org' AND s.org_id IN
           (SELECT org_id FROM memberships WHERE user_id = ?1 AND role <> 'external')))
    AND NOT EXISTS (SELECT 1 FROM sharee_settings d
                    WHERE d.collection_id = s.collection_id AND d.user_id = ?1 AND d.declined = 1))";

/// SQL true when grant `g` covers collection `c` (owned by team or room `o`) for user ?1.
const GRANT_REACHES_USER: &str = "(
    g.org_id = o.org_id
    AND o.org_id IN (SELECT org_id FROM memberships WHERE user_id = ?1)
    AND (g.grantee_id = ?1 OR g.grantee_id IN (SELECT team_id FROM team_members WHERE user_id = ?1))
    AND (g.collection_id = c.id OR (g.collection_id IS NULL AND (g.scope = 'all'
         OR (g.scope = 'calendars' AND c.kind = 'calendar')
         OR (g.scope = 'addressbooks' AND c.kind = 'addressbook')))))";

pub fn collection_access(conn: &Connection, user_id: Id, collection_id: Id) -> StoreResult<CollectionAccess> {
    let organization = collection_org(conn, collection_id)?.map(|(org, _)| org);
    let share: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT s.access FROM shares s WHERE s.collection_id = ?2 AND {SHARE_REACHES_USER}
             ORDER BY CASE s.access WHEN 'share' THEN 3 WHEN 'modify' THEN 2 ELSE 1 END DESC LIMIT 1"
        ))
        .and_then(|mut s| s.query_row([user_id, collection_id], |r| r.get(0)).optional())
        .map_err(map_err)?;
    let mut held = Held::default();
    if let Some(access) = share.as_deref().and_then(ShareAccess::parse) {
        held.content = access.content();
        held.share = access == ShareAccess::Share;
    }
    if organization.is_some() {
        let (use_rank, manage): (Option<i64>, Option<bool>) = conn
            .prepare_cached(&format!(
                "SELECT max(CASE g.use_access WHEN 'write' THEN 2 WHEN 'read' THEN 1 ELSE 0 END), max(g.manage)
                 FROM grants g, collections c JOIN principals o ON o.id = c.owner_id
                 WHERE c.id = ?2 AND {GRANT_REACHES_USER}"
            ))
            .and_then(|mut s| s.query_row([user_id, collection_id], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(map_err)?;
        let granted = match use_rank {
            Some(2) => ContentAccess::Write,
            Some(1) => ContentAccess::Read,
            _ => ContentAccess::None,
        };
        held.content = held.content.max(granted);
        held.manage = manage.unwrap_or(false);
    }
    Ok(CollectionAccess { organization, held })
}

pub fn mounted_collections(
    conn: &Connection,
    user_id: Id,
    kind: HomeKind,
) -> StoreResult<Vec<MountedCollection>> {
    let coll_kind = match kind {
        HomeKind::Calendar => CollectionKind::Calendar,
        HomeKind::Addressbook => CollectionKind::Addressbook,
    };
    let cols = rows::qualified(rows::COLLECTION_COLUMNS, "c");
    let sql = format!(
        "SELECT {cols}, {}, ss.displayname, ss.color, ss.sort_order
         FROM collections c JOIN principals o ON o.id = c.owner_id
         LEFT JOIN sharee_settings ss ON ss.collection_id = c.id AND ss.user_id = ?1
         WHERE c.kind = ?2 AND c.owner_id <> ?1 AND coalesce(ss.declined, 0) = 0
           AND (EXISTS (SELECT 1 FROM shares s WHERE s.collection_id = c.id AND {SHARE_REACHES_USER})
                OR (o.kind IN ('team', 'room') AND EXISTS (SELECT 1 FROM grants g WHERE {GRANT_REACHES_USER}
                     AND (g.use_access <> 'none' OR g.manage))))
         ORDER BY c.id",
        rows::qualified(rows::PRINCIPAL_COLUMNS, "o")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let n = rows::COLLECTION_COLUMNS.split(", ").count();
    let rows = stmt
        .query_map(params![user_id, coll_kind.as_str()], |r| {
            Ok(MountedCollection {
                collection: rows::collection(r)?,
                owner: rows::principal_at(r, n)?,
                sharee_displayname: r.get(n + 5)?,
                sharee_color: r.get(n + 6)?,
                sharee_sort_order: r.get(n + 7)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn set_sharee_props(
    tx: &Connection,
    user_id: Id,
    collection_id: Id,
    fields: &[(CollectionField, Option<String>)],
) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT OR IGNORE INTO sharee_settings (collection_id, user_id) VALUES (?1, ?2)",
        [collection_id, user_id],
    )
    .map_err(map_err)?;
    for (field, value) in fields {
        let column = match field {
            CollectionField::Displayname => "displayname",
            CollectionField::Color => "color",
            CollectionField::SortOrder => "sort_order",
            _ => {
                return Err(conflict(
                    "only the name, colour and order of a shared collection are the sharee's own",
                ));
            }
        };
        tx.cached_execute(
            &format!("UPDATE sharee_settings SET {column} = ?3 WHERE collection_id = ?1 AND user_id = ?2"),
            params![collection_id, user_id, value],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

pub fn decline_share(tx: &Connection, user_id: Id, collection_id: Id) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT INTO sharee_settings (collection_id, user_id, declined) VALUES (?1, ?2, 1)
         ON CONFLICT (collection_id, user_id) DO UPDATE SET declined = 1",
        [collection_id, user_id],
    )
    .map_err(map_err)?;
    refresh_mounts(tx, collection_id, &[user_id])
}

pub fn remove_member(tx: &Connection, removal: &MemberRemoval) -> StoreResult<RemovalReport> {
    let member = removal.member_id;
    let role = role_in(tx, removal.org_id, member)?.ok_or(StoreError::NotFound)?;
    if role == Role::Owner && owner_count(tx, removal.org_id)? <= 1 {
        return Err(conflict("the last owner of an organization cannot be removed"));
    }
    let slug: String = tx
        .cached_row("SELECT slug FROM principals WHERE id = ?1", [member], |r| r.get(0))
        .map_err(map_err)?;
    // The member's own top-level collections (the homes themselves go with the principal).
    let owned: Vec<(Id, String, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT c.id, c.segment, h.kind FROM collections c JOIN collections h ON h.id = c.parent_id
                 WHERE h.owner_id = ?1 AND h.parent_id IS NULL ORDER BY c.id",
            )
            .map_err(map_err)?;
        let rows = stmt.query_map([member], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    for (named, _) in &removal.per_collection {
        if !owned.iter().any(|(id, ..)| id == named) {
            return Err(conflict(format!("collection {named} does not belong to the member being removed")));
        }
    }
    let mut report = RemovalReport::default();
    for (id, segment, home_kind) in owned {
        let disposition =
            removal.per_collection.iter().find(|(c, _)| *c == id).map(|(_, d)| *d).unwrap_or(removal.default);
        match disposition {
            Disposition::Delete => {
                let mounts = mounts_of(tx, &[id])?;
                tx.cached_execute("DELETE FROM collections WHERE id = ?1", [id]).map_err(map_err)?;
                record_unmounts(tx, &mounts)?;
                report.deleted.push(id);
            }
            Disposition::TransferTo(heir) => {
                if heir == member || role_in(tx, removal.org_id, heir)?.is_none() {
                    return Err(conflict(
                        "collections can only be transferred to another member of the organization",
                    ));
                }
                let home: Id = tx
                    .cached_row(
                        "SELECT id FROM collections WHERE owner_id = ?1 AND kind = ?2 AND parent_id IS NULL",
                        params![heir, home_kind],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
                // The heir owns it from now on: where it showed as shared, it leaves.
                let heirs_mount: Vec<(Id, String)> =
                    mounts_of(tx, &[id])?.into_iter().filter(|(h, _)| *h == home).collect();
                let new_segment = free_segment(tx, home, &segment, &slug)?;
                tx.cached_execute(
                    "UPDATE collections SET parent_id = ?2, segment = ?3 WHERE id = ?1",
                    params![id, home, new_segment],
                )
                .map_err(map_err)?;
                // The whole subtree changes hands (plain collections may nest).
                tx.cached_execute(
                    "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL
                         SELECT c.id FROM collections c JOIN sub ON c.parent_id = sub.id)
                     UPDATE collections SET owner_id = ?2 WHERE id IN sub",
                    [id, heir],
                )
                .map_err(map_err)?;
                // The heir owns it now: a share with them is moot.
                tx.cached_execute(
                    "DELETE FROM shares WHERE collection_id = ?1 AND grantee_kind = 'user' AND grantee_id = ?2",
                    [id, heir],
                )
                .map_err(map_err)?;
                tx.cached_execute(
                    "DELETE FROM sharee_settings WHERE collection_id = ?1 AND user_id = ?2",
                    [id, heir],
                )
                .map_err(map_err)?;
                tree_write::record_change(tx, home, &format!("{new_segment}/"), true, false)?;
                record_unmounts(tx, &heirs_mount)?;
                report.transferred.push((id, new_segment, heir));
            }
        }
    }
    // Shares with them, grants, team memberships, app passwords, settings and their homes
    // all reference the principal and go with it (ON DELETE CASCADE).
    tx.cached_execute("DELETE FROM principals WHERE id = ?1", [member]).map_err(map_err)?;
    Ok(report)
}

/// `segment` if free in `home`, else `segment-{from}`, then `segment-{from}-2`, …
fn free_segment(tx: &Connection, home: Id, segment: &str, from: &str) -> StoreResult<String> {
    let taken = |s: &str| -> StoreResult<bool> {
        tx.cached_row(
            "SELECT EXISTS(SELECT 1 FROM collections WHERE parent_id = ?1 AND segment = ?2)
                 OR EXISTS(SELECT 1 FROM objects WHERE collection_id = ?1 AND segment = ?2)",
            params![home, s],
            |r| r.get(0),
        )
        .map_err(map_err)
    };
    if !taken(segment)? {
        return Ok(segment.to_owned());
    }
    let base = format!("{segment}-{from}");
    let mut candidate = base.clone();
    let mut n = 2;
    while taken(&candidate)? {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    Ok(candidate)
}

//! Organizations, principals and user credentials.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, map_err, now, rows};
use crate::store::{
    CollectionKind, CollectionProps, Id, LoginCredentials, LoginRecord, NewUser, Organization, Principal,
    Role, StoreError, StoreResult, UserSummary,
};

pub fn create_organization(tx: &Connection, name: &str) -> StoreResult<Id> {
    tx.cached_execute("INSERT INTO organizations (name, created_at) VALUES (?1, ?2)", params![name, now()])
        .map_err(|e| match map_err(e) {
        StoreError::Conflict(_) => StoreError::AlreadyExists,
        other => other,
    })?;
    Ok(tx.last_insert_rowid())
}

pub fn organization_by_name(conn: &Connection, name: &str) -> StoreResult<Option<Organization>> {
    conn.cached_row("SELECT id, name FROM organizations WHERE name = ?1", [name], |r| {
        Ok(Organization { id: r.get(0)?, name: r.get(1)? })
    })
    .optional()
    .map_err(map_err)
}

pub fn organizations(conn: &Connection) -> StoreResult<Vec<Organization>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM organizations ORDER BY id").map_err(map_err)?;
    let rows =
        stmt.query_map([], |r| Ok(Organization { id: r.get(0)?, name: r.get(1)? })).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// The collections every user starts with (issue: default calendar, task list, address book).
fn default_collections() -> [(CollectionKind, &'static str, CollectionProps); 3] {
    let calendar = |name: &str, comps: &str| CollectionProps {
        displayname: Some(name.to_owned()),
        components: Some(comps.to_owned()),
        ..Default::default()
    };
    [
        (CollectionKind::Calendar, "calendar", calendar("Calendar", "VEVENT")),
        (CollectionKind::Calendar, "tasks", calendar("Tasks", "VTODO")),
        (
            CollectionKind::Addressbook,
            "contacts",
            CollectionProps { displayname: Some("Contacts".into()), ..Default::default() },
        ),
    ]
}

pub fn create_user(tx: &Connection, user: &NewUser) -> StoreResult<Principal> {
    let t = now();
    let taken: bool = tx
        .cached_row(
            "SELECT EXISTS(SELECT 1 FROM principals WHERE slug = ?1 OR (?2 IS NOT NULL AND email = ?2 COLLATE NOCASE))",
            params![user.slug, user.email],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if taken {
        return Err(StoreError::AlreadyExists);
    }
    tx.cached_execute(
        "INSERT INTO principals (kind, slug, display_name, email, org_id, created_at)
         VALUES ('user', ?1, ?2, ?3, NULL, ?4)",
        params![user.slug, user.display_name, user.email, t],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    tx.cached_execute(
        "INSERT INTO users (principal_id, password_hash, password_changed_at) VALUES (?1, ?2, ?3)",
        params![id, user.password_hash, t],
    )
    .map_err(map_err)?;
    tx.cached_execute(
        "INSERT INTO memberships (org_id, user_id, role) VALUES (?1, ?2, ?3)",
        params![user.org_id, id, user.role.as_str()],
    )
    .map_err(map_err)?;
    let mut homes = std::collections::HashMap::new();
    for kind in [CollectionKind::CalendarHome, CollectionKind::AddressbookHome] {
        tx.cached_execute(
            "INSERT INTO collections (owner_id, parent_id, kind, segment, created_at, modified_at)
             VALUES (?1, NULL, ?2, '', ?3, ?3)",
            params![id, kind.as_str(), t],
        )
        .map_err(map_err)?;
        homes.insert(kind.home_kind(), tx.last_insert_rowid());
    }
    for (kind, segment, props) in default_collections() {
        let parent = homes[&kind.home_kind()];
        super::tree_write::insert_collection(tx, id, parent, segment, kind, &props, t)?;
    }
    if let Some(email) = &user.email {
        super::org::accept_invitations(tx, id, email)?;
    }
    Ok(Principal {
        id,
        kind: crate::store::PrincipalKind::User,
        slug: user.slug.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
    })
}

pub fn users(conn: &Connection) -> StoreResult<Vec<UserSummary>> {
    let sql = "SELECT p.id, p.kind, p.slug, p.display_name, p.email, o.name, m.role
               FROM principals p JOIN users u ON u.principal_id = p.id
               JOIN memberships m ON m.user_id = p.id JOIN organizations o ON o.id = m.org_id
               ORDER BY p.slug";
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            let role: String = r.get(6)?;
            Ok(UserSummary {
                principal: rows::principal(r)?,
                organization: r.get(5)?,
                role: Role::parse(&role).unwrap_or(Role::Collaborator),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn user_count(conn: &Connection) -> StoreResult<u64> {
    conn.cached_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(map_err)
}

fn user_id(conn: &Connection, slug: &str) -> StoreResult<Id> {
    conn.cached_row(
        "SELECT p.id FROM principals p JOIN users u ON u.principal_id = p.id WHERE p.slug = ?1",
        [slug],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// Deletes a user and everything they own. The last owner of an organization stays.
pub fn delete_user(tx: &Connection, slug: &str) -> StoreResult<()> {
    let id = user_id(tx, slug)?;
    let last_owner: bool = tx
        .cached_row(
            "SELECT EXISTS(SELECT 1 FROM memberships m WHERE m.user_id = ?1 AND m.role = 'owner'
               AND (SELECT COUNT(*) FROM memberships o WHERE o.org_id = m.org_id AND o.role = 'owner') = 1)",
            [id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if last_owner {
        return Err(StoreError::Conflict(format!(
            "{slug} is the last owner of their organization and cannot be removed"
        )));
    }
    super::org::delete_principal_where(tx, id, "DELETE FROM principals WHERE id = ?1")?;
    Ok(())
}

pub fn set_password(tx: &Connection, slug: &str, hash: &str) -> StoreResult<Id> {
    let id = user_id(tx, slug)?;
    tx.cached_execute(
        "UPDATE users SET password_hash = ?1, password_changed_at = ?2 WHERE principal_id = ?3",
        params![hash, now(), id],
    )
    .map_err(map_err)?;
    Ok(id)
}

pub fn login_credentials(conn: &Connection, login: &str) -> StoreResult<Option<LoginCredentials>> {
    let sql = |by: &str| {
        format!(
            "SELECT u.principal_id, u.password_hash FROM users u
             JOIN principals p ON p.id = u.principal_id
             WHERE u.disabled = 0 AND {by}"
        )
    };
    by_slug_then_email(|by| {
        conn.cached_row(&sql(by), [login], |r| {
            Ok(LoginCredentials { user_id: r.get(0)?, password_hash: r.get(1)? })
        })
        .optional()
        .map_err(map_err)
    })
}

/// The login names a user by slug or, failing that, by e-mail address. Two plain unique-index
/// lookups instead of one `slug = ?1 OR email = ?1 ORDER BY …` query: SQLite answers that OR
/// with a multi-index union and a temporary B-tree for the ORDER BY, which made the lookup
/// that runs on every authenticated request cost several times a point query.
fn by_slug_then_email<T>(
    mut lookup: impl FnMut(&'static str) -> StoreResult<Option<T>>,
) -> StoreResult<Option<T>> {
    if let Some(found) = lookup("p.slug = ?1")? {
        return Ok(Some(found));
    }
    lookup("p.email = ?1 COLLATE NOCASE")
}

pub fn login_record(conn: &Connection, login: &str) -> StoreResult<Option<LoginRecord>> {
    // The membership is role_of's: the one with the lowest organization id.
    let sql = |by: &str| {
        format!(
            "SELECT u.principal_id, u.password_hash, p.id, p.kind, p.slug, p.display_name, p.email,
                    EXISTS(SELECT 1 FROM two_factor t WHERE t.user_id = p.id AND t.enabled),
                    o.id, o.name, m.role
             FROM users u JOIN principals p ON p.id = u.principal_id
             LEFT JOIN memberships m ON m.user_id = p.id
                  AND m.org_id = (SELECT MIN(org_id) FROM memberships WHERE user_id = p.id)
             LEFT JOIN organizations o ON o.id = m.org_id
             WHERE u.disabled = 0 AND {by}"
        )
    };
    by_slug_then_email(|by| {
        conn.cached_row(&sql(by), [login], |r| {
            let org_id: Option<Id> = r.get(8)?;
            let membership = match org_id {
                Some(id) => {
                    let role: String = r.get(10)?;
                    Some((Organization { id, name: r.get(9)? }, Role::parse(&role).unwrap_or(Role::External)))
                }
                None => None,
            };
            Ok(LoginRecord {
                credentials: LoginCredentials { user_id: r.get(0)?, password_hash: r.get(1)? },
                principal: rows::principal_at(r, 2)?,
                two_factor_on: r.get(7)?,
                membership,
            })
        })
        .optional()
        .map_err(map_err)
    })
}

pub fn principal_by_slug(conn: &Connection, slug: &str) -> StoreResult<Option<Principal>> {
    const SQL: &str = concat!("SELECT ", rows::principal_columns!(), " FROM principals WHERE slug = ?1");
    conn.prepare_cached(SQL)
        .and_then(|mut s| s.query_row([slug], rows::principal).optional())
        .map_err(map_err)
}

pub fn principal_by_id(conn: &Connection, id: Id) -> StoreResult<Option<Principal>> {
    const SQL: &str = concat!("SELECT ", rows::principal_columns!(), " FROM principals WHERE id = ?1");
    conn.prepare_cached(SQL).and_then(|mut s| s.query_row([id], rows::principal).optional()).map_err(map_err)
}

pub fn role_of(conn: &Connection, user_id: Id) -> StoreResult<Option<(Organization, Role)>> {
    conn.cached_row(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
         WHERE m.user_id = ?1 ORDER BY o.id LIMIT 1",
        [user_id],
        |r| {
            let role: String = r.get(2)?;
            Ok((
                Organization { id: r.get(0)?, name: r.get(1)? },
                Role::parse(&role).unwrap_or(Role::External),
            ))
        },
    )
    .optional()
    .map_err(map_err)
}

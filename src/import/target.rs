//! The collection an import writes to: found by `OWNER/NAME`, or created for its owner, and
//! authorized through the ACL (`bind` to add members, `write-content` to update them).

use super::{ImportError, ImportResult};
use crate::acl::{self, Privilege};
use crate::org::{self, Actor, OrgError};
use crate::store::{Collection, CollectionKind, CollectionProps, HomeKind, NewCollection, Store, StoreError};

/// Returns the collection and whether it was created now.
pub fn resolve(
    store: &dyn Store,
    actor: Actor<'_>,
    path: &str,
    kind: CollectionKind,
    create: bool,
) -> ImportResult<(Collection, bool)> {
    let noun = noun(kind);
    match org::find_collection(store, path) {
        Ok(c) if c.kind != kind => Err(ImportError::Invalid(format!("{path} is not {noun}"))),
        Ok(c) => {
            authorize(store, actor, &c, path)?;
            Ok((c, false))
        }
        Err(OrgError::NotFound(_)) if create => Ok((create_collection(store, actor, path, kind)?, true)),
        Err(OrgError::NotFound(_)) => Err(ImportError::NotFound(format!(
            "there is no {} {path}: import with create (`--create`, `?create=true`) to make it",
            noun.trim_start_matches("an ").trim_start_matches("a ")
        ))),
        Err(OrgError::Store(e)) => Err(e.into()),
        Err(e) => Err(ImportError::Invalid(e.to_string())),
    }
}

fn noun(kind: CollectionKind) -> &'static str {
    if kind == CollectionKind::Calendar { "a calendar" } else { "an address book" }
}

/// Adding members needs `bind`, replacing them `write-content` (as PUT): an import may do
/// both, so it needs both up front rather than failing half-way.
fn authorize(store: &dyn Store, actor: Actor<'_>, collection: &Collection, path: &str) -> ImportResult<()> {
    let Actor::User(subject) = actor else { return Ok(()) };
    let target = org::target_for(store, subject, collection).map_err(|e| match e {
        OrgError::Store(e) => ImportError::Store(e),
        other => ImportError::Invalid(other.to_string()),
    })?;
    let held = acl::effective_privileges(subject, target);
    if held.contains(Privilege::Bind) && held.contains(Privilege::WriteContent) {
        Ok(())
    } else {
        Err(ImportError::Forbidden(format!(
            "you may not import into {path}: that needs the right to add and change its entries"
        )))
    }
}

/// Creates `OWNER/NAME` in the owner's home. Only the owner (or the operator) may: others
/// share collections, they do not make them in someone else's home.
fn create_collection(
    store: &dyn Store,
    actor: Actor<'_>,
    path: &str,
    kind: CollectionKind,
) -> ImportResult<Collection> {
    let bad = || ImportError::Invalid(format!("{path:?}: expected OWNER/NAME"));
    let (owner, segment) = path.trim_matches('/').split_once('/').ok_or_else(bad)?;
    if !valid_segment(segment) {
        return Err(ImportError::Invalid(format!(
            "{segment:?} cannot name a collection: use letters, digits, '-', '_' or '.' (at most 64)"
        )));
    }
    let principal = store
        .principal_by_slug(owner)?
        .ok_or_else(|| ImportError::NotFound(format!("there is no user, team or room {owner}")))?;
    if let Actor::User(subject) = actor {
        if subject.principal.id != principal.id {
            return Err(ImportError::Forbidden(format!(
                "only {owner} can create collections in their own space"
            )));
        }
        // As MKCOL: bind on the home. This is what refuses read-only and collection-limited
        // app passwords, which may not make new collections.
        let home_target = acl::Target::home(principal.id);
        if !acl::effective_privileges(subject, home_target).contains(Privilege::Bind) {
            return Err(ImportError::Forbidden(format!(
                "this credential may not create collections for {owner}; use the main password"
            )));
        }
    }
    let home_kind = if kind == CollectionKind::Calendar { HomeKind::Calendar } else { HomeKind::Addressbook };
    let home = store
        .home(principal.id, home_kind)?
        .ok_or_else(|| ImportError::Invalid(format!("{owner} has no home for {}", noun(kind))))?;
    let new = NewCollection {
        owner_id: principal.id,
        parent_id: home.id,
        segment: segment.to_owned(),
        kind,
        props: CollectionProps { displayname: Some(segment.to_owned()), ..Default::default() },
        dead_props: Vec::new(),
    };
    store.create_collection(&new).map_err(|e| match e {
        StoreError::AlreadyExists => ImportError::Invalid(format!("{path} exists already")),
        other => other.into(),
    })
}

/// A URL segment that needs no escaping and cannot be mistaken for a path trick.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

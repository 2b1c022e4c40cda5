//! Resolving a `DavPath` to what is stored there, with the facts access control needs.

use super::error::{DavError, DavResult};
use super::paths::{DavPath, Hrefs, href_for};
use crate::acl::Target;
use crate::store::{Collection, CollectionKind, HomeKind, Member, ObjectMeta, Principal, Store};

/// Where a collection or object lives: the home area, the owner's slug and the segments
/// from the home down to the resource itself.
#[derive(Debug, Clone)]
pub struct Place {
    pub area: HomeKind,
    pub owner: Principal,
    pub segments: Vec<String>,
}

impl Place {
    pub fn child(&self, segment: &str) -> Place {
        let mut segments = self.segments.clone();
        segments.push(segment.to_owned());
        Place { area: self.area, owner: self.owner.clone(), segments }
    }
}

#[derive(Debug, Clone)]
pub enum Resource {
    Root,
    DavRoot,
    Principals,
    Homes(HomeKind),
    Principal(Principal),
    Collection { coll: Collection, place: Place },
    Object { meta: ObjectMeta, parent: Collection, place: Place },
}

/// The result of resolving a path: something, or nothing with (maybe) an existing parent.
#[derive(Debug, Clone)]
pub enum Located {
    Found(Resource),
    /// Nothing there. `parent` is the collection that would contain it, if it exists.
    Missing {
        parent: Option<(Collection, Place)>,
        segment: Option<String>,
    },
}

impl Resource {
    pub fn is_collection(&self) -> bool {
        !matches!(self, Resource::Object { .. })
    }

    pub fn href(&self, hrefs: &Hrefs) -> String {
        match self {
            Resource::Root => hrefs.root(),
            Resource::DavRoot => hrefs.dav_root(),
            Resource::Principals => hrefs.principals(),
            Resource::Homes(kind) => hrefs.homes(*kind),
            Resource::Principal(p) => hrefs.principal(&p.slug),
            Resource::Collection { place, .. } => {
                hrefs.in_home(place.area, &place.owner.slug, &place.segments, true)
            }
            Resource::Object { place, .. } => {
                hrefs.in_home(place.area, &place.owner.slug, &place.segments, false)
            }
        }
    }

    pub fn acl_target(&self) -> Target {
        match self {
            Resource::Root | Resource::DavRoot | Resource::Principals | Resource::Homes(_) => {
                Target::Directory
            }
            Resource::Principal(p) => Target::Principal { id: p.id, organization: p.org_id },
            Resource::Collection { coll, .. } if coll.kind.is_home() => Target::Home { owner: coll.owner_id },
            Resource::Collection { coll, .. } => Target::Owned { owner: coll.owner_id, collection: coll.id },
            Resource::Object { parent, .. } => {
                Target::Owned { owner: parent.owner_id, collection: parent.id }
            }
        }
    }

    pub fn collection(&self) -> Option<&Collection> {
        match self {
            Resource::Collection { coll, .. } => Some(coll),
            _ => None,
        }
    }

    /// The resource a member of this collection turns into, for Depth: 1.
    pub fn member(&self, member: Member) -> Option<Resource> {
        let Resource::Collection { coll, place } = self else {
            return None;
        };
        Some(match member {
            Member::Collection(c) => Resource::Collection { place: place.child(&c.segment), coll: c },
            Member::Object(o) => {
                Resource::Object { place: place.child(&o.segment), meta: o, parent: coll.clone() }
            }
        })
    }
}

pub fn resolve(store: &dyn Store, path: &DavPath) -> DavResult<Located> {
    let found = |r| Ok(Located::Found(r));
    match path {
        DavPath::Root => found(Resource::Root),
        DavPath::DavRoot => found(Resource::DavRoot),
        DavPath::Principals => found(Resource::Principals),
        DavPath::Homes(kind) => found(Resource::Homes(*kind)),
        DavPath::Principal(slug) => match store.principal_by_slug(slug)? {
            Some(p) => found(Resource::Principal(p)),
            None => Ok(Located::Missing { parent: None, segment: None }),
        },
        DavPath::InHome { kind, owner, rest } => resolve_in_home(store, *kind, owner, rest),
    }
}

fn resolve_in_home(store: &dyn Store, area: HomeKind, owner: &str, rest: &[String]) -> DavResult<Located> {
    let missing = Ok(Located::Missing { parent: None, segment: None });
    let Some(principal) = store.principal_by_slug(owner)? else {
        return missing;
    };
    let Some(mut coll) = store.home(principal.id, area)? else {
        return missing;
    };
    let mut place = Place { area, owner: principal, segments: Vec::new() };
    let Some((last, parents)) = rest.split_last() else {
        return Ok(Located::Found(Resource::Collection { coll, place }));
    };
    for segment in parents {
        match store.child_collection(coll.id, segment)? {
            Some(child) => {
                coll = child;
                place = place.child(segment);
            }
            None => return missing,
        }
    }
    if let Some(child) = store.child_collection(coll.id, last)? {
        return Ok(Located::Found(Resource::Collection { coll: child, place: place.child(last) }));
    }
    if let Some(meta) = store.object(coll.id, last)? {
        return Ok(Located::Found(Resource::Object { meta, parent: coll, place: place.child(last) }));
    }
    Ok(Located::Missing { parent: Some((coll, place)), segment: Some(last.clone()) })
}

/// Resolves a path that must exist.
pub fn resolve_existing(store: &dyn Store, path: &DavPath) -> DavResult<Resource> {
    match resolve(store, path)? {
        Located::Found(r) => Ok(r),
        Located::Missing { .. } => Err(DavError::not_found()),
    }
}

/// Whether a collection of `kind` may hold plain members or sub-collections.
pub fn accepts_subcollections(kind: CollectionKind) -> bool {
    matches!(kind, CollectionKind::CalendarHome | CollectionKind::AddressbookHome | CollectionKind::Plain)
}

pub fn href_of_path(hrefs: &Hrefs, path: &DavPath, collection: bool) -> String {
    href_for(hrefs, path, collection)
}

//! Resolving a `DavPath` to what is stored there, with the facts access control needs.

use std::sync::Arc;

use super::error::{DavError, DavResult};
use super::paths::{DavPath, Hrefs, href_for};
use crate::acl::Target;
use crate::store::{Collection, CollectionKind, Descent, HomeKind, Member, ObjectMeta, Principal, Store};

/// Where a collection or object lives: the home area, the owner's slug and the segments
/// from the home down to the resource itself.
#[derive(Debug, Clone)]
pub struct Place {
    pub area: HomeKind,
    pub owner: Arc<Principal>,
    pub segments: Vec<String>,
}

/// Collections others share with a user appear in the user's home as `shared-{collection id}`:
/// the id never changes (not when the owner renames it, nor when it is transferred to
/// another owner), so the sharee's clients keep their copy. Names of this form are reserved
/// in homes (`is_mount_segment`).
pub const MOUNT_PREFIX: &str = "shared-";

pub use crate::store::mount_segment;

pub fn is_mount_segment(segment: &str) -> bool {
    mount_id(segment).is_some()
}

fn mount_id(segment: &str) -> Option<crate::store::Id> {
    let digits = segment.strip_prefix(MOUNT_PREFIX)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A shared collection as its sharee sees it: their own name, colour and order win.
pub fn sharee_view(m: crate::store::MountedCollection) -> Collection {
    let mut coll = m.collection;
    if m.sharee_displayname.is_some() {
        coll.props.displayname = m.sharee_displayname;
    }
    if m.sharee_color.is_some() {
        coll.props.color = m.sharee_color;
    }
    if m.sharee_sort_order.is_some() {
        coll.props.sort_order = m.sharee_sort_order;
    }
    coll
}

/// The collections shared into `owner`'s home of kind `area`, as members of that home.
pub fn mounted_members(store: &dyn Store, home: &Place) -> DavResult<Vec<Resource>> {
    if home.owner.kind != crate::store::PrincipalKind::User || !home.segments.is_empty() {
        return Ok(vec![]);
    }
    Ok(store
        .mounted_collections(home.owner.id, home.area)?
        .into_iter()
        .map(|m| {
            let segment = mount_segment(m.collection.id);
            Resource::Collection { coll: Arc::new(sharee_view(m)), place: home.child(&segment) }
        })
        .collect())
}

impl Place {
    /// Whether this place is a share seen from the sharee's home (or something inside one):
    /// the path's owner is not the collection's owner.
    pub fn is_mounted(&self, coll_owner: crate::store::Id) -> bool {
        self.owner.id != coll_owner
    }

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
    // Shared (`Arc`): a listing makes one resource per member, each naming its parent and owner.
    Collection { coll: Arc<Collection>, place: Place },
    Object { meta: ObjectMeta, parent: Arc<Collection>, place: Place },
}

/// The result of resolving a path: something, or nothing with (maybe) an existing parent.
#[derive(Debug, Clone)]
pub enum Located {
    Found(Resource),
    /// Nothing there. `parent` is the collection that would contain it, if it exists.
    Missing {
        parent: Option<(Arc<Collection>, Place)>,
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

    /// The target as its owner sees it, without the facts of shares and grants: handlers ask
    /// `Ctx::target`, which adds them for the subject.
    pub fn acl_target(&self) -> Target {
        match self {
            Resource::Root | Resource::DavRoot | Resource::Principals | Resource::Homes(_) => {
                Target::Directory
            }
            // The principal's organization is a store fact: `Ctx::target` adds it.
            Resource::Principal(p) => Target::Principal { id: p.id, organization: None },
            Resource::Collection { coll, .. } if coll.kind.is_home() => Target::home(coll.owner_id),
            Resource::Collection { coll, .. } => Target::owned(coll.owner_id, coll.id),
            Resource::Object { parent, .. } => Target::owned(parent.owner_id, parent.id),
        }
    }

    /// The collection this resource is or lives in.
    pub fn collection_id(&self) -> Option<crate::store::Id> {
        match self {
            Resource::Collection { coll, .. } => Some(coll.id),
            Resource::Object { parent, .. } => Some(parent.id),
            _ => None,
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
            Member::Collection(c) => {
                Resource::Collection { place: place.child(&c.segment), coll: Arc::new(c) }
            }
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
    let found = store.locate_in_home(owner, area, rest)?;
    let (Some(principal), Some(mut coll)) = (found.owner, found.home) else {
        return missing;
    };
    let mut place = Place { area, owner: Arc::new(principal), segments: Vec::new() };
    let mut rest = rest;
    let mut below = Descent { collections: found.collections, object: found.object };
    // A first segment that is no child collection of the home may name a collection shared
    // with the owner; the rest of the path is looked up below that one.
    if below.collections.is_empty() && rest.len() > 1 {
        let Some(shared) = mounted(store, &place, &rest[0])? else {
            return missing;
        };
        place = place.child(&rest[0]);
        rest = &rest[1..];
        below = store.locate_below(shared.id, rest)?;
        coll = shared;
    }
    let resolved = below.collections.len();
    for (segment, child) in rest.iter().zip(below.collections) {
        coll = child;
        place = place.child(segment);
    }
    let Some(last) = rest.last().filter(|_| resolved < rest.len()) else {
        return Ok(Located::Found(Resource::Collection { coll: Arc::new(coll), place }));
    };
    if resolved + 1 < rest.len() {
        return missing;
    }
    // Only a segment right below the home can name a shared collection.
    if place.segments.is_empty()
        && let Some(child) = mounted(store, &place, last)?
    {
        return Ok(Located::Found(Resource::Collection { coll: Arc::new(child), place: place.child(last) }));
    }
    if let Some(meta) = below.object {
        return Ok(Located::Found(Resource::Object {
            meta,
            parent: Arc::new(coll),
            place: place.child(last),
        }));
    }
    Ok(Located::Missing { parent: Some((Arc::new(coll), place)), segment: Some(last.clone()) })
}

/// The shared collection `segment` names in the home at `home`, if it is shared with the
/// home's owner.
fn mounted(store: &dyn Store, home: &Place, segment: &str) -> DavResult<Option<Collection>> {
    let Some(id) = mount_id(segment) else { return Ok(None) };
    if home.owner.kind != crate::store::PrincipalKind::User {
        return Ok(None);
    }
    Ok(store
        .mounted_collections(home.owner.id, home.area)?
        .into_iter()
        .find(|m| m.collection.id == id)
        .map(sharee_view))
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

//! One file per method; `dispatch` picks it. Each method resolves its resource and asks
//! `acl::authorize` for the privilege it needs before doing anything.

mod copy_move;
mod delete;
mod get;
mod mkcol;
mod options;
mod post;
mod propfind;
mod proppatch;
pub(crate) mod put;
mod report;

pub use propfind::{Content, describe, describe_into};

use http::{Method, StatusCode};

use super::conditional::Validators;
use super::error::{DavError, DavResult};
use super::paths::DavPath;
use super::resource::{Place, Resource};
use super::{Ctx, DavResponse};
use crate::acl::{self, Privilege, Target};
use crate::store::{Collection, Id};

pub fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    path: &DavPath,
    body: &bytes::Bytes,
) -> DavResult<DavResponse> {
    match method.as_str() {
        "OPTIONS" => options::options(ctx, path),
        "PROPFIND" => propfind::propfind(ctx, path, body),
        "PROPPATCH" => proppatch::proppatch(ctx, path, body),
        "GET" => get::get(ctx, path, false),
        "HEAD" => get::get(ctx, path, true),
        "PUT" => put::put(ctx, path, body),
        "DELETE" => delete::delete(ctx, path),
        "MKCOL" => mkcol::mkcol(ctx, path, body, false),
        "MKCALENDAR" => mkcol::mkcol(ctx, path, body, true),
        "COPY" => copy_move::copy_move(ctx, path, false),
        "MOVE" => copy_move::copy_move(ctx, path, true),
        "REPORT" => report::report(ctx, path, body),
        "POST" => post::post(ctx, path, body),
        "LOCK" | "UNLOCK" | "ACL" => {
            Err(DavError::method_not_allowed(format!("{method} is not supported on this resource")))
        }
        _ => Err(DavError::new(StatusCode::NOT_IMPLEMENTED, format!("{method} is not implemented"))),
    }
}

pub(crate) fn authorize(ctx: &Ctx<'_>, target: Target, privilege: Privilege, href: &str) -> DavResult<()> {
    acl::authorize(&ctx.subject, target, privilege, href)
}

pub(crate) fn validators(res: &Resource) -> Validators {
    match res {
        Resource::Object { meta, .. } => {
            Validators { exists: true, etag: Some(meta.etag.clone()), last_modified: Some(meta.modified_at) }
        }
        Resource::Collection { coll, .. } => {
            Validators { exists: true, etag: None, last_modified: Some(coll.modified_at) }
        }
        _ => Validators { exists: true, etag: None, last_modified: None },
    }
}

/// The collection holding `res` (and where it lives), for unbind checks.
pub(crate) fn parent_of(ctx: &Ctx<'_>, res: &Resource) -> DavResult<(std::sync::Arc<Collection>, Place)> {
    match res {
        Resource::Object { parent, place, .. } => Ok((parent.clone(), parent_place(place))),
        Resource::Collection { coll, place } => {
            let parent_id: Id = coll
                .parent_id
                .ok_or_else(|| DavError::forbidden("a home cannot be removed, copied over or moved"))?;
            let parent = ctx.store().collection(parent_id)?.ok_or_else(DavError::not_found)?;
            Ok((std::sync::Arc::new(parent), parent_place(place)))
        }
        _ => Err(DavError::forbidden("this resource is managed by the server")),
    }
}

/// Removing `res` from its collection needs unbind on that collection (RFC 3744 §3.10); a
/// refusal names the collection. Returns the parent.
pub(crate) fn authorize_unbind(ctx: &Ctx<'_>, res: &Resource) -> DavResult<std::sync::Arc<Collection>> {
    let (parent, place) = parent_of(ctx, res)?;
    let href = ctx.hrefs().in_home(place.area, &place.owner.slug, &place.segments, true);
    let container = ctx.container_target(&parent);
    if matches!(res, Resource::Collection { .. })
        && acl::may_delete_collection(&ctx.subject, container, ctx.target(res))
    {
        return Ok(parent);
    }
    authorize(ctx, container, Privilege::Unbind, &href)?;
    Ok(parent)
}

/// Validators of the resource an `If` header tag names (RFC 4918 §10.4.2), if it exists on
/// this server and the subject may read it.
pub(crate) fn tagged_validators(ctx: &Ctx<'_>, tag: &str) -> Option<Validators> {
    let uri: http::Uri = tag.parse().ok()?;
    let (path, _) = super::paths::parse(&ctx.state.config.base_path, uri.path()).ok()?;
    let res = super::resource::resolve_existing(ctx.store(), &path).ok()?;
    acl::effective_privileges(&ctx.subject, ctx.target(&res))
        .contains(Privilege::Read)
        .then(|| validators(&res))
}

/// Store errors of a write into `parent` (whose href is `parent_href`): a UID conflict names
/// the member already holding the UID; everything else maps as usual.
pub(crate) fn write_error(e: crate::store::StoreError, parent: &Collection, parent_href: &str) -> DavError {
    match e {
        crate::store::StoreError::UidConflict { segment } => {
            let carddav = parent.kind == crate::store::CollectionKind::Addressbook;
            let href = super::paths::Hrefs::member(parent_href, &segment, false);
            DavError::with(
                StatusCode::CONFLICT,
                super::error::Condition::NoUidConflict { carddav, href: href.clone() },
                format!("another resource in this collection already has this UID: {href}"),
            )
        }
        other => other.into(),
    }
}

fn parent_place(place: &Place) -> Place {
    let mut p = place.clone();
    p.segments.pop();
    p
}

/// The `<D:response>` for one member of `collection` named by `segment` (a trailing `/`
/// names a sub-collection), or `None` when it no longer exists.
pub fn describe_member(
    ctx: &Ctx<'_>,
    collection: &Resource,
    segment: &str,
    props: &super::body::Propfind,
) -> DavResult<Option<super::multistatus::Response>> {
    let Resource::Collection { coll, place } = collection else {
        return Ok(None);
    };
    let member = match segment.strip_suffix('/') {
        Some(name) => ctx.store().child_collection(coll.id, name)?.map(crate::store::Member::Collection),
        None => ctx.store().object(coll.id, segment)?.map(crate::store::Member::Object),
    };
    let member = match member {
        Some(m) => collection.member(m),
        // A share in a home (its change log records them too).
        None if coll.kind.is_home() => super::resource::mounted_members(ctx.store(), place)?
            .into_iter()
            .find(|m| matches!(m, Resource::Collection { place, .. } if place.segments.last().map(|s| s.as_str()) == segment.strip_suffix('/'))),
        None => None,
    };
    let Some(member) = member else {
        return Ok(None);
    };
    propfind::describe(ctx, &member, props, Some(&Content::default())).map(Some)
}

/// The `<D:response>` for an object found by a query on `scope` (its collection, or the
/// object itself), with calendar-data or address-data as `content` asks, written straight
/// into `ms` (see `propfind::describe_into`).
pub fn describe_object_into(
    ms: &mut super::multistatus::MultistatusWriter,
    ctx: &Ctx<'_>,
    scope: &Resource,
    meta: crate::store::ObjectMeta,
    props: &super::body::Propfind,
    content: &Content<'_>,
) -> DavResult<()> {
    let member;
    let object = match scope {
        Resource::Object { .. } => scope,
        _ => {
            member = scope.member(crate::store::Member::Object(meta)).ok_or_else(DavError::not_found)?;
            &member
        }
    };
    let dead =
        if propfind::may_ask_dead_props(props) { propfind::dead_props(ctx, object)? } else { Vec::new() };
    describe_into(ms, ctx, object, props, Some(content), dead, None)
}

//! PUT (RFC 4918 §9.7): the body is stored byte-for-byte; `201` on create, `204` on
//! replace, with the strong ETag of exactly what was stored.

use http::{HeaderValue, StatusCode, header};

use super::super::conditional::{self, Validators};
use super::super::error::{Condition, DavError, DavResult};
use super::super::paths::DavPath;
use super::super::resource::{Located, Place, Resource, resolve};
use super::super::{Ctx, DavResponse, empty};
use crate::acl::Privilege;
use crate::store::{Collection, CollectionKind, ObjectIndex, PutObjectOwned};

/// Where the PUT goes: the parent collection, its href, the member name, and the current
/// state of the member if it exists.
struct Target {
    parent: std::sync::Arc<Collection>,
    parent_href: String,
    segment: String,
    existing: Option<Validators>,
}

pub fn put(ctx: &Ctx<'_>, path: &DavPath, body: &bytes::Bytes) -> DavResult<DavResponse> {
    let (put, written) = prepare(ctx, path, body.clone())?;
    let outcome = put.with(|put| ctx.store().put_object(put));
    written.respond(outcome)
}

/// A PUT whose checks passed: what to store, and how to answer once it is stored.
pub struct Written {
    parent: std::sync::Arc<Collection>,
    parent_href: String,
}

impl Written {
    /// The answer to the PUT, given the outcome of its write.
    pub fn respond(
        &self,
        outcome: crate::store::StoreResult<crate::store::PutOutcome>,
    ) -> DavResult<DavResponse> {
        let outcome = outcome.map_err(|e| super::write_error(e, &self.parent, &self.parent_href))?;
        let mut r = empty(if outcome.created { StatusCode::CREATED } else { StatusCode::NO_CONTENT });
        // The body is stored as sent, so this ETag is always the one of the client's bytes
        // (RFC 4791 §5.3.4 allows it only then).
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", outcome.etag)) {
            r.headers_mut().insert(header::ETAG, v);
        }
        Ok(r)
    }
}

/// Everything of a PUT but the write: the target, the privilege, the preconditions and the
/// body's validity.
pub fn prepare(ctx: &Ctx<'_>, path: &DavPath, body: bytes::Bytes) -> DavResult<(PutObjectOwned, Written)> {
    if !super::super::is_in_home(path) {
        return Err(DavError::method_not_allowed("resources can only be created inside a home"));
    }
    let target = locate(ctx, path)?;
    let v = target.existing.clone().unwrap_or_default();
    conditional::evaluate(&ctx.headers, &v, false)?;
    conditional::evaluate_if(&ctx.headers, &v, &|tag| super::tagged_validators(ctx, tag))?;
    let index = validate_member(&target.parent, &body)?;
    let content_type = stored_type(&target.parent, ctx.headers.content_type.as_deref());
    let put = PutObjectOwned {
        collection_id: target.parent.id,
        segment: target.segment,
        body,
        content_type,
        expect: conditional::expect_for_write(&ctx.headers, &v),
        index,
    };
    Ok((put, Written { parent: target.parent, parent_href: target.parent_href }))
}

/// Resolves the target and checks the privilege: write-content to replace, bind to create.
fn locate(ctx: &Ctx<'_>, path: &DavPath) -> DavResult<Target> {
    let href_of = |place: &Place| ctx.hrefs().in_home(place.area, &place.owner.slug, &place.segments, true);
    match resolve(ctx.store(), path)? {
        Located::Found(res) => {
            let Resource::Object { meta, parent, place } = &res else {
                return Err(DavError::method_not_allowed("PUT cannot replace a collection"));
            };
            super::authorize(
                ctx,
                ctx.container_target(parent),
                Privilege::WriteContent,
                &res.href(ctx.hrefs()),
            )?;
            let mut parent_place = place.clone();
            parent_place.segments.pop();
            Ok(Target {
                parent: parent.clone(),
                parent_href: href_of(&parent_place),
                segment: meta.segment.clone(),
                existing: Some(super::validators(&res)),
            })
        }
        Located::Missing { parent: Some((parent, place)), segment: Some(segment) } => {
            let parent_href = href_of(&place);
            super::authorize(ctx, ctx.container_target(&parent), Privilege::Bind, &parent_href)?;
            Ok(Target { parent, parent_href, segment, existing: None })
        }
        Located::Missing { .. } => Err(DavError::conflict("the parent collection does not exist")),
    }
}

/// The Content-Type a member is served with: what the client sent, except that a validated
/// calendar object or vCard is always `text/calendar` / `text/vcard`: Thunderbird ignores
/// members whose getcontenttype says otherwise (CLIENTS.md §2).
fn stored_type(parent: &Collection, sent: Option<&str>) -> String {
    let sent_matches = |prefixes: &[&str]| {
        sent.filter(|t| prefixes.iter().any(|p| t.to_ascii_lowercase().starts_with(p))).map(str::to_owned)
    };
    match parent.kind {
        CollectionKind::Calendar => {
            sent_matches(&["text/calendar"]).unwrap_or_else(|| "text/calendar; charset=utf-8".into())
        }
        CollectionKind::Addressbook => sent_matches(&["text/vcard", "text/x-vcard"])
            .unwrap_or_else(|| "text/vcard; charset=utf-8".into()),
        _ => sent.unwrap_or("application/octet-stream").to_owned(),
    }
}

/// Checks a member of a calendar or address book before it is stored, and extracts what
/// the index needs. Plain collections take any bytes.
pub(crate) fn validate_member(parent: &Collection, body: &[u8]) -> DavResult<ObjectIndex> {
    let ns = match parent.kind {
        CollectionKind::Subscription => {
            return Err(DavError::forbidden(
                "a subscription holds no resources: the client fetches its URL itself",
            ));
        }
        CollectionKind::Calendar => crate::dav::names::CALDAV,
        CollectionKind::Addressbook => crate::dav::names::CARDDAV,
        _ => return Ok(ObjectIndex::default()),
    };
    if body.len() as u64 > crate::dav::props::MAX_RESOURCE_SIZE {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::Other(ns, "max-resource-size"),
            format!("the resource is larger than {} bytes", crate::dav::props::MAX_RESOURCE_SIZE),
        ));
    }
    match parent.kind {
        CollectionKind::Calendar => crate::caldav::validate_put::validate(parent, body),
        _ => crate::carddav::validate_put::validate(body),
    }
}

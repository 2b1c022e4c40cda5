//! PUT (RFC 4918 §9.7): the body is stored byte-for-byte; `201` on create, `204` on
//! replace, with the strong ETag of exactly what was stored.

use http::{HeaderValue, StatusCode, header};

use super::super::conditional;
use super::super::error::{Condition, DavError, DavResult};
use super::super::paths::DavPath;
use super::super::resource::{Located, Resource, resolve};
use super::super::{Ctx, DavResponse, empty};
use crate::acl::Privilege;
use crate::store::{Collection, CollectionKind, ObjectIndex, PutObject};

pub fn put(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    if !super::super::is_in_home(path) {
        return Err(DavError::method_not_allowed(
            "resources can only be created inside a home",
        ));
    }
    let (parent, segment, existing) = match resolve(ctx.store(), path)? {
        Located::Found(Resource::Object {
            meta,
            parent,
            place,
        }) => {
            let href = ctx
                .hrefs()
                .in_home(place.area, &place.owner.slug, &place.segments, false);
            super::authorize(
                ctx,
                super::container_target(&parent),
                Privilege::WriteContent,
                &href,
            )?;
            let seg = meta.segment.clone();
            let v = super::validators(&Resource::Object {
                meta,
                parent: parent.clone(),
                place,
            });
            (parent, seg, Some(v))
        }
        Located::Found(_) => {
            return Err(DavError::method_not_allowed(
                "PUT cannot replace a collection",
            ));
        }
        Located::Missing {
            parent: Some((parent, place)),
            segment: Some(segment),
        } => {
            let href = ctx
                .hrefs()
                .in_home(place.area, &place.owner.slug, &place.segments, true);
            super::authorize(
                ctx,
                super::container_target(&parent),
                Privilege::Bind,
                &href,
            )?;
            (parent, segment, None)
        }
        Located::Missing { .. } => {
            return Err(DavError::conflict("the parent collection does not exist"));
        }
    };
    let v = existing.unwrap_or_default();
    conditional::evaluate(&ctx.headers, &v, false)?;
    conditional::evaluate_if(&ctx.headers, &v, &|_| None)?;
    let index = validate_member(&parent, body)?;
    let content_type = ctx
        .headers
        .content_type
        .clone()
        .unwrap_or_else(|| default_type(&parent).into());
    let outcome = ctx.store().put_object(&PutObject {
        collection_id: parent.id,
        segment: &segment,
        body,
        content_type: &content_type,
        expect: conditional::expect_for_write(&ctx.headers, &v),
        index,
    })?;
    let mut r = empty(if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    });
    // The body is stored as sent, so this ETag is always the one of the client's bytes
    // (RFC 4791 §5.3.4 allows it only then).
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", outcome.etag)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

fn default_type(parent: &Collection) -> &'static str {
    match parent.kind {
        CollectionKind::Calendar => "text/calendar; charset=utf-8",
        CollectionKind::Addressbook => "text/vcard; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Checks a member of a calendar or address book before it is stored, and extracts what
/// the index needs. Plain collections take any bytes.
fn validate_member(parent: &Collection, body: &[u8]) -> DavResult<ObjectIndex> {
    let starts = |marker: &str| {
        std::str::from_utf8(body).is_ok_and(|s| {
            s.trim_start_matches('\u{feff}')
                .trim_start()
                .to_ascii_uppercase()
                .starts_with(marker)
        })
    };
    match parent.kind {
        CollectionKind::Calendar if !starts("BEGIN:VCALENDAR") => Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            "the body is not an iCalendar object (BEGIN:VCALENDAR)",
        )),
        CollectionKind::Addressbook if !starts("BEGIN:VCARD") => Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidAddressData,
            "the body is not a vCard (BEGIN:VCARD)",
        )),
        _ => Ok(ObjectIndex::default()),
    }
}

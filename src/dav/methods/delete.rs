//! DELETE (RFC 4918 §9.6): objects, and collections with everything below them.

use http::StatusCode;

use super::super::conditional;
use super::super::error::{DavError, DavResult};
use super::super::headers::Depth;
use super::super::paths::DavPath;
use super::super::resource::{Resource, resolve_existing};
use super::super::{Ctx, DavResponse, empty};

pub fn delete(ctx: &Ctx<'_>, path: &DavPath) -> DavResult<DavResponse> {
    let res = resolve_existing(ctx.store(), path)?;
    // A sharee deleting a collection shared into their home declines the share: it leaves
    // their home, the owner's collection stays (issue #7).
    if let Resource::Collection { coll, place } = &res
        && place.segments.len() == 1
        && place.is_mounted(coll.owner_id)
    {
        if place.owner.id != ctx.subject.principal.id {
            return Err(DavError::forbidden("only the sharee can remove a share from their home"));
        }
        ctx.store().decline_share(ctx.subject.principal.id, coll.id)?;
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let parent = super::authorize_unbind(ctx, &res)?;
    let v = super::validators(&res);
    conditional::evaluate(&ctx.headers, &v, false)?;
    conditional::evaluate_if(&ctx.headers, &v, &|tag| super::tagged_validators(ctx, tag))?;
    match &res {
        Resource::Object { meta, .. } => {
            let expect = conditional::expect_for_write(&ctx.headers, &v);
            ctx.store().delete_object(parent.id, &meta.segment, &expect)?;
        }
        Resource::Collection { coll, .. } => {
            // §9.6.1: a collection is deleted as if Depth: infinity; any other Depth is an error.
            if matches!(ctx.headers.depth, Some(Depth::Zero | Depth::One)) {
                return Err(DavError::bad_request("DELETE of a collection takes Depth: infinity"));
            }
            ctx.store().delete_collection(coll.id)?;
        }
        _ => return Err(DavError::forbidden("this resource cannot be deleted")),
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

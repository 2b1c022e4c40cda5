//! COPY and MOVE (RFC 4918 §9.8, §9.9): Destination, Overwrite and Depth, with the
//! statuses of §9.8.5 / §9.9.4.

use http::{StatusCode, Uri};

use super::super::conditional;
use super::super::error::{Condition, DavError, DavResult};
use super::super::headers::Depth;
use super::super::paths::{self, DavPath};
use super::super::resource::{Located, Resource, accepts_subcollections, resolve, resolve_existing};
use super::super::{Ctx, DavResponse, empty};
use crate::acl::Privilege;
use crate::store::{Collection, CollectionKind, NodeRef, Transfer};

pub fn copy_move(ctx: &Ctx<'_>, path: &DavPath, is_move: bool) -> DavResult<DavResponse> {
    let dest_path = destination(ctx)?;
    let src = resolve_existing(ctx.store(), path)?;
    let src_href = src.href(ctx.hrefs());
    let source = match &src {
        Resource::Object { meta, .. } => NodeRef::Object(meta.id),
        Resource::Collection { coll, .. } if !coll.kind.is_home() => NodeRef::Collection(coll.id),
        _ => {
            return Err(DavError::forbidden("this resource cannot be copied or moved"));
        }
    };
    super::authorize(ctx, ctx.target(&src), Privilege::Read, &src_href)?;
    if is_move {
        super::authorize_unbind(ctx, &src)?;
    }
    let recursive = match (ctx.headers.depth, src.is_collection(), is_move) {
        (None | Some(Depth::Infinity), _, _) | (_, false, _) => true,
        (Some(Depth::Zero), true, false) => false,
        _ => {
            return Err(DavError::bad_request(
                "COPY takes Depth 0 or infinity; MOVE of a collection takes infinity",
            ));
        }
    };
    let v = super::validators(&src);
    conditional::evaluate(&ctx.headers, &v, false)?;
    conditional::evaluate_if(&ctx.headers, &v, &|tag| super::tagged_validators(ctx, tag))?;
    if !super::super::is_in_home(&dest_path) {
        return Err(DavError::forbidden("the destination must be inside a home"));
    }
    if &dest_path == path {
        return Err(DavError::forbidden("the source and the destination are the same resource"));
    }
    let (dest_parent, dest_href, dest_segment) = destination_parent(ctx, &dest_path)?;
    if src.is_collection() && !accepts_subcollections(dest_parent.kind) {
        return Err(DavError::conflict("the destination collection cannot hold collections"));
    }
    check_member_fits(ctx, &src, &dest_parent)?;
    let created = ctx
        .store()
        .transfer(&Transfer {
            source,
            dest_parent: dest_parent.id,
            dest_segment,
            overwrite: ctx.headers.overwrite,
            recursive,
            is_move,
        })
        .map_err(|e| super::write_error(e, &dest_parent, &dest_href))?;
    Ok(empty(if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT }))
}

/// An object entering a calendar or address book must satisfy its PUT preconditions
/// (RFC 4791 §7.1: COPY and MOVE carry the same ones). Objects keep their index, so one
/// coming from a collection of another kind (whose index is empty) is refused outright.
fn check_member_fits(ctx: &Ctx<'_>, src: &Resource, dest: &Collection) -> DavResult<()> {
    let Resource::Object { meta, parent, .. } = src else { return Ok(()) };
    if !matches!(dest.kind, CollectionKind::Calendar | CollectionKind::Addressbook) {
        return Ok(());
    }
    if parent.kind != dest.kind {
        let (condition, what) = match dest.kind {
            CollectionKind::Calendar => (Condition::ValidCalendarData, "calendar objects"),
            _ => (Condition::ValidAddressData, "vCards"),
        };
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            condition,
            format!("only {what} from a collection of the same kind can be copied or moved here"),
        ));
    }
    let body = ctx.store().object_body(meta.id)?.ok_or_else(DavError::not_found)?;
    super::put::validate_member(dest, &body).map(|_| ())
}

/// The Destination header as a path in this server's DAV space; another host is 502.
fn destination(ctx: &Ctx<'_>) -> DavResult<DavPath> {
    let raw = ctx
        .headers
        .destination
        .as_deref()
        .ok_or_else(|| DavError::bad_request("Destination header missing"))?;
    let uri: Uri = raw.parse().map_err(|_| DavError::bad_request("Destination is not a URI"))?;
    if let Some(authority) = uri.authority() {
        let host = ctx.headers.host.as_deref().unwrap_or("");
        if !same_authority(authority.as_str(), host, uri.scheme_str()) {
            return Err(DavError::new(StatusCode::BAD_GATEWAY, "the Destination is on another server"));
        }
    }
    let (path, _) = paths::parse(&ctx.state.config.base_path, uri.path()).map_err(|e| match e {
        paths::PathError::NotDav => {
            DavError::new(StatusCode::BAD_GATEWAY, "the Destination is outside this server's DAV space")
        }
        other => DavError::bad_request(format!("bad Destination: {other}")),
    })?;
    Ok(path)
}

fn same_authority(dest: &str, host: &str, scheme: Option<&str>) -> bool {
    let default_port = if scheme == Some("https") { ":443" } else { ":80" };
    let norm = |s: &str| s.to_ascii_lowercase().trim_end_matches(default_port).to_owned();
    norm(dest) == norm(host)
}

/// The existing collection the destination will live in, its href, and the name it will have.
fn destination_parent(
    ctx: &Ctx<'_>,
    dest: &DavPath,
) -> DavResult<(std::sync::Arc<Collection>, String, String)> {
    let (parent, place, segment) = match resolve(ctx.store(), dest)? {
        Located::Missing { parent: Some((parent, place)), segment: Some(segment) } => {
            (parent, place, segment)
        }
        Located::Missing { .. } => {
            return Err(DavError::conflict("the destination's parent collection does not exist"));
        }
        Located::Found(existing) => {
            let (parent, place) = super::parent_of(ctx, &existing)?;
            let segment = match &existing {
                Resource::Object { meta, .. } => meta.segment.clone(),
                Resource::Collection { coll, .. } => coll.segment.clone(),
                _ => return Err(DavError::forbidden("the destination cannot be replaced")),
            };
            (parent, place, segment)
        }
    };
    let href = ctx.hrefs().in_home(place.area, &place.owner.slug, &place.segments, true);
    super::authorize(ctx, ctx.container_target(&parent), Privilege::Bind, &href)?;
    if ctx.headers.overwrite {
        super::authorize(ctx, ctx.container_target(&parent), Privilege::Unbind, &href)?;
    }
    Ok((parent, href, segment))
}

#[cfg(test)]
mod tests {
    use super::same_authority;

    #[test]
    fn authorities() {
        assert!(same_authority("LocalHost:8008", "localhost:8008", Some("http")));
        assert!(same_authority("example.org:80", "example.org", Some("http")));
        assert!(!same_authority("evil.example", "localhost:8008", Some("http")));
    }
}

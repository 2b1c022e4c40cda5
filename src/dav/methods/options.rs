//! OPTIONS (RFC 4918 §9.1 of RFC 9110): `DAV` (added to every response) and `Allow`.

use http::{HeaderValue, StatusCode, header};

use super::super::paths::DavPath;
use super::super::resource::resolve;
use super::super::{Ctx, DavResponse, capabilities, empty};
use super::DavResult;

pub fn options(ctx: &Ctx<'_>, path: &DavPath) -> DavResult<DavResponse> {
    let located = resolve(ctx.store(), path)?;
    let mut r = empty(StatusCode::OK);
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(capabilities::allow(&located)));
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

//! POST (RFC 9110 §9.3.3): only the calendarserver.org sharing extension gives it a meaning
//! here (`CS:share` on a calendar or address book, `CS:invite-reply` on a home; see
//! `dav::sharing`). Elsewhere it is 405; a body of another type is 415.

use super::super::error::DavResult;
use super::super::paths::DavPath;
use super::super::resource::resolve_existing;
use super::super::{Ctx, DavResponse, sharing};

pub fn post(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    let res = resolve_existing(ctx.store(), path)?;
    sharing::post(ctx, &res, body)
}

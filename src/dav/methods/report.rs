//! REPORT (RFC 3253 §3.6): sync-collection (RFC 6578), calendar-multiget (RFC 4791 §7.9),
//! addressbook-multiget (RFC 6352 §8.7).

use http::{StatusCode, Uri};

use super::super::body::Propfind;
use super::super::error::{Condition, DavError, DavResult};
use super::super::multistatus::{Multistatus, Response, ResponseBody};
use super::super::paths::{self, DavPath};
use super::super::report::{Report, parse_report};
use super::super::resource::{Located, Resource, resolve, resolve_existing};
use super::super::{Ctx, DavResponse, multistatus_response};
use super::Content;
use crate::acl::{self, Privilege};
use crate::store::CollectionKind;

/// Most hrefs one multiget may name: bounded work per request.
const MAX_MULTIGET_HREFS: usize = 1000;

pub fn report(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    let report = parse_report(body)?;
    let res = resolve_existing(ctx.store(), path)?;
    // free-busy-query needs only read-free-busy (RFC 4791 §7.10) and authorises itself.
    if !matches!(report, Report::FreeBusyQuery(_)) {
        super::authorize(ctx, ctx.target(&res), Privilege::Read, &res.href(ctx.hrefs()))?;
    }
    match report {
        Report::SyncCollection { token, level, limit, props } => {
            crate::sync::sync_collection(ctx, &res, &token, level, limit, &props)
        }
        Report::Multiget { calendar, props, calendar_data, address_data, hrefs } => {
            let content = Content {
                calendar: calendar_data.as_ref(),
                floating: floating_of(&res),
                address: address_data.as_ref(),
                body: None,
            };
            multiget(ctx, &res, calendar, &props, &content, &hrefs)
        }
        Report::AddressbookQuery(query) => crate::carddav::query::addressbook_query(ctx, &res, &query),
        Report::CalendarQuery(query) => crate::caldav::query::calendar_query(ctx, &res, &query),
        Report::FreeBusyQuery(query) => crate::caldav::freebusy::free_busy_query(ctx, &res, query),
    }
}

/// The zone for floating times of the calendar a resource belongs to (UTC elsewhere).
fn floating_of(res: &Resource) -> chrono_tz::Tz {
    match res {
        Resource::Collection { coll, .. } | Resource::Object { parent: coll, .. } => {
            crate::caldav::floating_zone(coll, None)
        }
        _ => chrono_tz::UTC,
    }
}

fn multiget(
    ctx: &Ctx<'_>,
    res: &Resource,
    calendar: bool,
    props: &Propfind,
    content: &Content<'_>,
    hrefs: &[String],
) -> DavResult<DavResponse> {
    let expected = if calendar { CollectionKind::Calendar } else { CollectionKind::Addressbook };
    let applies = match res {
        Resource::Collection { coll, .. } => coll.kind == expected,
        Resource::Object { parent, .. } => parent.kind == expected,
        _ => false,
    };
    if !applies {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::SupportedReport,
            "this multiget does not apply to this resource",
        ));
    }
    if hrefs.len() > MAX_MULTIGET_HREFS {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::NumberOfMatchesWithinLimits,
            format!("at most {MAX_MULTIGET_HREFS} hrefs per multiget"),
        ));
    }
    let mut ms = Multistatus::default();
    for href in hrefs {
        ms.responses.push(multiget_one(ctx, href, props, content)?);
    }
    Ok(multistatus_response(ctx, &ms))
}

fn status(href: &str, status: StatusCode) -> Response {
    Response { href: href.to_owned(), body: ResponseBody::Status(status, None) }
}

fn multiget_one(ctx: &Ctx<'_>, href: &str, props: &Propfind, content: &Content<'_>) -> DavResult<Response> {
    // Hrefs may be absolute URLs or paths, percent-encoded (DAVx5 sends encoded paths).
    let path = href.parse::<Uri>().ok().map(|u| u.path().to_owned()).unwrap_or_default();
    let Ok((dav_path, _)) = paths::parse(&ctx.state.config.base_path, &path) else {
        return Ok(status(href, StatusCode::NOT_FOUND));
    };
    let member = match resolve(ctx.store(), &dav_path)? {
        Located::Found(r @ Resource::Object { .. }) => r,
        _ => return Ok(status(href, StatusCode::NOT_FOUND)),
    };
    if !acl::effective_privileges(&ctx.subject, ctx.target(&member)).contains(Privilege::Read) {
        return Ok(status(href, StatusCode::FORBIDDEN));
    }
    let mut response = super::propfind::describe(ctx, &member, props, Some(content))?;
    response.href = href.to_owned();
    Ok(response)
}

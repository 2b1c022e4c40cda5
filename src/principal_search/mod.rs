//! Finding principals (RFC 3744 §9.3–9.5) for share dialogs and attendee lookup:
//! `principal-property-search`, `principal-search-property-set` and `principal-match`.
//!
//! Principals are users, meeting rooms and teams (`calendar-user-type` INDIVIDUAL, ROOM,
//! GROUP). A subject finds the principals of their own organization, and each result is
//! still authorised through `acl::effective_privileges` like any other resource.

pub mod principal_match;
pub mod property_search;
pub mod request;

use http::StatusCode;

use crate::acl::{self, Privilege};
use crate::dav::Ctx;
use crate::dav::body::Propfind;
use crate::dav::error::{DavError, DavResult};
use crate::dav::headers::Depth;
use crate::dav::methods::describe;
use crate::dav::multistatus::{Response, ResponseBody};
use crate::dav::names::{CALDAV, CALENDARSERVER, DAV, QName};
use crate::dav::resource::Resource;
use crate::store::PrincipalField;

/// What a searchable property is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Searched {
    Field(PrincipalField),
    /// The principal's kind, as its `calendar-user-type` value (INDIVIDUAL, ROOM, GROUP).
    CalendarUserType,
}

/// The searchable properties, most used first (RFC 3744 §9.5 suggests that order), with the
/// description `principal-search-property-set` gives each. Any other property is not
/// searchable and matches no principal (RFC 3744 §9.4).
pub const SEARCHABLE: [(&str, &str, Searched, &str); 4] = [
    (DAV, "displayname", Searched::Field(PrincipalField::DisplayName), "Display name"),
    (
        CALDAV,
        "calendar-user-address-set",
        Searched::Field(PrincipalField::MailtoAddress),
        "Calendar user address (mailto: e-mail address)",
    ),
    (CALENDARSERVER, "email-address-set", Searched::Field(PrincipalField::Email), "E-mail address"),
    (
        CALDAV,
        "calendar-user-type",
        Searched::CalendarUserType,
        "Calendar user type: INDIVIDUAL (person), ROOM (meeting room) or GROUP (team)",
    ),
];

pub fn searched(property: &QName) -> Option<Searched> {
    SEARCHABLE.iter().find(|(ns, name, _, _)| property.is(ns, name)).map(|(_, _, s, _)| *s)
}

/// RFC 3744 §9.3–9.5: these reports are only defined for `Depth: 0` (also the default, RFC
/// 3253 §3.6); other values get 400.
fn require_depth_zero(ctx: &Ctx<'_>, report: &str) -> DavResult<()> {
    match ctx.headers.depth {
        None | Some(Depth::Zero) => Ok(()),
        Some(_) => Err(DavError::bad_request(format!("{report} is only defined for Depth: 0 (RFC 3744)"))),
    }
}

/// Whether the principals are members (at any depth) of `res`: the roots and the principal
/// collection hold them; principals themselves, homes and their contents hold none.
fn holds_principals(res: &Resource) -> bool {
    matches!(res, Resource::Root | Resource::DavRoot | Resource::Principals)
}

fn readable(ctx: &Ctx<'_>, res: &Resource) -> bool {
    acl::effective_privileges(&ctx.subject, ctx.target(res)).contains(Privilege::Read)
}

/// The `<D:response>` of a match: the asked-for properties, or a bare 200 when none were.
fn describe_match(ctx: &Ctx<'_>, res: &Resource, props: &[QName]) -> DavResult<Response> {
    if props.is_empty() {
        return Ok(Response {
            href: res.href(ctx.hrefs()),
            body: ResponseBody::Status(StatusCode::OK, None),
        });
    }
    describe(ctx, res, &Propfind::Prop(props.to_vec()), None)
}

/// The answer for the request-URI when results were cut at a server limit: 507 with
/// `DAV:number-of-matches-within-limits` (RFC 3744 §9.4; the same form addressbook-query uses,
/// RFC 6352 §8.6.1, which Apple's and CalendarServer's clients know).
fn truncated(ctx: &Ctx<'_>, res: &Resource) -> Response {
    Response {
        href: res.href(ctx.hrefs()),
        body: ResponseBody::Status(
            StatusCode::INSUFFICIENT_STORAGE,
            Some(crate::dav::error::Condition::NumberOfMatchesWithinLimits),
        ),
    }
}

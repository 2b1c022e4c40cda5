//! PROPFIND (RFC 4918 §9.1): Depth 0 and 1; Depth infinity is refused with
//! `DAV:propfind-finite-depth` (§9.1.1) because it is unbounded work.

use http::StatusCode;

use super::super::body::{Propfind, parse_propfind};
use super::super::error::{Condition, DavError, DavResult};
use super::super::headers::Depth;
use super::super::multistatus::{
    MultistatusWriter, Propstat, Response, ResponseBody, write_prop, write_text_prop,
};
use super::super::names::QName;
use super::super::paths::DavPath;
use super::super::props::{self, PropValue};
use super::super::resource::{Resource, resolve_existing};
use super::super::{Ctx, DavResponse, multistatus_xml_response};
use crate::acl::{self, Privilege};
use crate::store::{DeadProp, HomeKind, PropTarget};

pub fn propfind(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    let request = parse_propfind(body)?;
    let depth_one = match ctx.headers.depth {
        Some(Depth::Infinity) => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::PropfindFiniteDepth,
                "Depth: infinity is not supported; use Depth 0 or 1",
            ));
        }
        Some(Depth::Zero) => false,
        // A missing Depth means infinity (§9.1); like most servers, answer it as Depth 1.
        Some(Depth::One) | None => true,
    };
    let res = resolve_existing(ctx.store(), path)?;
    super::authorize(ctx, ctx.target(&res), Privilege::Read, &res.href(ctx.hrefs()))?;
    let members = if depth_one { members(ctx, &res)? } else { vec![] };
    // Responses are written out as they are described; ~300 bytes each for the usual props.
    let mut ms = MultistatusWriter::new(ctx.headers.minimal, 300 * (members.len() + 1));
    ms.push(&describe(ctx, &res, &request, None)?);
    if !members.is_empty() {
        // One read for the dead properties of all members instead of one per member.
        let wants_dead = may_ask_dead_props(&request);
        let mut dead = match &res {
            Resource::Collection { coll, .. } if wants_dead => Some(ctx.store().member_dead_props(coll.id)?),
            _ => None,
        };
        for member in members {
            // Each member is authorised too: only what the subject may read is listed.
            if !acl::effective_privileges(&ctx.subject, ctx.target(&member)).contains(Privilege::Read) {
                continue;
            }
            // A share in a home is not a stored member of it: its properties are read apart.
            let shared =
                matches!(&member, Resource::Collection { coll, place } if place.is_mounted(coll.owner_id));
            let props = match (dead.as_mut(), prop_target(&member)) {
                _ if !wants_dead => Vec::new(),
                (Some(all), Some(target)) if !shared => all.remove(&target).unwrap_or_default(),
                _ => dead_props(ctx, &member)?,
            };
            ms.push(&describe_with(ctx, &member, &request, None, props)?);
        }
    }
    Ok(multistatus_xml_response(ctx, ms.finish(None)))
}

/// The children of a resource for Depth 1. Virtual collections list only what belongs to
/// the subject (principals and homes of others are reachable by URL, not enumerable).
pub fn members(ctx: &Ctx<'_>, res: &Resource) -> DavResult<Vec<Resource>> {
    let me = &ctx.subject.principal;
    let home = |kind| -> DavResult<Vec<Resource>> {
        let Some(coll) = ctx.store().home(me.id, kind)? else {
            return Ok(vec![]);
        };
        let place = super::super::resource::Place {
            area: kind,
            owner: std::sync::Arc::new(me.clone()),
            segments: vec![],
        };
        Ok(vec![Resource::Collection { coll: std::sync::Arc::new(coll), place }])
    };
    Ok(match res {
        Resource::Root => vec![Resource::DavRoot],
        Resource::DavRoot => vec![
            Resource::Principals,
            Resource::Homes(HomeKind::Calendar),
            Resource::Homes(HomeKind::Addressbook),
        ],
        Resource::Principals => vec![Resource::Principal(me.clone())],
        Resource::Homes(kind) => home(*kind)?,
        Resource::Collection { coll, place } => {
            let stored = ctx.store().members(coll.id)?;
            let mut members: Vec<Resource> = stored.into_iter().filter_map(|m| res.member(m)).collect();
            if coll.kind.is_home() {
                members.extend(super::super::resource::mounted_members(ctx.store(), place)?);
            }
            members
        }
        Resource::Principal(_) | Resource::Object { .. } => vec![],
    })
}

fn prop_target(res: &Resource) -> Option<PropTarget> {
    match res {
        Resource::Collection { coll, .. } => Some(PropTarget::Collection(coll.id)),
        Resource::Object { meta, .. } => Some(PropTarget::Object(meta.id)),
        _ => None,
    }
}

pub(super) fn dead_props(ctx: &Ctx<'_>, res: &Resource) -> DavResult<Vec<DeadProp>> {
    match prop_target(res) {
        Some(target) => Ok(ctx.store().dead_props(target)?),
        None => Ok(vec![]),
    }
}

/// What the REPORT-only properties `C:calendar-data` and `CR:address-data` should hold.
#[derive(Clone, Copy)]
pub struct Content<'a> {
    /// The request's calendar-data element (selection, expand); `None` = as stored.
    pub calendar: Option<&'a crate::caldav::request::CalendarData>,
    /// The zone floating times are read in, for expansion.
    pub floating: chrono_tz::Tz,
    /// The request's address-data element (version, selection); `None` = as stored.
    pub address: Option<&'a crate::carddav::request::AddressData>,
    /// The object's body when the caller already read it (queries get it with the
    /// candidates), so it is not read a second time: (object id, body).
    pub body: Option<(crate::store::Id, &'a [u8])>,
}

impl Default for Content<'_> {
    fn default() -> Self {
        Content { calendar: None, floating: chrono_tz::UTC, address: None, body: None }
    }
}

/// One `<D:response>` for a resource: requested properties grouped by status. `content`
/// (REPORTs only) enables `C:calendar-data` and `CR:address-data`.
pub fn describe(
    ctx: &Ctx<'_>,
    res: &Resource,
    request: &Propfind,
    content: Option<&Content<'_>>,
) -> DavResult<Response> {
    let dead = if may_ask_dead_props(request) { dead_props(ctx, res)? } else { Vec::new() };
    describe_with(ctx, res, request, content, dead)
}

/// Whether answering `request` may need stored (dead) properties. Protected names and the
/// REPORT content properties can never be dead (PROPPATCH refuses the former, and the latter
/// are computed), so the usual sync requests (getetag, calendar-data) skip that read: it was
/// one query per object of every query, multiget and listing.
pub fn may_ask_dead_props(request: &Propfind) -> bool {
    use crate::dav::names::{CALDAV, CARDDAV};
    match request {
        Propfind::Prop(names) => names.iter().any(|q| {
            !(props::is_protected(q) || q.is(CALDAV, "calendar-data") || q.is(CARDDAV, "address-data"))
        }),
        Propfind::AllProp { .. } | Propfind::PropName => true,
    }
}

/// `describe` with the resource's dead properties already read.
pub fn describe_with(
    ctx: &Ctx<'_>,
    res: &Resource,
    request: &Propfind,
    content: Option<&Content<'_>>,
    dead: Vec<DeadProp>,
) -> DavResult<Response> {
    let find_dead = |q: &QName| dead.iter().find(|d| d.ns == q.ns && d.name == q.name);
    let mut found: Vec<(QName, PropValue)> = Vec::new();
    let mut missing: Vec<(QName, PropValue)> = Vec::new();
    // Content that could not be produced (e.g. an expansion over max-instances) keeps its
    // status and condition in a propstat of its own.
    let mut refused: Vec<(QName, DavError)> = Vec::new();
    let mut lookup = |q: QName| {
        if let Some(d) = find_dead(&q) {
            found.push((q, PropValue::Dead(d.xml.clone())));
        } else if let Some(v) = props::live(ctx, res, &q) {
            found.push((q, v));
        } else if let Some(v) = content.and_then(|c| object_content(ctx, res, &q, c)) {
            match v {
                Ok(v) => found.push((q, v)),
                Err(e) => refused.push((q, e)),
            }
        } else {
            missing.push((q, PropValue::Empty));
        }
    };
    match request {
        Propfind::Prop(names) => names.iter().cloned().for_each(&mut lookup),
        Propfind::AllProp { include } => {
            let mut names = props::allprop_names(res);
            names.extend(include.iter().cloned());
            names.dedup();
            names.into_iter().filter(|q| find_dead(q).is_none()).for_each(&mut lookup);
            // Requested names that are absent are simply not listed with allprop.
            missing.clear();
            found.extend(dead.iter().map(|d| (QName::new(&d.ns, &d.name), PropValue::Dead(d.xml.clone()))));
        }
        Propfind::PropName => {
            found.extend(props::live_names(res).into_iter().map(|q| (q, PropValue::Empty)));
            found.extend(dead.iter().map(|d| (QName::new(&d.ns, &d.name), PropValue::Empty)));
        }
    }
    let mut stats = vec![Propstat { status: StatusCode::OK, props: found, condition: None }];
    stats.extend(unfound_propstats(missing, refused));
    Ok(Response { href: res.href(ctx.hrefs()), body: ResponseBody::Propstats(stats) })
}

/// `describe_with` written straight into `ms` instead of built as a `Response`: the usual
/// REPORT answer (a few named properties and the object's body) then costs no property list,
/// no copy of the body and no href string of its own. `href` replaces the resource's own
/// (a multiget answers with the href it was asked for). Writes exactly what
/// `ms.push(&describe_with(..))` writes.
pub fn describe_into(
    ms: &mut MultistatusWriter,
    ctx: &Ctx<'_>,
    res: &Resource,
    request: &Propfind,
    content: Option<&Content<'_>>,
    dead: Vec<DeadProp>,
    href: Option<&str>,
) -> DavResult<()> {
    let Propfind::Prop(names) = request else {
        // allprop and propname: rare in reports; listed first, then written.
        let mut r = describe_with(ctx, res, request, content, dead)?;
        if let Some(h) = href {
            h.clone_into(&mut r.href);
        }
        ms.push(&r);
        return Ok(());
    };
    let own;
    let href = match href {
        Some(h) => h,
        None => {
            own = res.href(ctx.hrefs());
            &own
        }
    };
    ms.open_response(href);
    let mut ok_open = false;
    let mut open_ok = |ms: &mut MultistatusWriter| {
        if !std::mem::replace(&mut ok_open, true) {
            ms.open_ok_props();
        }
    };
    let mut missing: Vec<(QName, PropValue)> = Vec::new();
    let mut refused: Vec<(QName, DavError)> = Vec::new();
    for q in names {
        if let Some(d) = dead.iter().find(|d| d.ns == q.ns && d.name == q.name) {
            open_ok(ms);
            ms.buffer().push_str(&d.xml);
        } else if let Some(v) = props::live(ctx, res, q) {
            open_ok(ms);
            write_prop(ms.buffer(), q, &v);
        } else if let Some(v) = content.and_then(|c| rendered_content(ctx, res, q, c)) {
            match v {
                Ok(Rendered::Stored(body)) => {
                    open_ok(ms);
                    match std::str::from_utf8(&body) {
                        Ok(text) => write_text_prop(ms.buffer(), q, text),
                        Err(_) => write_text_prop(ms.buffer(), q, &String::from_utf8_lossy(&body)),
                    }
                }
                Ok(Rendered::Value(v)) => {
                    open_ok(ms);
                    write_prop(ms.buffer(), q, &v);
                }
                Err(e) => refused.push((q.clone(), e)),
            }
        } else {
            missing.push((q.clone(), PropValue::Empty));
        }
    }
    if ok_open {
        ms.close_ok_props();
    }
    ms.push_propstats(&unfound_propstats(missing, refused));
    ms.close_response();
    Ok(())
}

/// The propstats after the 200 one: the missing properties (404), then each content property
/// that could not be produced, with its own status and condition.
fn unfound_propstats(missing: Vec<(QName, PropValue)>, refused: Vec<(QName, DavError)>) -> Vec<Propstat> {
    let mut stats = Vec::new();
    if !missing.is_empty() {
        stats.push(Propstat { status: StatusCode::NOT_FOUND, props: missing, condition: None });
    }
    for (q, e) in refused {
        stats.push(Propstat { status: e.status, props: vec![(q, PropValue::Empty)], condition: e.condition });
    }
    stats
}

/// What `C:calendar-data` / `CR:address-data` holds: the stored bytes as they are (borrowed
/// when the caller read them), or a value made from them.
enum Rendered<'a> {
    Stored(std::borrow::Cow<'a, [u8]>),
    Value(PropValue),
}

/// The body of a calendar object or vCard as the value of `C:calendar-data` /
/// `CR:address-data`, served as stored.
fn object_content(
    ctx: &Ctx<'_>,
    res: &Resource,
    q: &QName,
    content: &Content<'_>,
) -> Option<Result<PropValue, DavError>> {
    rendered_content(ctx, res, q, content).map(|r| {
        r.map(|r| match r {
            Rendered::Stored(body) => PropValue::Text(crate::dav::xml::body_text(&body)),
            Rendered::Value(v) => v,
        })
    })
}

fn rendered_content<'a>(
    ctx: &Ctx<'_>,
    res: &Resource,
    q: &QName,
    content: &Content<'a>,
) -> Option<Result<Rendered<'a>, DavError>> {
    use crate::dav::names::{CALDAV, CARDDAV};
    use crate::store::CollectionKind;
    let Resource::Object { meta, parent, .. } = res else {
        return None;
    };
    let wanted = match parent.kind {
        CollectionKind::Calendar => q.is(CALDAV, "calendar-data"),
        CollectionKind::Addressbook => q.is(CARDDAV, "address-data"),
        _ => false,
    };
    if !wanted {
        return None;
    }
    let body: std::borrow::Cow<'a, [u8]> = match content.body {
        Some((id, body)) if id == meta.id => body.into(),
        _ => ctx.store().object_body(meta.id).ok()??.into(),
    };
    let value = |t| Ok(Rendered::Value(PropValue::Text(t)));
    if let Some(spec) = content.address.filter(|_| parent.kind == CollectionKind::Addressbook) {
        if crate::carddav::address_data::is_verbatim(spec) {
            return Some(Ok(Rendered::Stored(body)));
        }
        return crate::carddav::address_data::render(&body, spec).map(value);
    }
    Some(match content.calendar.filter(|_| parent.kind == CollectionKind::Calendar) {
        Some(spec) if !crate::caldav::calendar_data::is_verbatim(spec) => {
            crate::caldav::calendar_data::render(&body, spec, content.floating).and_then(value)
        }
        _ => Ok(Rendered::Stored(body)),
    })
}

//! REPORT (RFC 3253 §3.6): sync-collection (RFC 6578), calendar-multiget (RFC 4791 §7.9),
//! addressbook-multiget (RFC 6352 §8.7); the queries and principal searches live in their
//! own modules.

use std::borrow::Cow;
use std::collections::HashMap;

use http::{StatusCode, Uri};

use super::super::body::Propfind;
use super::super::error::{Condition, DavError, DavResult};
use super::super::multistatus::{MultistatusWriter, Response, ResponseBody};
use super::super::paths::{self, DavPath};
use super::super::report::{Report, parse_report};
use super::super::resource::{Located, Resource, resolve, resolve_existing};
use super::super::{Ctx, DavResponse, multistatus_xml_response};
use super::Content;
use super::propfind::describe_into;
use crate::acl::{self, Privilege};
use crate::store::{CollectionKind, LoadedObject, Member};

/// Most hrefs one multiget may name: bounded work per request.
const MAX_MULTIGET_HREFS: usize = 1000;

pub fn report(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    let report = parse_report(body)?;
    let res = resolve_existing(ctx.store(), path)?;
    // free-busy-query needs only read-free-busy (RFC 4791 §7.10) and authorises itself.
    if !matches!(report, Report::FreeBusyQuery(_)) {
        super::authorize(ctx, ctx.target(&res), Privilege::Read, &res.href(ctx.hrefs()))?;
    }
    // The reports that read and write out many objects run a few at a time, in arrival order
    // (see `admission`); the others are short and pass.
    let heavy =
        matches!(report, Report::Multiget { .. } | Report::AddressbookQuery(_) | Report::CalendarQuery(_));
    let _permit = heavy.then(|| crate::dav::admission::heavy_reads().enter());
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
        Report::PrincipalPropertySearch(search) => {
            crate::principal_search::property_search::principal_property_search(ctx, &res, &search)
        }
        Report::PrincipalSearchPropertySet => {
            crate::principal_search::property_search::principal_search_property_set(ctx)
        }
        Report::PrincipalMatch(request) => {
            crate::principal_search::principal_match::principal_match(ctx, &res, &request)
        }
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
    let dead_props = super::propfind::may_ask_dead_props(props);
    // The usual multiget names members of the collection it is sent to: those are read in
    // one store call, and their hrefs need no path parsing (it was ~15 % of the request).
    let direct: Vec<Option<Cow<'_, str>>> = match res {
        Resource::Collection { .. } => {
            let prefix = res.href(ctx.hrefs());
            hrefs.iter().map(|h| direct_member(&prefix, h)).collect()
        }
        _ => vec![None; hrefs.len()],
    };
    // Each member segment named once, sorted; `slot_of[k]` is the slot of href k's. Slots, not
    // a map keyed by segment: hashing was ~3 % of a 100-href multiget.
    let mut by_segment: Vec<usize> = (0..hrefs.len()).filter(|&k| direct[k].is_some()).collect();
    by_segment.sort_unstable_by(|&a, &b| direct[a].cmp(&direct[b]));
    let mut segments: Vec<&str> = Vec::with_capacity(by_segment.len());
    let mut slot_of: Vec<Option<usize>> = vec![None; hrefs.len()];
    // How often each slot's segment is named: its object is moved out at the last mention and
    // copied before that.
    let mut mentions: Vec<usize> = Vec::with_capacity(by_segment.len());
    for k in by_segment {
        let segment = direct[k].as_deref().unwrap_or_default();
        if segments.last() != Some(&segment) {
            segments.push(segment);
            mentions.push(0);
        }
        slot_of[k] = Some(segments.len() - 1);
        *mentions.last_mut().expect("pushed") += 1;
    }
    let mut members: Vec<Option<LoadedObject>> = Vec::new();
    if let Resource::Collection { coll, .. } = res
        && !segments.is_empty()
    {
        members.resize_with(segments.len(), || None);
        for object in ctx.store().loaded_objects(coll.id, &segments, dead_props)? {
            if let Ok(i) = segments.binary_search(&object.meta.segment.as_str()) {
                members[i] = Some(object);
            }
        }
    }
    let paths: Vec<Option<DavPath>> =
        hrefs.iter().zip(&direct).map(|(h, d)| if d.is_some() { None } else { href_path(ctx, h) }).collect();
    let mut loaded = load_members(ctx, &paths, dead_props)?;
    // Each answer is written out as soon as it is described (not held until the end); a body
    // grows by ~1/9 when its CRs are escaped.
    let size: usize = loaded
        .values()
        .map(|(_, o)| &o.body)
        .chain(members.iter().flatten().map(|o| &o.body))
        .map(|b| b.len() + b.len() / 8 + 300)
        .sum();
    let mut ms = MultistatusWriter::new(ctx.headers.minimal, size);
    for (k, (href, path)) in hrefs.iter().zip(&paths).enumerate() {
        if let Some(slot) = slot_of[k] {
            mentions[slot] -= 1;
            let object = match mentions[slot] {
                0 => members.get_mut(slot).and_then(Option::take),
                _ => members.get(slot).cloned().flatten(),
            };
            match object {
                Some(mut object) => {
                    let dead = std::mem::take(&mut object.dead_props);
                    let body = std::mem::take(&mut object.body);
                    let member = res.member(Member::Object(object.meta)).ok_or_else(DavError::not_found)?;
                    describe_loaded(&mut ms, ctx, &member, &body, dead, href, props, content)?;
                }
                None => ms.push(&status(href, StatusCode::NOT_FOUND)),
            }
            continue;
        }
        match path.as_ref().and_then(|p| loaded.remove(p)) {
            Some((member, mut object)) => {
                let dead = std::mem::take(&mut object.dead_props);
                describe_loaded(&mut ms, ctx, &member, &object.body, dead, href, props, content)?;
            }
            // Not a member object of a collection (or named twice): resolved on its own.
            None => ms.push(&multiget_one(ctx, href, path.as_ref(), props, content)?),
        }
    }
    Ok(multistatus_xml_response(ctx, ms.finish(None)))
}

/// The answer for a member read ahead of the loop: 403 without read access, else its
/// properties with the stored body.
#[allow(clippy::too_many_arguments)]
fn describe_loaded(
    ms: &mut MultistatusWriter,
    ctx: &Ctx<'_>,
    member: &Resource,
    body: &[u8],
    dead: Vec<crate::store::DeadProp>,
    href: &str,
    props: &Propfind,
    content: &Content<'_>,
) -> DavResult<()> {
    if !acl::effective_privileges(&ctx.subject, ctx.target(member)).contains(Privilege::Read) {
        ms.push(&status(href, StatusCode::FORBIDDEN));
        return Ok(());
    }
    let Resource::Object { meta, .. } = member else { return Err(DavError::not_found()) };
    let with_body = Content { body: Some((meta.id, body)), ..*content };
    describe_into(ms, ctx, member, props, Some(&with_body), dead, Some(href))
}

/// The member segment an href names when it is `collection_href` followed by one segment
/// (the usual multiget href): decoded as `paths::parse` decodes it, and checked as there.
fn direct_member<'h>(collection_href: &str, href: &'h str) -> Option<Cow<'h, str>> {
    let raw = href.strip_prefix(collection_href)?;
    // Only what `href_path` takes as a plain path; anything else goes its general way.
    if raw.is_empty() || !raw.bytes().all(|b| b != b'/' && is_plain_path_byte(b)) {
        return None;
    }
    if !raw.contains('%') && raw != "." && raw != ".." && raw.len() <= paths::MAX_SEGMENT_BYTES {
        // Printable ASCII without escapes: the segment is the text itself.
        return Some(Cow::Borrowed(raw));
    }
    paths::decode_segment(raw).ok().map(Cow::Owned)
}

/// Hrefs may be absolute URLs or paths, percent-encoded (DAVx5 sends encoded paths).
fn href_path(ctx: &Ctx<'_>, href: &str) -> Option<DavPath> {
    // The usual href is an absolute path of RFC 3986 path characters only: that is its own
    // path, with no URI parse (100 of them per multiget).
    let plain_path = href.starts_with('/') && !href.starts_with("//") && href.bytes().all(is_plain_path_byte);
    let parsed;
    let path = if plain_path {
        href
    } else {
        parsed = href.parse::<Uri>().ok().map(|u| u.path().to_owned()).unwrap_or_default();
        parsed.as_str()
    };
    paths::parse(&ctx.state.config.base_path, path).ok().map(|(p, _)| p)
}

/// RFC 3986 path characters (unreserved, sub-delims, `:`, `@`, `/`, and `%` of escapes).
fn is_plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:@".contains(&b)
}

/// The objects the paths name, read per parent collection in one store call each (the hrefs
/// of a multiget are nearly always members of one collection) instead of resolving every
/// path from its owner down and reading meta, body and properties apart: ~7 reads per href.
fn load_members(
    ctx: &Ctx<'_>,
    paths: &[Option<DavPath>],
    dead_props: bool,
) -> DavResult<HashMap<DavPath, (Resource, LoadedObject)>> {
    let mut by_parent: HashMap<DavPath, Vec<&str>> = HashMap::new();
    for path in paths.iter().flatten() {
        if let DavPath::InHome { kind, owner, rest } = path
            && let Some((last, parents)) = rest.split_last()
        {
            let parent = DavPath::InHome { kind: *kind, owner: owner.clone(), rest: parents.to_vec() };
            let segments = by_parent.entry(parent).or_default();
            if !segments.contains(&last.as_str()) {
                segments.push(last);
            }
        }
    }
    let mut out = HashMap::new();
    for (parent_path, segments) in by_parent {
        let Located::Found(parent @ Resource::Collection { .. }) = resolve(ctx.store(), &parent_path)? else {
            continue;
        };
        let Resource::Collection { coll, .. } = &parent else { continue };
        for object in ctx.store().loaded_objects(coll.id, &segments, dead_props)? {
            let DavPath::InHome { kind, owner, rest } = &parent_path else { continue };
            let mut rest = rest.clone();
            rest.push(object.meta.segment.clone());
            let path = DavPath::InHome { kind: *kind, owner: owner.clone(), rest };
            if let Some(member) = parent.member(Member::Object(object.meta.clone())) {
                out.insert(path, (member, object));
            }
        }
    }
    Ok(out)
}

fn status(href: &str, status: StatusCode) -> Response {
    Response { href: href.to_owned(), body: ResponseBody::Status(status, None) }
}

fn multiget_one(
    ctx: &Ctx<'_>,
    href: &str,
    path: Option<&DavPath>,
    props: &Propfind,
    content: &Content<'_>,
) -> DavResult<Response> {
    let Some(dav_path) = path else {
        return Ok(status(href, StatusCode::NOT_FOUND));
    };
    let member = match resolve(ctx.store(), dav_path)? {
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

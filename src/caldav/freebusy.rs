//! The free-busy-query REPORT (RFC 4791 §7.10): the busy time of a calendar collection over
//! a range, as one VFREEBUSY, for whoever holds `C:read-free-busy` (or `D:read`) on it.
//!
//! Busy time comes from the instances of VEVENTs (FBTYPE from TRANSP and STATUS, per the
//! §7.10 table: TRANSPARENT and CANCELLED are free, TENTATIVE is BUSY-TENTATIVE, everything
//! else BUSY) and from the FREEBUSY properties of stored VFREEBUSY components. VAVAILABILITY
//! is not consulted. Periods are clipped to the range, coalesced per FBTYPE and sorted.

use std::collections::HashMap;

use http::StatusCode;

use super::request::parse_utc;
use crate::acl::{self, Privilege};
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::names::CALDAV;
use crate::dav::resource::Resource;
use crate::dav::xml::Element;
use crate::dav::{Ctx, DavResponse, respond};
use crate::ical::serialize::{self, BusyPeriod, BusyType};
use crate::ical::view::{self, PropertyView};
use crate::ical::{self, ICalendar, IcalError};
use crate::store::{CollectionKind, TimeSpan};

/// Most instances one object may contribute inside the range: CALDAV:max-instances.
const MAX_INSTANCES: usize = super::validate_put::MAX_INSTANCES;

/// The request: a UTC range, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeBusyQuery {
    pub start: i64,
    pub end: i64,
}

/// `<C:free-busy-query><C:time-range start=… end=…/></C:free-busy-query>`: exactly one
/// time-range (§7.10 marshalling) with both bounds as UTC date-times and end after start;
/// anything else is a malformed request, 400.
pub fn parse_free_busy_query(root: &Element) -> DavResult<FreeBusyQuery> {
    let mut ranges = root.elements().filter(|e| e.is(CALDAV, "time-range"));
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return Err(DavError::bad_request("free-busy-query takes exactly one CALDAV:time-range"));
    };
    let bound = |name: &str| -> DavResult<i64> {
        let value = range.attr(name).ok_or_else(|| {
            DavError::bad_request(format!("free-busy-query time-range needs a {name} attribute"))
        })?;
        parse_utc(value).ok_or_else(|| {
            DavError::bad_request(format!(
                "time-range {name}={value:?} is not a UTC date-time like 20260101T000000Z"
            ))
        })
    };
    let (start, end) = (bound("start")?, bound("end")?);
    if end <= start {
        return Err(DavError::bad_request("time-range end must be after its start"));
    }
    Ok(FreeBusyQuery { start, end })
}

/// Runs the report on `res`. The Depth header is not consulted: on a calendar collection the
/// report always covers its calendar objects, as clients mean it.
pub fn free_busy_query(ctx: &Ctx<'_>, res: &Resource, query: FreeBusyQuery) -> DavResult<DavResponse> {
    let target = ctx.target(res);
    // read-free-busy is aggregated under read (RFC 4791 §6.1.1); either one suffices.
    if !acl::effective_privileges(&ctx.subject, target).contains(Privilege::Read) {
        acl::authorize(&ctx.subject, target, Privilege::ReadFreeBusy, &res.href(ctx.hrefs()))?;
    }
    let coll = match res {
        Resource::Collection { coll, .. } if coll.kind == CollectionKind::Calendar => coll,
        Resource::Object { .. } => {
            return Err(DavError::new(
                StatusCode::FORBIDDEN,
                "free-busy-query runs on a calendar collection, not on a calendar object (RFC 4791 §7.10)",
            ));
        }
        _ => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::SupportedReport,
                "free-busy-query applies to calendar collections",
            ));
        }
    };
    let tz = super::floating_zone(coll, None);
    let span = TimeSpan { start: Some(query.start), end: Some(query.end) };
    let mut busy = Vec::new();
    for comp in ["VEVENT", "VFREEBUSY"] {
        for (meta, body) in ctx.store().query_candidates(coll.id, Some(comp), Some(span))? {
            let Ok(object) = ical::parse(&body) else {
                tracing::warn!(object = meta.id, "stored calendar object no longer parses; skipped");
                continue;
            };
            match busy_time(&object, query, tz) {
                Ok(periods) => busy.extend(periods),
                Err(IcalError::TooManyInstances) => {
                    return Err(DavError::with(
                        StatusCode::FORBIDDEN,
                        Condition::NumberOfMatchesWithinLimits,
                        format!(
                            "{} has more than {MAX_INSTANCES} instances in the range; ask for a shorter one",
                            meta.segment
                        ),
                    ));
                }
                Err(e) => {
                    tracing::warn!(object = meta.id, error = %e, "calendar object skipped in free-busy")
                }
            }
        }
    }
    let periods = merge(busy);
    let text = serialize::freebusy(query.start, query.end, chrono::Utc::now().timestamp(), &periods);
    Ok(respond(StatusCode::OK, "text/calendar; charset=utf-8", text.into_bytes()))
}

/// The busy periods one object contributes to `query`, clipped to it.
pub fn busy_time(
    object: &ICalendar,
    query: FreeBusyQuery,
    tz: chrono_tz::Tz,
) -> Result<Vec<BusyPeriod>, IcalError> {
    let mut out = Vec::new();
    let mut push = |start: i64, end: i64, kind: BusyType| {
        let (start, end) = (start.max(query.start), end.min(query.end));
        if end > start {
            out.push(BusyPeriod { start, end, kind });
        }
    };
    let mut event_kind: HashMap<usize, Option<BusyType>> = HashMap::new();
    for instance in ical::instances(object, Some(query.start), Some(query.end), tz, MAX_INSTANCES)? {
        let kind = *event_kind.entry(instance.component).or_insert_with(|| {
            let component = &object.components[instance.component];
            (view::component_name(component) == "VEVENT")
                .then(|| event_busy_type(&view::properties(component)))
                .flatten()
        });
        if let Some(kind) = kind {
            push(instance.start, instance.end, kind);
        }
    }
    for component in object.components.iter().filter(|c| view::component_name(c) == "VFREEBUSY") {
        for prop in view::properties(component).iter().filter(|p| p.name == "FREEBUSY") {
            let Some(kind) = fbtype(prop) else { continue };
            for (start, end) in prop.value.split(',').filter_map(period) {
                push(start, end, kind);
            }
        }
    }
    Ok(out)
}

/// RFC 4791 §7.10 table: TRANSPARENT or CANCELLED → free (`None`); TENTATIVE →
/// BUSY-TENTATIVE; CONFIRMED, none or an x-name → BUSY.
fn event_busy_type(props: &[PropertyView]) -> Option<BusyType> {
    let value =
        |name: &str| props.iter().find(|p| p.name == name).map(|p| p.value.trim().to_ascii_uppercase());
    if value("TRANSP").as_deref() == Some("TRANSPARENT") {
        return None;
    }
    match value("STATUS").as_deref() {
        Some("CANCELLED") => None,
        Some("TENTATIVE") => Some(BusyType::BusyTentative),
        _ => Some(BusyType::Busy),
    }
}

/// The FBTYPE of a stored FREEBUSY property (RFC 5545 §3.2.9: default BUSY, unknown values
/// are BUSY); FREE time is not busy time.
fn fbtype(prop: &PropertyView) -> Option<BusyType> {
    let value = prop.params.iter().find(|(name, _)| name == "FBTYPE").and_then(|(_, v)| v.first());
    match value.map(|v| v.to_ascii_uppercase()).as_deref() {
        Some("FREE") => None,
        Some("BUSY-TENTATIVE") => Some(BusyType::BusyTentative),
        Some("BUSY-UNAVAILABLE") => Some(BusyType::BusyUnavailable),
        _ => Some(BusyType::Busy),
    }
}

/// One PERIOD value (RFC 5545 §3.3.9) in UTC, as FREEBUSY requires (§3.8.2.6): `start/end` or
/// `start/duration`. Anything else, or a negative period, is ignored.
fn period(text: &str) -> Option<(i64, i64)> {
    let (start, rest) = text.trim().split_once('/')?;
    let start = parse_utc(start)?;
    let end = match rest.strip_prefix('+').unwrap_or(rest) {
        d if d.starts_with('P') => start.checked_add(duration(&d[1..])?)?,
        end => parse_utc(end)?,
    };
    (end > start).then_some((start, end))
}

/// The part of a DURATION after `P` (RFC 5545 §3.3.6), exact seconds: `nW`, or `nD`
/// followed by an optional `T` with `nH`, `nM`, `nS`.
fn duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut in_time = false;
    let mut any = false;
    for ch in text.chars() {
        match ch {
            '0'..='9' => number.push(ch),
            'T' if number.is_empty() && !in_time => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                let unit = match (ch, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
            _ => return None,
        }
    }
    (any && number.is_empty()).then_some(total)
}

/// Coalesces overlapping or touching periods of the same FBTYPE (§7.10: "SHOULD coalesce
/// consecutive or overlapping busy time periods of the same type"), sorted by start.
pub fn merge(mut periods: Vec<BusyPeriod>) -> Vec<BusyPeriod> {
    periods.sort_by_key(|p| (p.kind, p.start, p.end));
    let mut merged: Vec<BusyPeriod> = Vec::with_capacity(periods.len());
    for p in periods {
        match merged.last_mut() {
            Some(last) if last.kind == p.kind && p.start <= last.end => last.end = last.end.max(p.end),
            _ => merged.push(p),
        }
    }
    merged.sort_by_key(|p| (p.start, p.end, p.kind));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_utc(text).unwrap()
    }

    fn query(body: &str) -> DavResult<FreeBusyQuery> {
        parse_free_busy_query(&crate::dav::xml::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn request_needs_one_complete_range() {
        let ns = "xmlns:C=\"urn:ietf:params:xml:ns:caldav\"";
        let q = query(&format!(
            "<C:free-busy-query {ns}><C:time-range start=\"20060104T140000Z\" end=\"20060105T220000Z\"/></C:free-busy-query>"
        ))
        .unwrap();
        assert_eq!(q, FreeBusyQuery { start: at("20060104T140000Z"), end: at("20060105T220000Z") });
        for bad in [
            "",
            "<C:time-range start=\"20060104T140000Z\"/>",
            "<C:time-range end=\"20060104T140000Z\"/>",
            "<C:time-range start=\"2006-01-04\" end=\"20060105T220000Z\"/>",
            "<C:time-range start=\"20060105T220000Z\" end=\"20060104T140000Z\"/>",
            "<C:time-range start=\"20060104T140000Z\" end=\"20060105T220000Z\"/><C:time-range start=\"20060104T140000Z\" end=\"20060105T220000Z\"/>",
        ] {
            let e = query(&format!("<C:free-busy-query {ns}>{bad}</C:free-busy-query>")).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn periods_and_durations() {
        assert_eq!(
            period("20260105T100000Z/20260105T110000Z"),
            Some((at("20260105T100000Z"), at("20260105T110000Z")))
        );
        assert_eq!(
            period("20260105T100000Z/PT1H30M"),
            Some((at("20260105T100000Z"), at("20260105T113000Z")))
        );
        assert_eq!(period("20260105T100000Z/P1DT1H"), Some((at("20260105T100000Z"), at("20260106T110000Z"))));
        assert_eq!(period("20260105T100000Z/P1W"), Some((at("20260105T100000Z"), at("20260112T100000Z"))));
        assert_eq!(period("20260105T100000Z/-PT1H"), None);
        assert_eq!(period("20260105T100000/PT1H"), None, "FREEBUSY is UTC");
        assert_eq!(period("20260105T100000Z/P1H"), None, "hours need T");
    }

    #[test]
    fn merging_coalesces_per_type() {
        let p = |s: &str, e: &str, kind| BusyPeriod { start: at(s), end: at(e), kind };
        let merged = merge(vec![
            p("20260105T110000Z", "20260105T120000Z", BusyType::Busy),
            p("20260105T100000Z", "20260105T110000Z", BusyType::Busy),
            p("20260105T103000Z", "20260105T113000Z", BusyType::BusyTentative),
            p("20260105T130000Z", "20260105T140000Z", BusyType::Busy),
            p("20260105T131500Z", "20260105T133000Z", BusyType::Busy),
        ]);
        assert_eq!(
            merged,
            vec![
                p("20260105T100000Z", "20260105T120000Z", BusyType::Busy),
                p("20260105T103000Z", "20260105T113000Z", BusyType::BusyTentative),
                p("20260105T130000Z", "20260105T140000Z", BusyType::Busy),
            ]
        );
    }

    #[test]
    fn busy_time_follows_the_transp_status_table() {
        let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n\
                    BEGIN:VEVENT\r\nUID:s\r\nDTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20260106T090000Z\r\nDTSTART:20260106T090000Z\r\nDURATION:PT1H\r\nSTATUS:TENTATIVE\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20260107T090000Z\r\nDTSTART:20260107T090000Z\r\nDURATION:PT1H\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
                    END:VCALENDAR\r\n";
        let object = ical::parse(body.as_bytes()).unwrap();
        let q = FreeBusyQuery { start: at("20260105T093000Z"), end: at("20260110T000000Z") };
        let busy = busy_time(&object, q, chrono_tz::UTC).unwrap();
        assert_eq!(
            busy,
            vec![
                BusyPeriod {
                    start: at("20260105T093000Z"),
                    end: at("20260105T100000Z"),
                    kind: BusyType::Busy
                },
                BusyPeriod {
                    start: at("20260106T090000Z"),
                    end: at("20260106T100000Z"),
                    kind: BusyType::BusyTentative
                },
            ]
        );
    }
}

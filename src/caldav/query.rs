//! The calendar-query REPORT (RFC 4791 §7.8): candidates come from the index (component
//! type and occurrence span), and only candidates are parsed and filtered exactly.

use http::StatusCode;

use super::filter::Evaluator;
use super::request::{CalendarQuery, CompFilter, TimeRange};
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::headers::Depth;
use crate::dav::methods::{Content, describe_object};
use crate::dav::multistatus::Multistatus;
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response};
use crate::ical;
use crate::store::{Candidate, CollectionKind, TimeSpan};

/// The component type and time span the index can narrow the query to: only when the
/// filter asks for exactly one type of component (the usual VEVENT or VTODO query).
fn prefilter(filter: &CompFilter) -> (Option<&str>, Option<TimeSpan>) {
    let [only] = filter.comp_filters.as_slice() else { return (None, None) };
    if only.is_not_defined || !matches!(only.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY") {
        return (None, None);
    }
    // One second of slack: some §9.9 VTODO conditions include their boundaries.
    let span = only.time_range.map(|tr| TimeSpan {
        start: tr.start.map(|s| s.saturating_sub(1)),
        end: tr.end.map(|e| e.saturating_add(1)),
    });
    (Some(only.name.as_str()), span)
}

/// The time range of the common filter shape the index answers alone: VCALENDAR holding one
/// VEVENT comp-filter with a time-range and nothing else (no property, parameter or nested
/// filters, no is-not-defined). An object whose instance list covers the range then matches
/// iff one of its instances overlaps it (RFC 4791 §9.9), whatever the calendar's zone: the
/// list exists only for objects without floating times.
fn indexed_range(filter: &CompFilter) -> Option<TimeRange> {
    let [only] = filter.comp_filters.as_slice() else { return None };
    let plain = |f: &CompFilter| !f.is_not_defined && f.prop_filters.is_empty();
    let simple = filter.name == "VCALENDAR"
        && plain(filter)
        && filter.time_range.is_none()
        && only.name == "VEVENT"
        && plain(only)
        && only.comp_filters.is_empty();
    if simple { only.time_range } else { None }
}

pub fn calendar_query(ctx: &Ctx<'_>, res: &Resource, query: &CalendarQuery) -> DavResult<DavResponse> {
    let (coll, single) = match res {
        Resource::Collection { coll, .. } if coll.kind == CollectionKind::Calendar => (coll, None),
        Resource::Object { parent, meta, .. } if parent.kind == CollectionKind::Calendar => {
            (parent, Some(meta))
        }
        _ => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::SupportedReport,
                "calendar-query applies to calendar collections and calendar objects",
            ));
        }
    };
    let mut ms = Multistatus::default();
    // Depth 0 on a collection evaluates the collection itself, which never matches (RFC 4791
    // §7.8); a missing Depth is taken as 1, as every client means it.
    if single.is_none() && ctx.headers.depth == Some(Depth::Zero) {
        return Ok(multistatus_response(ctx, &ms));
    }
    let tz = super::floating_zone(coll, query.timezone.as_deref());
    let (comp, span) = prefilter(&query.filter);
    let indexed = indexed_range(&query.filter);
    let candidates = ctx.store().indexed_candidates(coll.id, comp, span)?;
    let content = Content { calendar: query.calendar_data.as_ref(), floating: tz, ..Content::default() };
    for Candidate { meta, body, instances } in candidates {
        if single.is_some_and(|m| m.id != meta.id) {
            continue;
        }
        let listed = indexed.zip(instances.as_deref()).and_then(|(tr, list)| {
            ical::instance_list_overlaps(list, tr.start, tr.end)
        });
        let matched = match listed {
            Some(matched) => matched,
            None => {
                let Ok(parsed) = ical::parse(&body) else {
                    tracing::warn!(object = meta.id, "stored calendar object no longer parses; skipped");
                    continue;
                };
                Evaluator::new(&parsed, tz).matches(&query.filter)
            }
        };
        if matched {
            let with_body = Content { body: Some((meta.id, &body)), ..content };
            ms.responses.push(describe_object(ctx, res, meta, &query.props, &with_body)?);
        }
    }
    Ok(multistatus_response(ctx, &ms))
}

//! The calendar-query REPORT (RFC 4791 §7.8): candidates come from the index (component
//! type and occurrence span), and only candidates are parsed and filtered exactly.

use http::StatusCode;

use super::filter::Evaluator;
use super::request::{CalendarQuery, CompFilter};
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::headers::Depth;
use crate::dav::methods::{Content, describe_object};
use crate::dav::multistatus::Multistatus;
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response};
use crate::ical;
use crate::store::{CollectionKind, TimeSpan};

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
    let candidates = ctx.store().query_candidates(coll.id, comp, span)?;
    let content = Content { calendar: query.calendar_data.as_ref(), floating: tz, ..Content::default() };
    for (meta, body) in candidates {
        if single.is_some_and(|m| m.id != meta.id) {
            continue;
        }
        let Ok(parsed) = ical::parse(&body) else {
            tracing::warn!(object = meta.id, "stored calendar object no longer parses; skipped");
            continue;
        };
        if Evaluator::new(&parsed, tz).matches(&query.filter) {
            let with_body = Content { body: Some((meta.id, &body)), ..content };
            ms.responses.push(describe_object(ctx, res, meta, &query.props, &with_body)?);
        }
    }
    Ok(multistatus_response(ctx, &ms))
}

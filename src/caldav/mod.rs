//! CalDAV (RFC 4791): PUT validation, request types, filters and the calendar REPORTs.

pub mod backfill;
pub mod calendar_data;
pub mod filter;
pub mod freebusy;
pub mod query;
pub mod request;
pub mod validate_put;

/// The zone floating times of a calendar are read in (RFC 4791 §9.9): the calendar's
/// `calendar-timezone`, else the request's `C:timezone`, else UTC.
pub fn floating_zone(coll: &crate::store::Collection, request_tz: Option<&str>) -> chrono_tz::Tz {
    let from = |text: &str| crate::ical::calendar_timezone(text.as_bytes()).ok();
    coll.props
        .timezone
        .as_deref()
        .and_then(from)
        .or_else(|| request_tz.and_then(from))
        .unwrap_or(chrono_tz::UTC)
}

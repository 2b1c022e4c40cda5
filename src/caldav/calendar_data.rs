//! calendar-data in REPORT answers (RFC 4791 §9.6): the stored body, or — when the request
//! selects components/properties, expands recurrences or limits the recurrence set — a
//! re-serialised object.

use chrono_tz::Tz;
use http::StatusCode;

use super::request::{CalendarData, TimeRange};
use crate::dav::error::{Condition, DavError, DavResult};
use crate::ical::{self, IcalError, serialize};

/// Most instances one object may expand into (RFC 4791 §9.6.5): the calendar's advertised
/// CALDAV:max-instances (§5.2.8), which bounds the size of one answer.
pub const MAX_EXPANDED_INSTANCES: usize = super::validate_put::MAX_INSTANCES;

/// Whether the request wants exactly the stored body.
pub fn is_verbatim(spec: &CalendarData) -> bool {
    spec.select.is_none() && spec.expand.is_none() && spec.limit_recurrence_set.is_none()
}

/// The calendar-data of one object as the request asks for it: parsed, then expanded
/// (§9.6.5) or limited (§9.6.6) to the request's range, then reduced to the selected
/// components and properties (§9.6.1–§9.6.4), then written.
///
/// An expansion beyond [`MAX_EXPANDED_INSTANCES`] fails with 403 and
/// `DAV:number-of-matches-within-limits`: RFC 4791 defines no precondition for too large an
/// expansion, and that is the postcondition it gives calendar-query (§7.8) for answers beyond
/// the server's limits; a violated postcondition is answered 403 with the condition element
/// (RFC 3253 §1.6, RFC 4918 §16). In a multistatus it belongs in the calendar-data propstat
/// (RFC 4918 §16).
pub fn render(body: &[u8], spec: &CalendarData, floating: Tz) -> DavResult<String> {
    if is_verbatim(spec) {
        return Ok(crate::dav::xml::body_text(body));
    }
    let mut object = ical::parse(body).map_err(unreadable)?;
    if let Some(range) = spec.expand {
        let (from, to) = bounds(range);
        object = serialize::expand(&object, from, to, floating, MAX_EXPANDED_INSTANCES).map_err(|e| match e {
            IcalError::TooManyInstances => DavError::with(
                StatusCode::FORBIDDEN,
                Condition::NumberOfMatchesWithinLimits,
                format!("the expansion yields more than {MAX_EXPANDED_INSTANCES} instances; ask for a shorter range"),
            ),
            other => unreadable(other),
        })?;
    } else if let Some(range) = spec.limit_recurrence_set {
        let (from, to) = bounds(range);
        object = serialize::limit_recurrence_set(&object, from, to, floating).map_err(unreadable)?;
    }
    if let Some(sel) = &spec.select {
        object = serialize::select(&object, sel);
    }
    Ok(serialize::write(&object))
}

/// The request parser demands both bounds (§9.6.5, §9.6.6); a missing one is unbounded.
fn bounds(range: TimeRange) -> (i64, i64) {
    (range.start.unwrap_or(i64::MIN / 2), range.end.unwrap_or(i64::MAX / 2))
}

/// A stored object that no longer parses or cannot be interpreted: a server-side fault.
fn unreadable(e: IcalError) -> DavError {
    DavError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the stored calendar object cannot be rendered: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::request::{CompSelection, parse_utc};

    const BODY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:daily\r\n\
                        DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nDURATION:PT30M\r\n\
                        RRULE:FREQ=DAILY\r\nSUMMARY:Daily\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn range(start: &str, end: &str) -> Option<TimeRange> {
        Some(TimeRange { start: parse_utc(start), end: parse_utc(end) })
    }

    #[test]
    fn verbatim_is_the_stored_body() {
        let odd = "BEGIN:VCALENDAR\nkept as stored\n";
        assert_eq!(render(odd.as_bytes(), &CalendarData::default(), chrono_tz::UTC).unwrap(), odd);
    }

    #[test]
    fn expand_then_select() {
        let spec = CalendarData {
            select: Some(CompSelection {
                name: "VCALENDAR".into(),
                comps: vec![CompSelection {
                    name: "VEVENT".into(),
                    props: vec!["DTSTART".into(), "RECURRENCE-ID".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            expand: range("20260103T000000Z", "20260105T000000Z"),
            limit_recurrence_set: None,
        };
        assert_eq!(
            render(BODY.as_bytes(), &spec, chrono_tz::UTC).unwrap(),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260103T100000Z\r\nRECURRENCE-ID:20260103T100000Z\r\n\
             END:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20260104T100000Z\r\nRECURRENCE-ID:20260104T100000Z\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn too_large_an_expansion_is_refused_with_the_postcondition() {
        let spec =
            CalendarData { expand: range("20260101T000000Z", "20600101T000000Z"), ..Default::default() };
        let e = render(BODY.as_bytes(), &spec, chrono_tz::UTC).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.condition, Some(Condition::NumberOfMatchesWithinLimits));
    }

    #[test]
    fn limit_recurrence_set_of_a_plain_series_is_the_series() {
        let spec = CalendarData {
            limit_recurrence_set: range("20260103T000000Z", "20260105T000000Z"),
            ..Default::default()
        };
        assert_eq!(render(BODY.as_bytes(), &spec, chrono_tz::UTC).unwrap(), BODY);
    }
}

//! PUT preconditions for calendar collections (RFC 4791 §5.3.2.1): the body is parsed only
//! to validate it and to compute the index; it is stored as sent.

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendarComponent, ICalendarEntry, ICalendarPeriod, ICalendarProperty, ICalendarValue,
};
use http::StatusCode;

use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::names::CALDAV;
use crate::ical::{self, IcalError};
use crate::store::{Collection, ObjectIndex};

/// Limits a calendar advertises (RFC 4791 §5.2.6–§5.2.9) and PUT enforces.
pub const MIN_DATE_TIME: &str = "19000101T000000Z";
pub const MAX_DATE_TIME: &str = "21001231T235959Z";
pub use crate::ical::MAX_INSTANCES;
pub const MAX_ATTENDEES_PER_INSTANCE: usize = 1_000;

fn refuse(element: &'static str, message: String) -> DavError {
    DavError::with(StatusCode::FORBIDDEN, Condition::Other(CALDAV, element), message)
}

/// The components a calendar accepts (`supported-calendar-component-set`).
pub fn accepted_components(coll: &Collection) -> Vec<String> {
    coll.props
        .components
        .as_deref()
        .unwrap_or("VEVENT,VTODO,VJOURNAL")
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .collect()
}

/// Bytes iCalendar never allows in content (RFC 5545 §3.1: CONTROL except HTAB, plus the
/// CR LF of line ends), which calcard would otherwise keep. A bare LF is taken as a line end,
/// as most readers do; a CR that does not end a line is refused: calcard read the property
/// lines after one differently from what it writes back for them (found by fuzzing).
fn has_control_bytes(body: &[u8]) -> bool {
    body.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => body.get(i + 1) != Some(&b'\n'),
        b'\t' | b'\n' => false,
        _ => b < 0x20 || b == 0x7f,
    })
}

/// RFC 5545 §3.3.10: INTERVAL and COUNT are positive integers. Read from the body as sent
/// (unfolded): calcard drops an INTERVAL=0 when it normalises the rule.
fn check_rrules(body: &[u8]) -> DavResult<()> {
    // `validate` parsed the body first, so it is UTF-8; the lines borrow it unless folded.
    let Ok(lines) =
        std::str::from_utf8(body).map_err(|_| ()).and_then(|t| ical::logical_lines(t).map_err(|_| ()))
    else {
        return Ok(());
    };
    let rules = lines.iter().filter_map(|(_, line)| {
        let (name, value) = line.split_once(':')?;
        let name = name.split(';').next().unwrap_or(name);
        name.eq_ignore_ascii_case("RRULE").then_some(value)
    });
    for part in rules.flat_map(|value| value.split(';')) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let positive = value.parse::<u64>().is_ok_and(|n| n > 0);
        if (key.eq_ignore_ascii_case("INTERVAL") || key.eq_ignore_ascii_case("COUNT")) && !positive {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::ValidCalendarData,
                format!("RRULE {key}={value} must be a positive integer (RFC 5545 §3.3.10)"),
            ));
        }
    }
    Ok(())
}

pub fn validate(coll: &Collection, body: &[u8]) -> DavResult<ObjectIndex> {
    if has_control_bytes(body) {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            "iCalendar data may not contain control characters, nor a CR that does not end a line (RFC 5545 §3.1)",
        ));
    }
    let parsed = ical::parse(body).map_err(|e| {
        DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            format!("invalid iCalendar data: {e}"),
        )
    })?;
    let info = ical::inspect(&parsed).map_err(|e| match e {
        IcalError::Syntax(m) => DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            format!("invalid iCalendar data: {m}"),
        ),
        other => {
            refuse("valid-calendar-object-resource", format!("not a valid calendar object resource: {other}"))
        }
    })?;
    check_rrules(body)?;
    check_date_time_forms(&parsed)?;
    check_limits(&parsed, &info)?;
    let comp = info.comp_type.name();
    if !accepted_components(coll).iter().any(|c| c == comp) {
        return Err(refuse(
            "supported-calendar-component",
            format!("this calendar accepts {}, not {comp}", accepted_components(coll).join(", ")),
        ));
    }
    Ok(ObjectIndex {
        uid: Some(info.uid),
        comp_type: Some(comp.to_owned()),
        first_start: info.first_start,
        last_end: info.last_end,
        instances: Some(info.instances),
        search: Vec::new(),
    })
}

/// RFC 5545 §3.3.5 knows three DATE-TIME forms: local ("floating"), UTC (a trailing Z) and
/// local with a TZID. calcard also reads a numeric UTC offset (`T100000-0100`, even `-1`) or
/// a Z-like offset without minutes, and its writer then drops it: the index would hold one
/// time and calendar-data, feeds and exports another (found by fuzzing). Refused instead.
/// TZOFFSETFROM and TZOFFSETTO are UTC-OFFSET values, where an offset is the point.
fn check_date_time_forms(parsed: &ical::ICalendar) -> DavResult<()> {
    let written_as_read =
        |t: &PartialDateTime| matches!((t.tz_hour, t.tz_minute), (None, None) | (Some(0), Some(0)));
    for component in &parsed.components {
        for entry in &component.entries {
            if matches!(entry.name, ICalendarProperty::Tzoffsetfrom | ICalendarProperty::Tzoffsetto) {
                continue;
            }
            let times = entry.values.iter().flat_map(|value| match value {
                ICalendarValue::PartialDateTime(t) => [Some(&**t), None],
                ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => [Some(start), Some(end)],
                ICalendarValue::Period(ICalendarPeriod::Duration { start, .. }) => [Some(start), None],
                ICalendarValue::RecurrenceRule(rule) => [rule.until.as_ref(), None],
                _ => [None, None],
            });
            if times.flatten().any(|t| !written_as_read(t)) {
                return Err(DavError::with(
                    StatusCode::FORBIDDEN,
                    Condition::ValidCalendarData,
                    format!(
                        "{} has a UTC offset: an iCalendar date-time is local, UTC (ending in Z) or \
                         local to a TZID parameter (RFC 5545 §3.3.5)",
                        entry.name.as_str()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Whether an RRULE has a COUNT or an UNTIL. A rule calcard could not read as one is looked at
/// as written, like filters see it.
fn rule_ends(component: &ICalendarComponent, rrule: &ICalendarEntry) -> bool {
    match rrule.values.as_slice() {
        [ICalendarValue::RecurrenceRule(rule)] => rule.count.is_some() || rule.until.is_some(),
        _ => ical::view::properties(component)
            .iter()
            .filter(|p| p.name == "RRULE")
            .all(|p| p.value.contains("COUNT=") || p.value.contains("UNTIL=")),
    }
}

/// min-date-time, max-date-time, max-instances and max-attendees-per-instance. A rule
/// without COUNT or UNTIL has no last instance and is allowed (clients create them daily);
/// max-instances bounds the finite sets.
fn check_limits(parsed: &ical::ICalendar, info: &ical::ObjectInfo) -> DavResult<()> {
    let bound = |v: &str| super::request::parse_utc(v).unwrap_or(0);
    if info.first_start.is_some_and(|s| s < bound(MIN_DATE_TIME)) {
        return Err(refuse("min-date-time", format!("the object starts before {MIN_DATE_TIME}")));
    }
    if info.last_end.is_some_and(|e| e > bound(MAX_DATE_TIME)) {
        return Err(refuse("max-date-time", format!("the object ends after {MAX_DATE_TIME}")));
    }
    let mut unbounded = false;
    for component in &parsed.components {
        // Read from the parsed entries: the body is stored as sent, so nothing is written back
        // (ical::view::properties would serialise every property of every component).
        let attendees = component.entries.iter().filter(|e| e.name == ICalendarProperty::Attendee).count();
        if attendees > MAX_ATTENDEES_PER_INSTANCE {
            return Err(refuse(
                "max-attendees-per-instance",
                format!("{attendees} attendees; at most {MAX_ATTENDEES_PER_INSTANCE} per instance"),
            ));
        }
        unbounded |=
            component.entries.iter().any(|e| e.name == ICalendarProperty::Rrule && !rule_ends(component, e));
    }
    // `inspect` expanded every bounded set up to MAX_INSTANCES already, in UTC as here. A
    // set this loop finds bounded has COUNT or UNTIL on every rule, so `inspect` found it
    // bounded too (it looks at the rules of masters calcard could read).
    if info.recurring && !unbounded && info.too_many_instances {
        return Err(refuse("max-instances", format!("more than {MAX_INSTANCES} instances")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_date_time_forms, check_rrules, has_control_bytes};
    use crate::ical;

    #[test]
    fn a_cr_may_only_end_a_line() {
        assert!(!has_control_bytes(&event("SUMMARY:tab\tis text\r\n")));
        assert!(!has_control_bytes(&event("SUMMARY:bare LF line end\n")));
        for bad in ["CREATED:20240110T081500Z\r115T110000\r\n", "SUMMARY:x\r", "SUMMARY:bell\x07\r\n"] {
            assert!(has_control_bytes(&event(bad)), "{bad:?} was accepted");
        }
    }

    fn event(rule_lines: &str) -> Vec<u8> {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:r\r\n\
             DTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n{rule_lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        .into_bytes()
    }

    fn refused(rule_lines: &str) -> Option<String> {
        check_rrules(&event(rule_lines)).err().map(|e| format!("{e:?}"))
    }

    #[test]
    fn interval_and_count_must_be_positive_wherever_the_rule_is_written() {
        for bad in [
            "RRULE:FREQ=DAILY;INTERVAL=0\r\n",
            "RRULE:FREQ=DAILY;COUNT=0\r\n",
            "rrule:freq=daily;count=-3\r\n",
            "RRULE:FREQ=DAILY;INTERVAL=\r\n",
            // Folded across lines (RFC 5545 §3.1), with CRLF and with a bare LF.
            "RRULE:FREQ=DAILY;INT\r\n ERVAL=0\r\n",
            "RRULE:FREQ=DAILY;COUNT=\n\t0\r\n",
            // With a parameter before the value.
            "RRULE;X-P=1:FREQ=WEEKLY;COUNT=0\r\n",
        ] {
            let message = refused(bad).unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert!(message.contains("must be a positive integer"), "{bad:?}: {message}");
        }
    }

    fn offset_refused(lines: &str) -> bool {
        let parsed = ical::parse(&event(lines)).expect("calcard reads it");
        check_date_time_forms(&parsed).is_err()
    }

    #[test]
    fn a_date_time_with_a_numeric_utc_offset_is_refused() {
        for bad in [
            "DTEND:20240102T110000-0100\r\n",
            "DTEND:20240102T110000+0530\r\n",
            // What the fuzzer found: "-1" read as an offset, the rest of the line dropped.
            "DTEND:20240102T110000-1TEND:20240115T130000Z\r\n",
            "RDATE;VALUE=PERIOD:20240105T100000Z/20240105T110000+0200\r\n",
            "RRULE:FREQ=DAILY;UNTIL=20240110T100000-0300\r\n",
        ] {
            assert!(offset_refused(bad), "{bad:?} was accepted");
        }
        for good in [
            "DTEND:20240102T110000Z\r\n",
            "DTEND:20240102T110000\r\n",
            "DTEND;TZID=Europe/Berlin:20240102T110000\r\n",
            "RDATE;VALUE=DATE:20240105,20240106\r\n",
            "RDATE;VALUE=PERIOD:20240105T100000Z/PT1H\r\n",
            "RRULE:FREQ=DAILY;UNTIL=20240110T100000Z\r\n",
        ] {
            assert!(!offset_refused(good), "{good:?} was refused");
        }
        // A VTIMEZONE's TZOFFSETFROM/TZOFFSETTO are offsets by definition.
        let with_zone = String::from_utf8(event("")).expect("utf-8").replace(
            "BEGIN:VEVENT",
            "BEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
             TZOFFSETFROM:+0200\r\nTZOFFSETTO:-0130\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT",
        );
        let parsed = ical::parse(with_zone.as_bytes()).expect("calcard reads it");
        assert!(check_date_time_forms(&parsed).is_ok());
    }

    #[test]
    fn positive_values_and_other_properties_pass() {
        for good in [
            "",
            "RRULE:FREQ=DAILY;INTERVAL=2;COUNT=10\r\n",
            "RRULE:FREQ=DAILY;INT\r\n ERVAL=12\r\n",
            // Not RRULE properties, whatever their values say.
            "X-RRULE-NOTE:INTERVAL=0\r\n",
            "DESCRIPTION:COUNT=0 and INTERVAL=0\r\n",
            "EXRULE-X:COUNT=0\r\n",
        ] {
            assert_eq!(refused(good), None, "{good:?}");
        }
    }
}

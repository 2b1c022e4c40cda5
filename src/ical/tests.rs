//! Tests: client fixtures, one test per calcard defect this module wraps, and a table of
//! `instances` windows. Expected times are exact UTC values worked out by hand.

use std::time::{Duration, Instant};

use calcard::icalendar::{ICalendarComponentType, ICalendarProperty, ICalendarValue, Uri};
use chrono::NaiveDateTime;
use chrono_tz::Tz;

use super::timezone::{Zone, Zones};
use super::*;

// ---- helpers -----------------------------------------------------------------------------

/// `20240115T090000Z` as Unix seconds.
fn ts(text: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .unwrap_or_else(|error| panic!("bad test timestamp {text}: {error}"))
        .and_utc()
        .timestamp()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(i64, i64)> {
    expected.iter().map(|(start, end)| (ts(start), ts(end))).collect()
}

fn spans(instances: &[Instance]) -> Vec<(i64, i64)> {
    instances.iter().map(|instance| (instance.start, instance.end)).collect()
}

fn load(body: &[u8]) -> ICalendar {
    parse(body).unwrap_or_else(|error| panic!("fixture does not parse: {error}"))
}

fn all(ical: &ICalendar, tz: Tz) -> Vec<Instance> {
    instances(ical, None, None, tz, 1000).unwrap_or_else(|error| panic!("expansion failed: {error}"))
}

const BERLIN: &str = "BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
";

const NEW_YORK: &str = "BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
";

/// A VCALENDAR around `components` (with the Berlin and New York VTIMEZONEs), CRLF-ended.
fn calendar(components: &str) -> Vec<u8> {
    let text = format!(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//davit//tests//EN\n{BERLIN}{NEW_YORK}{components}END:VCALENDAR\n"
    );
    text.replace('\n', "\r\n").into_bytes()
}

/// A VEVENT with a fixed UID holding `lines`.
fn event(lines: &str) -> String {
    component("VEVENT", lines)
}

fn component(name: &str, lines: &str) -> String {
    format!("BEGIN:{name}\nUID:case@example.com\nDTSTAMP:20240101T000000Z\n{lines}\nEND:{name}\n")
}

fn index_of(ical: &ICalendar, predicate: impl Fn(&ICalendarComponent) -> bool) -> usize {
    ical.components.iter().position(predicate).unwrap_or_else(|| panic!("component not found"))
}

fn is_override(component: &ICalendarComponent) -> bool {
    component.has_property(&ICalendarProperty::RecurrenceId)
}

// ---- API basics --------------------------------------------------------------------------

#[test]
fn comp_type_names_round_trip() {
    for kind in [CompType::Event, CompType::Todo, CompType::Journal, CompType::FreeBusy] {
        assert_eq!(CompType::from_name(kind.name()), Some(kind));
        assert_eq!(CompType::from_name(&kind.name().to_ascii_lowercase()), Some(kind));
    }
    assert_eq!(CompType::Event.name(), "VEVENT");
    assert_eq!(CompType::from_name("VTIMEZONE"), None);
}

// ---- fixtures ----------------------------------------------------------------------------

#[test]
fn fixture_outlook_windows_tzid_weekly() {
    let ical = load(include_bytes!("../../fixtures/ical/outlook/windows-tzid-weekly.ics"));
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.comp_type, CompType::Event);
    assert!(info.uid.starts_with("040000008200E00074C5B7101A82E008"));
    assert!(info.recurring);
    assert_eq!(info.first_start, Some(ts("20240115T090000Z")));
    assert_eq!(info.last_end, Some(ts("20240219T100000Z")));
    let expected = pairs(&[
        ("20240115T090000Z", "20240115T100000Z"),
        ("20240122T090000Z", "20240122T100000Z"),
        ("20240129T090000Z", "20240129T100000Z"),
        ("20240205T090000Z", "20240205T100000Z"),
        ("20240212T090000Z", "20240212T100000Z"),
        ("20240219T090000Z", "20240219T100000Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), expected);
    let master = &ical.components[index_of(&ical, |c| c.component_type == ICalendarComponentType::VEvent)];
    let x_props =
        master.entries.iter().filter(|entry| entry.name.as_str().starts_with("X-MICROSOFT-CDO-")).count();
    assert_eq!(x_props, 3);
    assert_eq!(master.component_ids.len(), 1, "the VALARM is kept");
}

#[test]
fn fixture_outlook_customized_time_zone() {
    let ical = load(include_bytes!("../../fixtures/ical/outlook/customized-time-zone.ics"));
    inspect(&ical).expect("valid object");
    let expected = pairs(&[
        ("20240318T090000Z", "20240318T100000Z"),
        ("20240325T090000Z", "20240325T100000Z"),
        ("20240401T080000Z", "20240401T090000Z"),
        ("20240408T080000Z", "20240408T090000Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::Pacific::Auckland)), expected);
}

#[test]
fn fixture_google_weekly_exdate_override() {
    let ical = load(include_bytes!("../../fixtures/ical/google/weekly-exdate-override.ics"));
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.uid, "7kukuqrfedlm2f9t0vvkk2bqt4@google.com");
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240226T140000Z")), Some(ts("20240401T133000Z")))
    );
    let found = all(&ical, chrono_tz::UTC);
    let expected = pairs(&[
        ("20240226T140000Z", "20240226T143000Z"),
        ("20240311T130000Z", "20240311T133000Z"),
        ("20240318T140000Z", "20240318T143000Z"),
        ("20240325T130000Z", "20240325T133000Z"),
        ("20240401T130000Z", "20240401T133000Z"),
    ]);
    assert_eq!(spans(&found), expected);
    let moved = found[2];
    assert_eq!(moved.component, index_of(&ical, is_override));
    assert_eq!(moved.recurrence_id, Some(ts("20240318T130000Z")));
    assert_eq!(found[0].recurrence_id, Some(ts("20240226T140000Z")));
}

#[test]
fn fixture_apple_structured_location_and_alarms() {
    let ical = load(include_bytes!("../../fixtures/ical/apple/x-apple-valarm.ics"));
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.uid, "5D3C6E9A-1B2C-4D5E-8F90-A1B2C3D4E5F6");
    assert!(!info.recurring);
    let event = &ical.components[index_of(&ical, |c| c.component_type == ICalendarComponentType::VEvent)];
    let location = event
        .property(&ICalendarProperty::Other("X-APPLE-STRUCTURED-LOCATION".into()))
        .expect("structured location kept");
    assert_eq!(location.values, vec![ICalendarValue::Uri(Uri::Location("geo:37.334900,-122.009020".into()))]);
    assert_eq!(location.params.len(), 5, "X-ADDRESS, X-APPLE-MAPKIT-HANDLE, X-APPLE-RADIUS, X-TITLE, VALUE");
    let alarms: Vec<&ICalendarComponent> =
        event.component_ids.iter().map(|id| &ical.components[*id as usize]).collect();
    assert_eq!(alarms.len(), 2);
    for alarm in alarms {
        assert_eq!(alarm.component_type, ICalendarComponentType::VAlarm);
        assert!(alarm.has_property(&ICalendarProperty::Other("X-WR-ALARMUID".into())));
    }
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240410T210000Z", "20240410T220000Z")]));
}

#[test]
fn fixture_all_day_in_utc_and_new_york() {
    let ical = load(include_bytes!("../../fixtures/ical/all-day.ics"));
    let utc = all(&ical, chrono_tz::UTC);
    let expected = pairs(&[
        ("20240101T000000Z", "20240102T000000Z"),
        ("20240301T000000Z", "20240302T000000Z"),
        ("20240401T000000Z", "20240402T000000Z"),
        ("20240615T000000Z", "20240616T000000Z"),
    ]);
    assert_eq!(spans(&utc), expected);
    assert!(utc.iter().all(|instance| instance.all_day));
    // DATE values are local to the calendar: New York midnight, EST then EDT.
    let new_york = all(&ical, chrono_tz::America::New_York);
    let expected = pairs(&[
        ("20240101T050000Z", "20240102T050000Z"),
        ("20240301T050000Z", "20240302T050000Z"),
        ("20240401T040000Z", "20240402T040000Z"),
        ("20240615T040000Z", "20240616T040000Z"),
    ]);
    assert_eq!(spans(&new_york), expected);
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.first_start, Some(ts("20231231T100000Z")), "widened by 14 h");
    assert_eq!(info.last_end, Some(ts("20240616T140000Z")));
}

#[test]
fn fixture_floating_times_follow_the_calendar_zone() {
    let ical = load(include_bytes!("../../fixtures/ical/floating.ics"));
    let berlin = pairs(&[
        ("20240305T080000Z", "20240305T090000Z"),
        ("20240306T080000Z", "20240306T090000Z"),
        ("20240307T080000Z", "20240307T090000Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::Europe::Berlin)), berlin);
    let new_york = pairs(&[
        ("20240305T140000Z", "20240305T150000Z"),
        ("20240306T140000Z", "20240306T150000Z"),
        ("20240307T140000Z", "20240307T150000Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::America::New_York)), new_york);
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.first_start, Some(ts("20240304T190000Z")), "09:00 read as UTC, minus 14 h");
    assert_eq!(info.last_end, Some(ts("20240308T000000Z")), "10:00 read as UTC, plus 14 h");
}

#[test]
fn fixture_vtodo_due_related() {
    let ical = load(include_bytes!("../../fixtures/ical/tasks/vtodo-due-related.ics"));
    let info = inspect(&ical).expect("valid object");
    assert_eq!(info.comp_type, CompType::Todo);
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240320T160000Z")), Some(ts("20240320T160000Z")))
    );
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240320T160000Z", "20240320T160000Z")]));
    let todo = index_of(&ical, |c| c.component_type == ICalendarComponentType::VTodo);
    let times = todo_times(&ical, todo, chrono_tz::UTC).expect("times");
    let expected = TodoTimes {
        dtstart: None,
        duration_end: None,
        due: Some(ts("20240320T160000Z")),
        completed: None,
        created: Some(ts("20240301T090000Z")),
    };
    assert_eq!(times, expected);
    assert!(ical.components[todo].has_property(&ICalendarProperty::RelatedTo));
}

#[test]
fn fixture_journal_is_one_day() {
    let ical = load(include_bytes!("../../fixtures/ical/journal.ics"));
    assert_eq!(inspect(&ical).expect("valid").comp_type, CompType::Journal);
    let found = all(&ical, chrono_tz::UTC);
    assert_eq!(spans(&found), pairs(&[("20240314T000000Z", "20240315T000000Z")]));
    assert!(found[0].all_day);
    assert_eq!(found[0].recurrence_id, None);
}

#[test]
fn fixture_dst_crossing_keeps_local_nine() {
    let ical = load(include_bytes!("../../fixtures/ical/dst-crossing.ics"));
    let expected = pairs(&[
        ("20240329T080000Z", "20240329T083000Z"),
        ("20240330T080000Z", "20240330T083000Z"),
        ("20240331T070000Z", "20240331T073000Z"),
        ("20240401T070000Z", "20240401T073000Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), expected);
}

#[test]
fn fixture_fifty_attendees() {
    let ical = load(include_bytes!("../../fixtures/ical/attendees-50.ics"));
    let info = inspect(&ical).expect("valid object");
    assert!(!info.recurring);
    let event = &ical.components[index_of(&ical, |c| c.component_type == ICalendarComponentType::VEvent)];
    assert_eq!(event.properties(&ICalendarProperty::Attendee).count(), 50);
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240415T160000Z", "20240415T170000Z")]));
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240415T160000Z")), Some(ts("20240415T170000Z")))
    );
}

#[test]
fn fixture_thunderbird_mozilla_tzid() {
    let ical = load(include_bytes!("../../fixtures/ical/thunderbird/lightning-mozilla-tzid.ics"));
    inspect(&ical).expect("valid object");
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240710T120000Z", "20240710T130000Z")]));
}

fn syntax_error(body: &[u8]) -> String {
    match parse(body) {
        Err(IcalError::Syntax(message)) => message,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn invalid_error(body: &[u8]) -> String {
    match inspect(&load(body)) {
        Err(IcalError::Invalid(message)) => message,
        other => panic!("expected an invalid-object error, got {other:?}"),
    }
}

#[test]
fn fixture_bad_files_are_refused() {
    assert!(invalid_error(include_bytes!("../../fixtures/ical/bad/two-uids.ics")).contains("different UIDs"));
    assert!(
        invalid_error(include_bytes!("../../fixtures/ical/bad/mixed-vevent-vtodo.ics"))
            .contains("mixes VEVENT and VTODO")
    );
    assert!(invalid_error(include_bytes!("../../fixtures/ical/bad/method.ics")).contains("METHOD"));
    assert!(
        invalid_error(include_bytes!("../../fixtures/ical/bad/override-uid-mismatch.ics"))
            .contains("different UIDs")
    );
    let missing = syntax_error(include_bytes!("../../fixtures/ical/bad/missing-end-vcalendar.ics"));
    assert_eq!(missing, "BEGIN:VCALENDAR on line 1 has no END:VCALENDAR");
    let colon = syntax_error(include_bytes!("../../fixtures/ical/bad/line-without-colon.ics"));
    assert!(colon.starts_with("line 8: no ':' between name and value"), "{colon}");
    let date = syntax_error(include_bytes!("../../fixtures/ical/bad/bad-dtstart.ics"));
    assert!(date.contains("DTSTART") && date.contains("2024XX15T100000"), "{date}");
}

// ---- parse strictness --------------------------------------------------------------------

#[test]
fn parse_refuses_what_calcard_would_accept() {
    let good = calendar(&event("DTSTART:20240101T090000Z"));
    assert!(parse(&good).is_ok());
    assert!(syntax_error(b"BEGIN:VCALENDAR\r\n\xff\xfe\r\nEND:VCALENDAR\r\n").contains("not UTF-8"));
    assert!(
        syntax_error(b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n").contains("must start with BEGIN:VCALENDAR")
    );
    assert!(syntax_error(b"VERSION:2.0\r\n").contains("outside BEGIN:VCALENDAR"));
    assert!(syntax_error(b"").contains("no BEGIN:VCALENDAR"));
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"garbage\r\n");
    assert!(syntax_error(&trailing).contains("content after END:VCALENDAR"));
    let unterminated = calendar("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\n");
    assert!(syntax_error(&unterminated).contains("does not close BEGIN:VEVENT"));
    let no_equals = calendar(&event("DTSTART;TZID:20240101T090000Z"));
    assert!(syntax_error(&no_equals).contains("parameter TZID has no '='"));
    let bad_end = calendar(&event("DTSTART:20240101T090000Z\nDTEND:20240230T100000Z"));
    assert!(syntax_error(&bad_end).contains("VEVENT DTEND"));
    let bad_rule = calendar(&event("DTSTART:20240101T090000Z\nRRULE:FREQ=SOMETIMES"));
    assert!(syntax_error(&bad_rule).contains("RRULE"));
    let unquoted = calendar(&event("DTSTART;TZID=\"Europe/Berlin:20240101T090000"));
    assert!(syntax_error(&unquoted).contains("unterminated quoted value"));
}

#[test]
fn parse_accepts_folding_bom_and_bare_lf() {
    let body = "\u{feff}BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:fold\nDTSTART:20240101T09\n 0000Z\nSUMMARY:a\n\tb\nEND:VEVENT\nEND:VCALENDAR\n\n";
    let ical = load(body.as_bytes());
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240101T090000Z", "20240101T090000Z")]));
}

// ---- inspect rules -----------------------------------------------------------------------

#[test]
fn inspect_rejects_objects_rfc4791_forbids() {
    let two_masters = calendar(&(event("DTSTART:20240101T090000Z") + &event("DTSTART:20240102T090000Z")));
    assert!(invalid_error(&two_masters).contains("more than one component without RECURRENCE-ID"));
    let twice = "DTSTART:20240102T090000Z\nRECURRENCE-ID:20240102T090000Z";
    let duplicate =
        calendar(&(event("DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY") + &event(twice) + &event(twice)));
    assert!(invalid_error(&duplicate).contains("same RECURRENCE-ID"));
    let no_uid = calendar("BEGIN:VEVENT\nDTSTART:20240101T090000Z\nEND:VEVENT\n");
    assert!(invalid_error(&no_uid).contains("no UID"));
    assert!(invalid_error(&calendar(&event("SUMMARY:x"))).contains("no DTSTART"));
    let both = calendar(&event("DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nDURATION:PT1H"));
    assert!(invalid_error(&both).contains("both DTEND and DURATION"));
    let empty = calendar("");
    assert!(invalid_error(&empty).contains("no VEVENT"));
    let alarm = calendar("BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT5M\nEND:VALARM\n");
    assert!(invalid_error(&alarm).contains("VALARM is not allowed"));
    let unknown = calendar(&event("DTSTART;TZID=Nowhere/Special:20240101T090000"));
    assert!(invalid_error(&unknown).contains("Nowhere/Special"));
}

#[test]
fn inspect_accepts_override_only_objects() {
    // RFC 4791 §4.1: an object may hold only overridden instances, without their master.
    let body =
        calendar(&event("RECURRENCE-ID:20240108T090000Z\nDTSTART:20240108T100000Z\nDTEND:20240108T110000Z"));
    let info = inspect(&load(&body)).expect("valid object");
    assert!(info.recurring);
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240108T100000Z")), Some(ts("20240108T110000Z")))
    );
}

#[test]
fn inspect_open_ended_rule_has_no_last_end() {
    let body = calendar(&event("DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=WEEKLY"));
    let info = inspect(&load(&body)).expect("valid object");
    assert_eq!((info.first_start, info.last_end), (Some(ts("20240101T090000Z")), None));
    // A bounded set larger than the index cap is indexed as open-ended too.
    let body = calendar(&event("DTSTART:20240101T090000Z\nRRULE:FREQ=MINUTELY;COUNT=20000"));
    let info = inspect(&load(&body)).expect("valid object");
    assert_eq!((info.first_start, info.last_end), (Some(ts("20240101T090000Z")), None));
}

#[test]
fn inspect_counts_bounded_sets_to_max_instances_and_never_endless_ones() {
    let too_many = |rule: &str| {
        let body = calendar(&event(&format!("DTSTART:20240101T090000Z\n{rule}")));
        inspect(&load(&body)).expect("valid object").too_many_instances
    };
    assert!(!too_many("RRULE:FREQ=MINUTELY;COUNT=10000"), "exactly MAX_INSTANCES is allowed");
    assert!(too_many("RRULE:FREQ=MINUTELY;COUNT=10001"));
    assert!(too_many("RRULE:FREQ=MINUTELY;UNTIL=20240201T000000Z"), "44,640 instances");
    assert!(!too_many("RRULE:FREQ=MINUTELY"), "an endless set has no count to exceed");
    assert!(!too_many("RRULE:FREQ=DAILY;COUNT=10"));
    // RDATEs count too: two of them beside a rule of MAX_INSTANCES.
    assert!(too_many("RRULE:FREQ=MINUTELY;COUNT=10000\nRDATE:20250101T000000Z,20250102T000000Z"));
}

#[test]
fn inspect_vtodo_follows_the_rfc4791_table() {
    let todo = |lines: &str| inspect(&load(&calendar(&component("VTODO", lines)))).expect("valid object");
    let info = todo("SUMMARY:no dates");
    assert_eq!((info.first_start, info.last_end), (None, None));
    let info = todo("CREATED:20240101T000000Z");
    assert_eq!((info.first_start, info.last_end), (Some(ts("20240101T000000Z")), None));
    let info = todo("CREATED:20240101T000000Z\nCOMPLETED:20240105T000000Z");
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240101T000000Z")), Some(ts("20240105T000000Z")))
    );
    let info = todo("DTSTART:20240101T090000Z\nDURATION:PT2H");
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(ts("20240101T090000Z")), Some(ts("20240101T110000Z")))
    );
    let body =
        calendar(&component("VTODO", "DTSTART:20240101T090000Z\nDURATION:PT2H\nCOMPLETED:20240301T000000Z"));
    let ical = load(&body);
    let times = todo_times(
        &ical,
        index_of(&ical, |c| c.component_type == ICalendarComponentType::VTodo),
        chrono_tz::UTC,
    );
    let expected = TodoTimes {
        dtstart: Some(ts("20240101T090000Z")),
        duration_end: Some(ts("20240101T110000Z")),
        due: None,
        completed: Some(ts("20240301T000000Z")),
        created: None,
    };
    assert_eq!(times.expect("times"), expected);
}

// ---- the calcard defects, one test each --------------------------------------------------

/// Defect 1 (calcard#14): the override has SEQUENCE:2, the master SEQUENCE:1; calcard kept
/// both the master's 03-18 09:00 instance and the override.
#[test]
fn defect_calcard14_override_with_other_sequence_replaces_master_instance() {
    let ical = load(include_bytes!("../../fixtures/ical/google/weekly-exdate-override.ics"));
    let found = all(&ical, chrono_tz::UTC);
    assert_eq!(found.len(), 5);
    assert!(found.iter().all(|instance| instance.start != ts("20240318T130000Z")), "master instance removed");
    assert_eq!(
        found.iter().filter(|instance| instance.recurrence_id == Some(ts("20240318T130000Z"))).count(),
        1
    );
}

#[test]
fn defect_calcard14_range_thisandfuture_moves_later_instances() {
    let master =
        event("DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=WEEKLY;COUNT=5\nSEQUENCE:0");
    let future = event(
        "RECURRENCE-ID;RANGE=THISANDFUTURE:20240115T090000Z\nDTSTART:20240115T110000Z\nDTEND:20240115T113000Z\nSEQUENCE:3",
    );
    let ical = load(&calendar(&(master + &future)));
    let found = all(&ical, chrono_tz::UTC);
    let expected = pairs(&[
        ("20240101T090000Z", "20240101T100000Z"),
        ("20240108T090000Z", "20240108T100000Z"),
        ("20240115T110000Z", "20240115T113000Z"),
        ("20240122T110000Z", "20240122T113000Z"),
        ("20240129T110000Z", "20240129T113000Z"),
    ]);
    assert_eq!(spans(&found), expected);
    let moved = index_of(&ical, is_override);
    assert_eq!(found[3].component, moved);
    assert_eq!(
        found[3].recurrence_id,
        Some(ts("20240122T090000Z")),
        "RECURRENCE-ID stays the original start"
    );
}

#[test]
fn defect_calcard14_date_recurrence_id_matches_by_date() {
    let master = event("DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=DAILY;COUNT=3");
    let moved = event("RECURRENCE-ID;VALUE=DATE:20240102\nDTSTART:20240102T150000Z\nDTEND:20240102T160000Z");
    let found = all(&load(&calendar(&(master + &moved))), chrono_tz::UTC);
    let expected = pairs(&[
        ("20240101T090000Z", "20240101T100000Z"),
        ("20240102T150000Z", "20240102T160000Z"),
        ("20240103T090000Z", "20240103T100000Z"),
    ]);
    assert_eq!(spans(&found), expected);
    // And a DATE-TIME RECURRENCE-ID on an all-day series names that day.
    let master = event("DTSTART;VALUE=DATE:20240101\nRRULE:FREQ=DAILY;COUNT=3");
    let moved = event("RECURRENCE-ID:20240102T000000Z\nDTSTART;VALUE=DATE:20240110");
    let found = all(&load(&calendar(&(master + &moved))), chrono_tz::UTC);
    let expected = pairs(&[
        ("20240101T000000Z", "20240102T000000Z"),
        ("20240103T000000Z", "20240104T000000Z"),
        ("20240110T000000Z", "20240111T000000Z"),
    ]);
    assert_eq!(spans(&found), expected);
}

#[test]
fn defect_calcard14_floating_recurrence_id() {
    // A floating RECURRENCE-ID next to a zoned master means the master's wall-clock time.
    let master = event(
        "DTSTART;TZID=Europe/Berlin:20240101T100000\nDTEND;TZID=Europe/Berlin:20240101T110000\nRRULE:FREQ=DAILY;COUNT=3",
    );
    let moved = event(
        "RECURRENCE-ID:20240102T100000\nDTSTART;TZID=Europe/Berlin:20240102T140000\nDTEND;TZID=Europe/Berlin:20240102T150000",
    );
    let found = all(&load(&calendar(&(master + &moved))), chrono_tz::Asia::Tokyo);
    let expected = pairs(&[
        ("20240101T090000Z", "20240101T100000Z"),
        ("20240102T130000Z", "20240102T140000Z"),
        ("20240103T090000Z", "20240103T100000Z"),
    ]);
    assert_eq!(spans(&found), expected);
    // A floating series with a floating override, read in the calendar's zone.
    let master = event("DTSTART:20240101T100000\nDTEND:20240101T110000\nRRULE:FREQ=DAILY;COUNT=2");
    let moved = event("RECURRENCE-ID:20240102T100000\nDTSTART:20240102T120000\nDTEND:20240102T130000");
    let found = all(&load(&calendar(&(master + &moved))), chrono_tz::America::New_York);
    assert_eq!(
        spans(&found),
        pairs(&[("20240101T150000Z", "20240101T160000Z"), ("20240102T170000Z", "20240102T180000Z")])
    );
}

/// Defect 2: calcard returned RDATE instances before the RRULE ones.
#[test]
fn defect_rdate_instances_are_sorted() {
    let ical = load(include_bytes!("../../fixtures/ical/all-day.ics"));
    let found = all(&ical, chrono_tz::UTC);
    assert!(found.windows(2).all(|pair| pair[0].start <= pair[1].start));
    assert_eq!(
        found.last().map(|instance| instance.start),
        Some(ts("20240615T000000Z")),
        "the RDATE sorts last"
    );
    let body = calendar(&event(
        "DTSTART:20240110T090000Z\nRRULE:FREQ=DAILY;COUNT=2\nRDATE:20240105T090000Z,20240120T090000Z",
    ));
    let starts: Vec<i64> = all(&load(&body), chrono_tz::UTC).iter().map(|instance| instance.start).collect();
    assert_eq!(
        starts,
        vec![ts("20240105T090000Z"), ts("20240110T090000Z"), ts("20240111T090000Z"), ts("20240120T090000Z")]
    );
}

/// Defect 3: calcard read an unknown TZID in its default zone. The Outlook VTIMEZONE has
/// Europe/Berlin's rules under another name; it must be matched by its rules.
#[test]
fn defect_unknown_tzid_customized_time_zone_matched_by_rules() {
    let ical = load(include_bytes!("../../fixtures/ical/outlook/customized-time-zone.ics"));
    let zones = Zones::new(&ical, chrono_tz::UTC).expect("zones");
    assert!(matches!(zones.named("Customized Time Zone"), Ok(Zone::Iana(chrono_tz::Europe::Berlin))));
    let body = calendar_timezone(
        b"BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n",
    );
    assert_eq!(body.expect("a zone"), chrono_tz::Europe::Berlin);
}

fn odd_zone(name: &str, observances: &str, event_lines: &str) -> Vec<u8> {
    let vtimezone = format!("BEGIN:VTIMEZONE\nTZID:{name}\n{observances}END:VTIMEZONE\n");
    calendar(&(vtimezone + &event(event_lines)))
}

#[test]
fn defect_unknown_tzid_fixed_offset_0545() {
    let observances =
        "BEGIN:STANDARD\nDTSTART:16010101T000000\nTZOFFSETFROM:+0545\nTZOFFSETTO:+0545\nEND:STANDARD\n";
    let body = odd_zone(
        "Custom Himalaya",
        observances,
        "DTSTART;TZID=Custom Himalaya:20240110T100000\nDURATION:PT1H",
    );
    let ical = load(&body);
    inspect(&ical).expect("valid object");
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240110T041500Z", "20240110T051500Z")]));
}

#[test]
fn defect_unknown_tzid_odd_rules_are_evaluated() {
    // +05:45, with a +06:45 "summer" from the 2nd Saturday of April: no tz database zone.
    let observances = "BEGIN:STANDARD\nDTSTART:19700103T030000\nTZOFFSETFROM:+0645\nTZOFFSETTO:+0545\n\
        RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SA\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:19700411T020000\n\
        TZOFFSETFROM:+0545\nTZOFFSETTO:+0645\nRRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=2SA\nEND:DAYLIGHT\n";
    let body =
        odd_zone("Odd Zone", observances, "DTSTART;TZID=Odd Zone:20240412T100000\nRRULE:FREQ=DAILY;COUNT=3");
    let ical = load(&body);
    let zones = Zones::new(&ical, chrono_tz::UTC).expect("zones");
    assert!(matches!(zones.named("Odd Zone"), Ok(Zone::Rules(_))), "evaluated, not guessed");
    let expected = pairs(&[
        ("20240412T041500Z", "20240412T041500Z"),
        ("20240413T031500Z", "20240413T031500Z"),
        ("20240414T031500Z", "20240414T031500Z"),
    ]);
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), expected);
    // Its October return to +05:45 (first Saturday, 2024-10-05 03:00 local).
    let body =
        odd_zone("Odd Zone", observances, "DTSTART;TZID=Odd Zone:20241004T100000\nRRULE:FREQ=DAILY;COUNT=2");
    let expected =
        pairs(&[("20241004T031500Z", "20241004T031500Z"), ("20241005T041500Z", "20241005T041500Z")]);
    assert_eq!(spans(&all(&load(&body), chrono_tz::UTC)), expected);
    assert!(calendar_timezone(&body).is_err(), "no IANA zone stands for it");
}

#[test]
fn defect_unknown_tzid_without_vtimezone_is_refused() {
    let ical = load(&calendar(&event("DTSTART;TZID=Customized Time Zone:20240101T090000")));
    assert!(matches!(inspect(&ical), Err(IcalError::Invalid(_))));
    assert!(matches!(instances(&ical, None, None, chrono_tz::UTC, 10), Err(IcalError::Invalid(_))));
}

/// Defect 4 (a check that calcard's mapping is used): Windows zone names without VTIMEZONE.
#[test]
fn defect_windows_zone_names_map_to_iana() {
    let ical = load(&calendar(&event("DTSTART;TZID=W. Europe Standard Time:20240701T100000")));
    let zones = Zones::new(&ical, chrono_tz::UTC).expect("zones");
    assert!(matches!(zones.named("W. Europe Standard Time"), Ok(Zone::Iana(chrono_tz::Europe::Berlin))));
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240701T080000Z", "20240701T080000Z")]));
    let ical = load(&calendar(&event("DTSTART;TZID=Eastern Standard Time:20240701T100000")));
    let zones = Zones::new(&ical, chrono_tz::UTC).expect("zones");
    assert!(matches!(zones.named("Eastern Standard Time"), Ok(Zone::Iana(chrono_tz::America::New_York))));
    assert_eq!(spans(&all(&ical, chrono_tz::UTC)), pairs(&[("20240701T140000Z", "20240701T140000Z")]));
}

/// Defect 5: an endless FREQ=SECONDLY rule asked for ten years must fail fast.
#[test]
fn defect_secondly_rule_without_end_is_bounded() {
    let ical = load(&calendar(&event("DTSTART:20200101T000000Z\nRRULE:FREQ=SECONDLY")));
    let clock = Instant::now();
    let result =
        instances(&ical, Some(ts("20300101T000000Z")), Some(ts("20400101T000000Z")), chrono_tz::UTC, 10_000);
    assert!(matches!(result, Err(IcalError::TooManyInstances)), "{result:?}");
    let result = instances(&ical, None, None, chrono_tz::UTC, 10_000);
    assert!(matches!(result, Err(IcalError::TooManyInstances)), "{result:?}");
    // The window before the cap is reached still works, fast-forwarded to 2035.
    let found =
        instances(&ical, Some(ts("20350101T000000Z")), Some(ts("20350101T000003Z")), chrono_tz::UTC, 10)
            .expect("three instances");
    assert_eq!(
        spans(&found),
        pairs(&[
            ("20350101T000000Z", "20350101T000000Z"),
            ("20350101T000001Z", "20350101T000001Z"),
            ("20350101T000002Z", "20350101T000002Z"),
        ])
    );
    let info = inspect(&ical).expect("valid object");
    assert_eq!((info.first_start, info.last_end), (Some(ts("20200101T000000Z")), None));
    // The same in a zone with DST, where local readings need converting one by one.
    let ical = load(&calendar(&event("DTSTART;TZID=Europe/Berlin:20200101T000000\nRRULE:FREQ=SECONDLY")));
    let result =
        instances(&ical, Some(ts("20300101T000000Z")), Some(ts("20400101T000000Z")), chrono_tz::UTC, 10_000);
    assert!(matches!(result, Err(IcalError::TooManyInstances)), "{result:?}");
    assert!(clock.elapsed() < Duration::from_secs(1), "took {:?}", clock.elapsed());
}

#[test]
fn defect_secondly_rule_with_huge_count_exhausts_the_budget() {
    // COUNT forbids skipping ahead, so reaching 2030 would take 315 million steps.
    let ical = load(&calendar(&event("DTSTART:20200101T000000Z\nRRULE:FREQ=SECONDLY;COUNT=4000000000")));
    let clock = Instant::now();
    let result =
        instances(&ical, Some(ts("20300101T000000Z")), Some(ts("20300102T000000Z")), chrono_tz::UTC, 10);
    assert!(matches!(result, Err(IcalError::TooManyInstances)), "{result:?}");
    assert!(clock.elapsed() < Duration::from_secs(3), "took {:?}", clock.elapsed());
}

#[test]
fn calendar_timezone_reads_iana_and_windows_names() {
    let body = |tzid: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
        )
    };
    assert_eq!(calendar_timezone(body("Europe/Paris").as_bytes()).expect("zone"), chrono_tz::Europe::Paris);
    assert_eq!(
        calendar_timezone(body("Tokyo Standard Time").as_bytes()).expect("zone"),
        chrono_tz::Asia::Tokyo
    );
    assert!(calendar_timezone(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").is_err());
}

// ---- the table ---------------------------------------------------------------------------

struct Case {
    name: &'static str,
    body: String,
    zone: Tz,
    from: Option<&'static str>,
    to: Option<&'static str>,
    expected: &'static [(&'static str, &'static str)],
}

fn case(
    name: &'static str,
    components: String,
    window: (Option<&'static str>, Option<&'static str>),
    expected: &'static [(&'static str, &'static str)],
) -> Case {
    Case { name, body: components, zone: chrono_tz::UTC, from: window.0, to: window.1, expected }
}

fn in_zone(mut case: Case, zone: Tz) -> Case {
    case.zone = zone;
    case
}

const ALL: (Option<&str>, Option<&str>) = (None, None);
const DAILY5: &str = "DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=DAILY;COUNT=5";

fn daily5_with(extra: &str) -> String {
    event(&format!("{DAILY5}\n{extra}"))
}

fn recurring_cases() -> Vec<Case> {
    vec![
        case(
            "daily count, whole set",
            event(DAILY5),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240102T090000Z", "20240102T100000Z"),
                ("20240103T090000Z", "20240103T100000Z"),
                ("20240104T090000Z", "20240104T100000Z"),
                ("20240105T090000Z", "20240105T100000Z"),
            ],
        ),
        case(
            "daily count, middle window",
            event(DAILY5),
            (Some("20240102T000000Z"), Some("20240104T000000Z")),
            &[("20240102T090000Z", "20240102T100000Z"), ("20240103T090000Z", "20240103T100000Z")],
        ),
        case(
            "window starting at an end excludes it",
            event(DAILY5),
            (Some("20240104T100000Z"), None),
            &[("20240105T090000Z", "20240105T100000Z")],
        ),
        case(
            "window ending at a start excludes it",
            event(DAILY5),
            (None, Some("20240102T090000Z")),
            &[("20240101T090000Z", "20240101T100000Z")],
        ),
        case(
            "window inside one instance",
            event(DAILY5),
            (Some("20240103T093000Z"), Some("20240103T093100Z")),
            &[("20240103T090000Z", "20240103T100000Z")],
        ),
        case("window after the last instance", event(DAILY5), (Some("20240201T000000Z"), None), &[]),
        case(
            "daily until utc, inclusive",
            event(
                "DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=DAILY;UNTIL=20240103T090000Z",
            ),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240102T090000Z", "20240102T100000Z"),
                ("20240103T090000Z", "20240103T100000Z"),
            ],
        ),
    ]
}

fn recurring_rule_cases() -> Vec<Case> {
    vec![
        case(
            "until as a date on a date-time series",
            event("DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20240102"),
            ALL,
            &[("20240101T090000Z", "20240101T090000Z"), ("20240102T090000Z", "20240102T090000Z")],
        ),
        case(
            "utc until on a zoned series compares instants",
            event("DTSTART;TZID=Europe/Berlin:20240101T090000\nRRULE:FREQ=DAILY;UNTIL=20240102T080000Z"),
            ALL,
            &[("20240101T080000Z", "20240101T080000Z"), ("20240102T080000Z", "20240102T080000Z")],
        ),
        case(
            "weekly byday",
            event("DTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240103T090000Z", "20240103T100000Z"),
                ("20240108T090000Z", "20240108T100000Z"),
                ("20240110T090000Z", "20240110T100000Z"),
            ],
        ),
        case(
            "weekly interval 2",
            event("DTSTART:20240101T090000Z\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3"),
            ALL,
            &[
                ("20240101T090000Z", "20240101T090000Z"),
                ("20240115T090000Z", "20240115T090000Z"),
                ("20240129T090000Z", "20240129T090000Z"),
            ],
        ),
    ]
}

fn monthly_and_yearly_cases() -> Vec<Case> {
    vec![
        case(
            "monthly on the 31st skips short months",
            event("DTSTART:20240131T120000Z\nRRULE:FREQ=MONTHLY;COUNT=3"),
            ALL,
            &[
                ("20240131T120000Z", "20240131T120000Z"),
                ("20240331T120000Z", "20240331T120000Z"),
                ("20240531T120000Z", "20240531T120000Z"),
            ],
        ),
        case(
            "monthly last friday",
            event("DTSTART:20240126T150000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=3"),
            ALL,
            &[
                ("20240126T150000Z", "20240126T160000Z"),
                ("20240223T150000Z", "20240223T160000Z"),
                ("20240329T150000Z", "20240329T160000Z"),
            ],
        ),
        case(
            "monthly last weekday by setpos",
            event("DTSTART:20240131T090000Z\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3"),
            ALL,
            &[
                ("20240131T090000Z", "20240131T090000Z"),
                ("20240229T090000Z", "20240229T090000Z"),
                ("20240329T090000Z", "20240329T090000Z"),
            ],
        ),
        case(
            "yearly on february 29",
            event("DTSTART:20240229T080000Z\nDTEND:20240229T090000Z\nRRULE:FREQ=YEARLY;COUNT=2"),
            ALL,
            &[("20240229T080000Z", "20240229T090000Z"), ("20280229T080000Z", "20280229T090000Z")],
        ),
        case(
            "dtstart off the rule counts as the first occurrence",
            event("DTSTART:20240102T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2"),
            ALL,
            &[("20240102T090000Z", "20240102T090000Z"), ("20240108T090000Z", "20240108T090000Z")],
        ),
    ]
}

fn exception_cases() -> Vec<Case> {
    vec![
        case(
            "exdate utc",
            daily5_with("EXDATE:20240103T090000Z"),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240102T090000Z", "20240102T100000Z"),
                ("20240104T090000Z", "20240104T100000Z"),
                ("20240105T090000Z", "20240105T100000Z"),
            ],
        ),
        case(
            "exdate with two values",
            daily5_with("EXDATE:20240102T090000Z,20240104T090000Z"),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240103T090000Z", "20240103T100000Z"),
                ("20240105T090000Z", "20240105T100000Z"),
            ],
        ),
        case(
            "exdate with tzid",
            event(
                "DTSTART;TZID=Europe/Berlin:20240101T090000\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE;TZID=Europe/Berlin:20240102T090000",
            ),
            ALL,
            &[("20240101T080000Z", "20240101T080000Z"), ("20240103T080000Z", "20240103T080000Z")],
        ),
    ]
}

fn rdate_cases() -> Vec<Case> {
    vec![
        case(
            "utc exdate on a zoned series",
            event(
                "DTSTART;TZID=Europe/Berlin:20240101T090000\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:20240102T080000Z",
            ),
            ALL,
            &[("20240101T080000Z", "20240101T080000Z"), ("20240103T080000Z", "20240103T080000Z")],
        ),
        case(
            "rdate before dtstart sorts first",
            event("DTSTART:20240110T090000Z\nDTEND:20240110T100000Z\nRDATE:20240105T090000Z"),
            ALL,
            &[("20240105T090000Z", "20240105T100000Z"), ("20240110T090000Z", "20240110T100000Z")],
        ),
        case(
            "rdate period with end",
            event(
                "DTSTART:20240110T090000Z\nDTEND:20240110T100000Z\nRDATE;VALUE=PERIOD:20240112T130000Z/20240112T150000Z",
            ),
            ALL,
            &[("20240110T090000Z", "20240110T100000Z"), ("20240112T130000Z", "20240112T150000Z")],
        ),
        case(
            "rdate period with duration",
            event(
                "DTSTART:20240110T090000Z\nDTEND:20240110T100000Z\nRDATE;VALUE=PERIOD:20240112T130000Z/PT30M",
            ),
            ALL,
            &[("20240110T090000Z", "20240110T100000Z"), ("20240112T130000Z", "20240112T133000Z")],
        ),
    ]
}

fn override_cases() -> Vec<Case> {
    vec![
        case(
            "rdate equal to an rrule instance counts once",
            daily5_with("RDATE:20240103T090000Z"),
            (Some("20240103T000000Z"), Some("20240104T000000Z")),
            &[("20240103T090000Z", "20240103T100000Z")],
        ),
        case(
            "override moves an instance",
            daily5_with("")
                + &event("RECURRENCE-ID:20240103T090000Z\nDTSTART:20240103T150000Z\nDTEND:20240103T160000Z"),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240102T090000Z", "20240102T100000Z"),
                ("20240103T150000Z", "20240103T160000Z"),
                ("20240104T090000Z", "20240104T100000Z"),
                ("20240105T090000Z", "20240105T100000Z"),
            ],
        ),
        case(
            "override moved into the window",
            daily5_with("")
                + &event("RECURRENCE-ID:20240105T090000Z\nDTSTART:20240102T180000Z\nDTEND:20240102T190000Z"),
            (Some("20240102T000000Z"), Some("20240103T000000Z")),
            &[("20240102T090000Z", "20240102T100000Z"), ("20240102T180000Z", "20240102T190000Z")],
        ),
        case(
            "override moved out of the window",
            daily5_with("")
                + &event("RECURRENCE-ID:20240103T090000Z\nDTSTART:20240110T090000Z\nDTEND:20240110T100000Z"),
            (Some("20240103T000000Z"), Some("20240104T000000Z")),
            &[],
        ),
        case(
            "override without master",
            event("RECURRENCE-ID:20240103T090000Z\nDTSTART:20240103T150000Z\nDURATION:PT15M"),
            ALL,
            &[("20240103T150000Z", "20240103T151500Z")],
        ),
        case(
            "thisandfuture override shifts the rest",
            daily5_with("")
                + &event(
                    "RECURRENCE-ID;RANGE=THISANDFUTURE:20240103T090000Z\nDTSTART:20240103T110000Z\nDTEND:20240103T113000Z",
                ),
            ALL,
            &[
                ("20240101T090000Z", "20240101T100000Z"),
                ("20240102T090000Z", "20240102T100000Z"),
                ("20240103T110000Z", "20240103T113000Z"),
                ("20240104T110000Z", "20240104T113000Z"),
                ("20240105T110000Z", "20240105T113000Z"),
            ],
        ),
    ]
}

fn all_day_and_floating_cases() -> Vec<Case> {
    vec![
        case(
            "all-day without dtend lasts a day",
            event("DTSTART;VALUE=DATE:20240310"),
            ALL,
            &[("20240310T000000Z", "20240311T000000Z")],
        ),
        in_zone(
            case(
                "all-day on the new york dst day is 23 hours",
                event("DTSTART;VALUE=DATE:20240310"),
                ALL,
                &[("20240310T050000Z", "20240311T040000Z")],
            ),
            chrono_tz::America::New_York,
        ),
        case(
            "all-day over three days",
            event("DTSTART;VALUE=DATE:20240101\nDTEND;VALUE=DATE:20240104"),
            ALL,
            &[("20240101T000000Z", "20240104T000000Z")],
        ),
        case(
            "all-day weekly",
            event("DTSTART;VALUE=DATE:20240101\nRRULE:FREQ=WEEKLY;COUNT=3"),
            ALL,
            &[
                ("20240101T000000Z", "20240102T000000Z"),
                ("20240108T000000Z", "20240109T000000Z"),
                ("20240115T000000Z", "20240116T000000Z"),
            ],
        ),
        case(
            "all-day exdate as date",
            event("DTSTART;VALUE=DATE:20240101\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE;VALUE=DATE:20240102"),
            ALL,
            &[("20240101T000000Z", "20240102T000000Z"), ("20240103T000000Z", "20240104T000000Z")],
        ),
    ]
}

fn floating_cases() -> Vec<Case> {
    vec![
        in_zone(
            case(
                "floating in berlin",
                event("DTSTART:20240105T090000\nDTEND:20240105T100000"),
                ALL,
                &[("20240105T080000Z", "20240105T090000Z")],
            ),
            chrono_tz::Europe::Berlin,
        ),
        in_zone(
            case(
                "floating in tokyo",
                event("DTSTART:20240105T090000\nDTEND:20240105T100000"),
                ALL,
                &[("20240105T000000Z", "20240105T010000Z")],
            ),
            chrono_tz::Asia::Tokyo,
        ),
        in_zone(
            case(
                "floating daily across berlin dst",
                event("DTSTART:20240330T090000\nRRULE:FREQ=DAILY;COUNT=2"),
                ALL,
                &[("20240330T080000Z", "20240330T080000Z"), ("20240331T070000Z", "20240331T070000Z")],
            ),
            chrono_tz::Europe::Berlin,
        ),
    ]
}

fn zone_cases() -> Vec<Case> {
    vec![
        case(
            "berlin daily across dst, window after the change",
            event(
                "DTSTART;TZID=Europe/Berlin:20240329T090000\nDTEND;TZID=Europe/Berlin:20240329T093000\nRRULE:FREQ=DAILY;COUNT=4",
            ),
            (Some("20240331T000000Z"), None),
            &[("20240331T070000Z", "20240331T073000Z"), ("20240401T070000Z", "20240401T073000Z")],
        ),
        case(
            "new york weekly across dst",
            event("DTSTART;TZID=America/New_York:20240304T090000\nRRULE:FREQ=WEEKLY;COUNT=2"),
            ALL,
            &[("20240304T140000Z", "20240304T140000Z"), ("20240311T130000Z", "20240311T130000Z")],
        ),
        case(
            "berlin fall back",
            event("DTSTART;TZID=Europe/Berlin:20241026T090000\nRRULE:FREQ=DAILY;COUNT=2"),
            ALL,
            &[("20241026T070000Z", "20241026T070000Z"), ("20241027T080000Z", "20241027T080000Z")],
        ),
        case(
            "skipped local time uses the offset before the gap",
            event("DTSTART;TZID=Europe/Berlin:20240331T023000"),
            ALL,
            &[("20240331T013000Z", "20240331T013000Z")],
        ),
        case(
            "repeated local time is its first occurrence",
            event("DTSTART;TZID=Europe/Berlin:20241027T023000"),
            ALL,
            &[("20241027T003000Z", "20241027T003000Z")],
        ),
        case(
            "one nominal day across dst is 23 hours",
            event("DTSTART;TZID=Europe/Berlin:20240330T120000\nDURATION:P1D"),
            ALL,
            &[("20240330T110000Z", "20240331T100000Z")],
        ),
        case(
            "dtend in another zone",
            event("DTSTART;TZID=Europe/Berlin:20240110T090000\nDTEND;TZID=America/New_York:20240110T090000"),
            ALL,
            &[("20240110T080000Z", "20240110T140000Z")],
        ),
    ]
}

fn open_ended_and_edge_cases() -> Vec<Case> {
    vec![
        case(
            "zero-length event inside the window",
            event("DTSTART:20240101T090000Z"),
            (Some("20240101T080000Z"), Some("20240101T100000Z")),
            &[("20240101T090000Z", "20240101T090000Z")],
        ),
        case(
            "zero-length event at the window start",
            event("DTSTART:20240101T090000Z"),
            (Some("20240101T090000Z"), Some("20240101T100000Z")),
            &[("20240101T090000Z", "20240101T090000Z")],
        ),
        case(
            "zero-length event at the window end",
            event("DTSTART:20240101T090000Z"),
            (Some("20240101T080000Z"), Some("20240101T090000Z")),
            &[],
        ),
    ]
}

fn open_ended_cases() -> Vec<Case> {
    vec![
        case(
            "endless daily, window years later",
            event("DTSTART:20200101T090000Z\nRRULE:FREQ=DAILY"),
            (Some("20300101T000000Z"), Some("20300103T000000Z")),
            &[("20300101T090000Z", "20300101T090000Z"), ("20300102T090000Z", "20300102T090000Z")],
        ),
        case(
            "endless hourly interval 5, window years later",
            event("DTSTART:20200101T000000Z\nRRULE:FREQ=HOURLY;INTERVAL=5"),
            (Some("20250601T000000Z"), Some("20250601T120000Z")),
            &[("20250601T030000Z", "20250601T030000Z"), ("20250601T080000Z", "20250601T080000Z")],
        ),
        case(
            "endless monthly on the 31st, window years later",
            event("DTSTART:20200131T100000Z\nRRULE:FREQ=MONTHLY"),
            (Some("20310101T000000Z"), Some("20310401T000000Z")),
            &[("20310131T100000Z", "20310131T100000Z"), ("20310331T100000Z", "20310331T100000Z")],
        ),
        case(
            "endless yearly interval 3",
            event("DTSTART:20200315T100000Z\nRRULE:FREQ=YEARLY;INTERVAL=3"),
            (Some("20340101T000000Z"), Some("20360101T000000Z")),
            &[("20350315T100000Z", "20350315T100000Z")],
        ),
        case(
            "endless biweekly mon+thu keeps its weeks",
            event("DTSTART:20240101T090000Z\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
            (Some("20260101T000000Z"), Some("20260120T000000Z")),
            &[
                ("20260101T090000Z", "20260101T090000Z"),
                ("20260112T090000Z", "20260112T090000Z"),
                ("20260115T090000Z", "20260115T090000Z"),
            ],
        ),
        case(
            "endless berlin weekly, window in summer 2030",
            event(
                "DTSTART;TZID=Europe/Berlin:20240101T090000\nDTEND;TZID=Europe/Berlin:20240101T100000\nRRULE:FREQ=WEEKLY",
            ),
            (Some("20300701T000000Z"), Some("20300708T000000Z")),
            &[("20300701T070000Z", "20300701T080000Z")],
        ),
        case(
            "long instance starting before the window",
            event("DTSTART:20240101T000000Z\nDURATION:P10D\nRRULE:FREQ=MONTHLY"),
            (Some("20300105T000000Z"), Some("20300106T000000Z")),
            &[("20300101T000000Z", "20300111T000000Z")],
        ),
    ]
}

fn other_component_cases() -> Vec<Case> {
    vec![
        case(
            "vtodo with due only",
            component("VTODO", "DUE:20240105T170000Z"),
            ALL,
            &[("20240105T170000Z", "20240105T170000Z")],
        ),
        case(
            "vtodo with dtstart and due",
            component("VTODO", "DTSTART:20240105T090000Z\nDUE:20240105T170000Z"),
            ALL,
            &[("20240105T090000Z", "20240105T170000Z")],
        ),
        case(
            "vtodo with dtstart and duration",
            component("VTODO", "DTSTART:20240105T090000Z\nDURATION:PT2H"),
            ALL,
            &[("20240105T090000Z", "20240105T110000Z")],
        ),
        case("vtodo without dates has no instances", component("VTODO", "SUMMARY:someday"), ALL, &[]),
        case(
            "recurring vtodo",
            component("VTODO", "DTSTART:20240105T090000Z\nDUE:20240105T100000Z\nRRULE:FREQ=WEEKLY;COUNT=2"),
            ALL,
            &[("20240105T090000Z", "20240105T100000Z"), ("20240112T090000Z", "20240112T100000Z")],
        ),
        case(
            "vjournal with date-time is zero length",
            component("VJOURNAL", "DTSTART:20240105T090000Z"),
            ALL,
            &[("20240105T090000Z", "20240105T090000Z")],
        ),
        case("vjournal without dtstart has no instances", component("VJOURNAL", "SUMMARY:x"), ALL, &[]),
        case(
            "vfreebusy periods",
            component("VFREEBUSY", "FREEBUSY:20240105T090000Z/PT1H,20240105T130000Z/20240105T140000Z"),
            ALL,
            &[("20240105T090000Z", "20240105T100000Z"), ("20240105T130000Z", "20240105T140000Z")],
        ),
    ]
}

#[test]
fn instances_table() {
    let cases: Vec<Case> = [
        recurring_cases(),
        recurring_rule_cases(),
        monthly_and_yearly_cases(),
        exception_cases(),
        rdate_cases(),
        override_cases(),
        all_day_and_floating_cases(),
        floating_cases(),
        zone_cases(),
        open_ended_and_edge_cases(),
        open_ended_cases(),
        other_component_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = parse(&calendar(&case.body))
            .and_then(|ical| instances(&ical, case.from.map(ts), case.to.map(ts), case.zone, 1000));
        let expected = pairs(case.expected);
        match outcome {
            Ok(found) if spans(&found) == expected => {}
            Ok(found) => {
                failures.push(format!("{}: expected {expected:?}, got {:?}", case.name, spans(&found)))
            }
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---- properties: parse → serialize → parse is stable ------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::ical::view::{children, properties};

    /// TEXT as a client means it: printable Unicode with the characters iCalendar escapes
    /// (`\`, `;`, `,`, newline), quotes, colons, tabs, and lengths that need folding.
    fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::char::range('a', 'z'),
                2 => prop::sample::select(vec![' ', ',', ';', '\\', ':', '"', '\n', '\t', '=', '\'']),
                1 => prop::sample::select(vec!['é', 'ß', '日', '本', '€', '😀', '𝄞', '\u{A0}', 'Ω']),
                1 => prop::char::range('\u{A1}', '\u{2FFF}'),
            ],
            1..max,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>())
        // Content is not padded: leading or trailing white space has no meaning to clients.
        .prop_filter("no surrounding white space", |s| s.trim() == s)
    }

    /// RFC 5545 §3.3.11 escaping of a TEXT value.
    fn escape(text: &str) -> String {
        text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
    }

    /// Folds `line` every `width` octets (never inside a character) with CRLF and a space or
    /// a tab, as clients variously do.
    fn folded(line: &str, width: usize, tab: bool) -> String {
        let mut out = String::new();
        let mut used = 0;
        for ch in line.chars() {
            if used + ch.len_utf8() > width {
                out.push_str(if tab { "\r\n\t" } else { "\r\n " });
                used = 1;
            }
            out.push(ch);
            used += ch.len_utf8();
        }
        out.push_str("\r\n");
        out
    }

    #[derive(Debug, Clone)]
    struct Object {
        todo: bool,
        /// 0 = UTC, 1 = Europe/Berlin, 2 = America/New_York, 3 = all-day DATE.
        zone: usize,
        start_day: u32,
        hour: u32,
        rule: Option<String>,
        summary: String,
        description: String,
        location: String,
        cn: String,
        x_param: String,
        fold_width: usize,
        fold_tab: bool,
    }

    fn rule() -> impl Strategy<Value = Option<String>> {
        let freq = prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
        let end = prop_oneof![
            (1u32..30).prop_map(|n| format!(";COUNT={n}")),
            Just(";UNTIL=20261231T235959Z".to_owned()),
        ];
        let by = prop_oneof![
            Just(String::new()),
            prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 1..4)
                .prop_map(|days| format!(";BYDAY={}", days.join(","))),
            prop::sample::select(vec![";BYMONTHDAY=1,15", ";BYMONTHDAY=-1", ";BYMONTH=1,6;BYMONTHDAY=3"])
                .prop_map(str::to_owned),
        ];
        prop::option::of((freq, 1u32..4, end, by).prop_map(|(freq, interval, end, by)| {
            // RFC 5545 §3.3.10: BYMONTHDAY is not allowed with FREQ=WEEKLY.
            let by = if freq == "WEEKLY" && by.contains("BYMONTHDAY") { String::new() } else { by };
            format!("FREQ={freq};INTERVAL={interval}{end}{by}")
        }))
    }

    fn object() -> impl Strategy<Value = Object> {
        (
            (any::<bool>(), 0usize..4, 1u32..28, 0u32..24, rule()),
            // Parameter values: no backslash, which calcard reads as an escape although
            // RFC 5545 §3.2 gives it no meaning there (`CN="a\#"` reads as `a#`).
            (text(60), text(300), text(40), "[^\"\\\\\\p{Cc}]{1,30}", "[^\"\\\\\\p{Cc}]{1,20}"),
            (20usize..76, any::<bool>()),
        )
            .prop_map(
                |(
                    (todo, zone, start_day, hour, rule),
                    (summary, description, location, cn, x_param),
                    (fold_width, fold_tab),
                )| Object {
                    todo,
                    zone,
                    start_day,
                    hour,
                    rule,
                    summary,
                    description,
                    location,
                    cn,
                    x_param,
                    fold_width,
                    fold_tab,
                },
            )
    }

    impl Object {
        fn body(&self) -> Vec<u8> {
            let (name, end) = if self.todo { ("VTODO", "DUE") } else { ("VEVENT", "DTEND") };
            let day = format!("202405{:02}", self.start_day);
            let next = format!("202405{:02}", self.start_day + 1);
            let hour = self.hour;
            let (start, end) = match self.zone {
                0 => (format!("DTSTART:{day}T{hour:02}0000Z"), format!("{end}:{next}T{hour:02}3000Z")),
                1 | 2 => {
                    let tz = if self.zone == 1 { "Europe/Berlin" } else { "America/New_York" };
                    (
                        format!("DTSTART;TZID={tz}:{day}T{hour:02}0000"),
                        format!("{end};TZID={tz}:{next}T{hour:02}3000"),
                    )
                }
                _ => (format!("DTSTART;VALUE=DATE:{day}"), format!("{end};VALUE=DATE:{next}")),
            };
            let mut lines = vec![
                format!("BEGIN:{name}"),
                "UID:property@example.com".to_owned(),
                "DTSTAMP:20240101T000000Z".to_owned(),
                start,
                end,
            ];
            // UNTIL must be a DATE when DTSTART is one (RFC 5545 §3.3.10).
            if let Some(rule) = &self.rule {
                let rule = if self.zone == 3 { rule.replace("T235959Z", "") } else { rule.clone() };
                lines.push(format!("RRULE:{rule}"));
            }
            lines.push(format!("SUMMARY:{}", escape(&self.summary)));
            lines.push(format!("DESCRIPTION;LANGUAGE=en:{}", escape(&self.description)));
            lines.push(format!("LOCATION:{}", escape(&self.location)));
            lines.push(format!("ATTENDEE;CN=\"{}\";PARTSTAT=ACCEPTED:mailto:a@example.com", self.cn));
            lines.push(format!("X-DAVIT-NOTE;X-PARAM=\"{}\":{}", self.x_param, escape(&self.summary)));
            lines.push(format!("END:{name}"));
            let mut text = String::new();
            for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//davit//properties//EN"] {
                text.push_str(&format!("{line}\r\n"));
            }
            text.push_str(&format!("{BERLIN}{NEW_YORK}").replace('\n', "\r\n"));
            for line in lines {
                text.push_str(&folded(&line, self.fold_width, self.fold_tab));
            }
            text.push_str("END:VCALENDAR\r\n");
            text.into_bytes()
        }
    }

    /// The properties of the object's only VEVENT/VTODO, as filters see them.
    fn main_properties(ical: &ICalendar) -> Vec<view::PropertyView> {
        let root = &ical.components[0];
        let (_, main) = children(ical, root)
            .find(|(_, c)| matches!(view::component_name(c).as_str(), "VEVENT" | "VTODO"))
            .expect("one event or task");
        properties(main)
    }

    fn value_of<'a>(props: &'a [view::PropertyView], name: &str) -> &'a str {
        props.iter().find(|p| p.name == name).map(|p| p.value.as_str()).unwrap_or("<missing>")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn parse_serialize_parse_is_stable(object in object()) {
            let body = object.body();
            let first = parse(&body).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let info = inspect(&first).map_err(|e| TestCaseError::fail(format!("{e}")))?;

            let written = serialize::write(&first);
            prop_assert!(written.split("\r\n").all(|line| line.len() <= 75), "unfolded line:\n{}", written);
            let second = parse(written.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
            prop_assert_eq!(serialize::write(&second), written.clone(), "writing is not stable");
            prop_assert_eq!(inspect(&second).ok(), Some(info.clone()));

            // What the client wrote is what it reads back, unescaped and unfolded.
            for parsed in [&first, &second] {
                let props = main_properties(parsed);
                prop_assert_eq!(value_of(&props, "SUMMARY"), object.summary.as_str());
                prop_assert_eq!(value_of(&props, "DESCRIPTION"), object.description.as_str());
                prop_assert_eq!(value_of(&props, "LOCATION"), object.location.as_str());
                let attendee = props.iter().find(|p| p.name == "ATTENDEE").expect("attendee");
                prop_assert!(attendee.params.contains(&("CN".to_owned(), vec![object.cn.clone()])), "{:?}", attendee.params);
            }

            let from = info.first_start.unwrap_or(0);
            let window = |ical: &ICalendar| {
                instances(ical, Some(from), Some(from + 800 * 86_400), chrono_tz::Europe::Paris, 1000).ok()
            };
            prop_assert_eq!(window(&second), window(&first));
            prop_assert!(window(&first).is_some_and(|list| !list.is_empty()));
        }
    }
}

//! calendar-query (RFC 4791 §7.8) answered through the protocol: a table of time-range cases
//! (§9.9: VEVENT, VTODO, VJOURNAL; recurring, all-day, floating, DST, overrides), every other
//! filter element, and the PUT preconditions of §5.3.2.1.

use std::collections::{BTreeSet, HashMap};

use crate::harness::{Client, TestServer};
use davit::store::Role;

const ALL: &str = "/dav/calendars/alice/all/";
const NY: &str = "/dav/calendars/alice/ny/";

fn wrap(uid: &str, inner: &str) -> String {
    let inner = inner.replace("{UID}", uid).replace('\n', "\r\n");
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit tests//EN\r\n{inner}END:VCALENDAR\r\n")
}

fn event(uid: &str, props: &str) -> String {
    wrap(uid, &format!("BEGIN:VEVENT\nUID:{{UID}}\nDTSTAMP:20260101T000000Z\n{props}\nEND:VEVENT\n"))
}

fn todo(uid: &str, props: &str) -> String {
    let props = if props.is_empty() { String::new() } else { format!("{props}\n") };
    wrap(
        uid,
        &format!("BEGIN:VTODO\nUID:{{UID}}\nDTSTAMP:20260101T000000Z\n{props}SUMMARY:task\nEND:VTODO\n"),
    )
}

fn journal(uid: &str, props: &str) -> String {
    let props = if props.is_empty() { String::new() } else { format!("{props}\n") };
    wrap(
        uid,
        &format!(
            "BEGIN:VJOURNAL\nUID:{{UID}}\nDTSTAMP:20260101T000000Z\n{props}SUMMARY:note\nEND:VJOURNAL\n"
        ),
    )
}

/// The objects of the time-range table, by name.
fn objects() -> Vec<(&'static str, String)> {
    vec![
        ("ev_simple", event("ev_simple", "DTSTART:20260110T100000Z\nDTEND:20260110T110000Z")),
        ("ev_zero", event("ev_zero", "DTSTART:20260110T100000Z")),
        ("ev_duration", event("ev_duration", "DTSTART:20260110T100000Z\nDURATION:PT2H")),
        ("ev_allday", event("ev_allday", "DTSTART;VALUE=DATE:20260115")),
        (
            "ev_allday_multi",
            event("ev_allday_multi", "DTSTART;VALUE=DATE:20260120\nDTEND;VALUE=DATE:20260123"),
        ),
        ("ev_floating", event("ev_floating", "DTSTART:20260112T090000\nDTEND:20260112T100000")),
        (
            "ev_berlin",
            event(
                "ev_berlin",
                "DTSTART;TZID=Europe/Berlin:20260113T090000\nDTEND;TZID=Europe/Berlin:20260113T100000",
            ),
        ),
        (
            "ev_weekly",
            event("ev_weekly", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nRRULE:FREQ=WEEKLY;COUNT=4"),
        ),
        (
            "ev_exdate",
            event(
                "ev_exdate",
                "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nRRULE:FREQ=WEEKLY;COUNT=4\nEXDATE:20260112T100000Z",
            ),
        ),
        (
            "ev_override",
            wrap(
                "ev_override",
                "BEGIN:VEVENT\nUID:{UID}\nDTSTAMP:20260101T000000Z\nSEQUENCE:1\nDTSTART:20260202T100000Z\nDTEND:20260202T110000Z\n\
                 RRULE:FREQ=WEEKLY;COUNT=3\nSUMMARY:series\nEND:VEVENT\n\
                 BEGIN:VEVENT\nUID:{UID}\nDTSTAMP:20260101T000000Z\nSEQUENCE:2\nRECURRENCE-ID:20260209T100000Z\n\
                 DTSTART:20260210T150000Z\nDTEND:20260210T160000Z\nSUMMARY:moved\nEND:VEVENT\n",
            ),
        ),
        ("ev_forever", event("ev_forever", "DTSTART:20250101T080000Z\nDURATION:PT30M\nRRULE:FREQ=DAILY")),
        (
            "ev_dst",
            event(
                "ev_dst",
                "DTSTART;TZID=Europe/Berlin:20260327T090000\nDURATION:PT30M\nRRULE:FREQ=DAILY;COUNT=4",
            ),
        ),
        ("td_start_dur", todo("td_start_dur", "DTSTART:20260301T100000Z\nDURATION:PT1H")),
        ("td_start_due", todo("td_start_due", "DTSTART:20260302T100000Z\nDUE:20260302T120000Z")),
        ("td_start", todo("td_start", "DTSTART:20260303T100000Z")),
        ("td_due", todo("td_due", "DUE:20260304T100000Z")),
        ("td_done_created", todo("td_done_created", "COMPLETED:20260305T100000Z\nCREATED:20260301T000000Z")),
        ("td_done", todo("td_done", "COMPLETED:20260306T100000Z")),
        ("td_created", todo("td_created", "CREATED:20260307T100000Z")),
        ("td_nothing", todo("td_nothing", "")),
        (
            "td_weekly_due",
            todo(
                "td_weekly_due",
                "DTSTART:20260601T090000Z\nDUE:20260601T100000Z\nRRULE:FREQ=WEEKLY;COUNT=3",
            ),
        ),
        ("jo_datetime", journal("jo_datetime", "DTSTART:20260401T100000Z")),
        ("jo_date", journal("jo_date", "DTSTART;VALUE=DATE:20260402")),
        ("jo_none", journal("jo_none", "")),
    ]
}

/// (component, start, end, object, expected): "" bounds are open.
const CASES: &[(&str, &str, &str, &str, bool)] = &[
    // VEVENT with DTEND: start < DTEND and end > DTSTART.
    ("VEVENT", "20260110T090000Z", "20260110T100000Z", "ev_simple", false),
    ("VEVENT", "20260110T090000Z", "20260110T100001Z", "ev_simple", true),
    ("VEVENT", "20260110T110000Z", "20260110T120000Z", "ev_simple", false),
    ("VEVENT", "20260110T105959Z", "20260110T120000Z", "ev_simple", true),
    ("VEVENT", "20260101T000000Z", "20260201T000000Z", "ev_simple", true),
    ("VEVENT", "", "20260110T103000Z", "ev_simple", true),
    ("VEVENT", "20260110T110000Z", "", "ev_simple", false),
    // Zero-length (DATE-TIME DTSTART only): start <= DTSTART and end > DTSTART.
    ("VEVENT", "20260110T100000Z", "20260110T100001Z", "ev_zero", true),
    ("VEVENT", "20260110T095959Z", "20260110T100000Z", "ev_zero", false),
    ("VEVENT", "20260110T100001Z", "20260110T110000Z", "ev_zero", false),
    // DURATION.
    ("VEVENT", "20260110T115959Z", "20260110T130000Z", "ev_duration", true),
    ("VEVENT", "20260110T120000Z", "20260110T130000Z", "ev_duration", false),
    // All-day: DATE DTSTART lasts one day (UTC calendar).
    ("VEVENT", "20260115T230000Z", "20260116T000000Z", "ev_allday", true),
    ("VEVENT", "20260116T000000Z", "20260116T010000Z", "ev_allday", false),
    ("VEVENT", "20260114T000000Z", "20260115T000000Z", "ev_allday", false),
    ("VEVENT", "20260122T120000Z", "20260122T130000Z", "ev_allday_multi", true),
    ("VEVENT", "20260123T000000Z", "20260124T000000Z", "ev_allday_multi", false),
    // Floating time in a calendar without a zone: UTC.
    ("VEVENT", "20260112T093000Z", "20260112T094000Z", "ev_floating", true),
    ("VEVENT", "20260112T100000Z", "20260112T110000Z", "ev_floating", false),
    // TZID: 09:00 in Berlin in January is 08:00Z.
    ("VEVENT", "20260113T080000Z", "20260113T080100Z", "ev_berlin", true),
    ("VEVENT", "20260113T090000Z", "20260113T100000Z", "ev_berlin", false),
    ("VEVENT", "20260113T070000Z", "20260113T080000Z", "ev_berlin", false),
    // Weekly series: 5, 12, 19, 26 January.
    ("VEVENT", "20260119T103000Z", "20260119T104000Z", "ev_weekly", true),
    ("VEVENT", "20260120T000000Z", "20260125T000000Z", "ev_weekly", false),
    ("VEVENT", "20260126T100000Z", "20260126T110000Z", "ev_weekly", true),
    ("VEVENT", "20260202T100000Z", "20260202T110000Z", "ev_weekly", false),
    // EXDATE removes the 12th.
    ("VEVENT", "20260112T100000Z", "20260112T110000Z", "ev_exdate", false),
    ("VEVENT", "20260105T100000Z", "20260105T110000Z", "ev_exdate", true),
    ("VEVENT", "20260119T100000Z", "20260119T110000Z", "ev_exdate", true),
    // Override with another SEQUENCE moves the 9 February instance to the 10th, 15:00.
    ("VEVENT", "20260209T100000Z", "20260209T110000Z", "ev_override", false),
    ("VEVENT", "20260210T150000Z", "20260210T153000Z", "ev_override", true),
    ("VEVENT", "20260216T100000Z", "20260216T110000Z", "ev_override", true),
    ("VEVENT", "20260202T100000Z", "20260202T110000Z", "ev_override", true),
    // A daily rule without end, far in the future and before its start.
    ("VEVENT", "20300101T081000Z", "20300101T082000Z", "ev_forever", true),
    ("VEVENT", "20300101T090000Z", "20300101T230000Z", "ev_forever", false),
    ("VEVENT", "20241231T000000Z", "20241231T230000Z", "ev_forever", false),
    ("VEVENT", "20990101T080000Z", "", "ev_forever", true),
    // 09:00 Berlin across the DST change of 29 March 2026: 08:00Z, then 07:00Z.
    ("VEVENT", "20260328T080000Z", "20260328T081000Z", "ev_dst", true),
    ("VEVENT", "20260329T070000Z", "20260329T071000Z", "ev_dst", true),
    ("VEVENT", "20260329T080000Z", "20260329T081000Z", "ev_dst", false),
    ("VEVENT", "20260330T063000Z", "20260330T070000Z", "ev_dst", false),
    ("VEVENT", "20260330T070000Z", "20260330T072959Z", "ev_dst", true),
    // VTODO table, row 1: DTSTART + DURATION.
    ("VTODO", "20260301T110000Z", "20260301T120000Z", "td_start_dur", true),
    ("VTODO", "20260301T110001Z", "20260301T120000Z", "td_start_dur", false),
    ("VTODO", "20260301T090000Z", "20260301T100000Z", "td_start_dur", false),
    ("VTODO", "20260301T090000Z", "20260301T100001Z", "td_start_dur", true),
    // Row 2: DTSTART + DUE.
    ("VTODO", "20260302T120000Z", "20260302T130000Z", "td_start_due", false),
    ("VTODO", "20260302T115959Z", "20260302T130000Z", "td_start_due", true),
    ("VTODO", "20260302T090000Z", "20260302T100000Z", "td_start_due", false),
    ("VTODO", "20260302T090000Z", "20260302T100001Z", "td_start_due", true),
    // Row 3: DTSTART only.
    ("VTODO", "20260303T100000Z", "20260303T100001Z", "td_start", true),
    ("VTODO", "20260303T100001Z", "20260303T110000Z", "td_start", false),
    // Row 4: DUE only (end inclusive).
    ("VTODO", "20260304T090000Z", "20260304T100000Z", "td_due", true),
    ("VTODO", "20260304T100000Z", "20260304T110000Z", "td_due", false),
    // Row 5: COMPLETED and CREATED.
    ("VTODO", "20260303T000000Z", "20260304T000000Z", "td_done_created", true),
    ("VTODO", "20260306T000000Z", "20260307T000000Z", "td_done_created", false),
    ("VTODO", "20260201T000000Z", "20260202T000000Z", "td_done_created", false),
    // Row 6: COMPLETED only.
    ("VTODO", "20260306T090000Z", "20260306T100000Z", "td_done", true),
    ("VTODO", "20260306T100001Z", "20260306T110000Z", "td_done", false),
    // Row 7: CREATED only (only the end of the range matters).
    ("VTODO", "20260101T000000Z", "20260307T100001Z", "td_created", true),
    ("VTODO", "20260101T000000Z", "20260307T100000Z", "td_created", false),
    ("VTODO", "20260401T000000Z", "20260501T000000Z", "td_created", true),
    // Row 8: no dates at all matches every range.
    ("VTODO", "20000101T000000Z", "20000102T000000Z", "td_nothing", true),
    // A recurring task is tested per instance.
    ("VTODO", "20260608T093000Z", "20260608T094000Z", "td_weekly_due", true),
    ("VTODO", "20260611T000000Z", "20260612T000000Z", "td_weekly_due", false),
    // VJOURNAL: DATE-TIME is a point, DATE a day, no DTSTART never matches.
    ("VJOURNAL", "20260401T100000Z", "20260401T100100Z", "jo_datetime", true),
    ("VJOURNAL", "20260401T100001Z", "20260401T110000Z", "jo_datetime", false),
    ("VJOURNAL", "20260402T230000Z", "20260403T000000Z", "jo_date", true),
    ("VJOURNAL", "20260403T000000Z", "20260403T010000Z", "jo_date", false),
    ("VJOURNAL", "20000101T000000Z", "21000101T000000Z", "jo_none", false),
    // Component types never cross: a VEVENT query finds no task.
    ("VEVENT", "20260301T000000Z", "20260310T000000Z", "td_start", false),
];

fn query_body(comp: &str, start: &str, end: &str) -> String {
    let mut range = String::from("<C:time-range");
    if !start.is_empty() {
        range.push_str(&format!(" start=\"{start}\""));
    }
    if !end.is_empty() {
        range.push_str(&format!(" end=\"{end}\""));
    }
    range.push_str("/>");
    filter_body(&format!("<C:comp-filter name=\"{comp}\">{range}</C:comp-filter>"))
}

fn filter_body(inner: &str) -> String {
    format!(
        "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/></D:prop>\
         <C:filter><C:comp-filter name=\"VCALENDAR\">{inner}</C:comp-filter></C:filter></C:calendar-query>"
    )
}

/// Names (file stems) of the objects a query on `path` returns.
async fn query(c: &Client, path: &str, body: &str) -> BTreeSet<String> {
    let r = c.send(c.request("REPORT", path).header("Depth", "1").body(body.to_owned())).await;
    r.assert_status(207);
    r.xml()
        .hrefs()
        .into_iter()
        .map(|h| h.trim_start_matches(path).trim_end_matches(".ics").to_owned())
        .collect()
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    c.go("MKCALENDAR", ALL).await.assert_status(201);
    for (name, body) in objects() {
        let r = c.put(&format!("{ALL}{name}.ics"), "text/calendar", &body).await;
        assert_eq!(r.status.as_u16(), 201, "PUT {name}: {}", r.body);
    }
    (server, c)
}

#[tokio::test]
async fn time_range_table() {
    assert!(CASES.len() >= 60, "the issue asks for at least 60 cases");
    let (server, c) = setup().await;
    let mut answers: HashMap<(&str, &str, &str), BTreeSet<String>> = HashMap::new();
    let mut failures = Vec::new();
    for &(comp, start, end, object, expected) in CASES {
        let key = (comp, start, end);
        if let std::collections::hash_map::Entry::Vacant(slot) = answers.entry(key) {
            slot.insert(query(&c, ALL, &query_body(comp, start, end)).await);
        }
        if answers[&key].contains(object) != expected {
            failures.push(format!("{comp} [{start}, {end}) {object}: expected {expected}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    server.stop().await;
}

#[tokio::test]
async fn floating_times_follow_the_calendar_timezone() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let tz = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n\
              BEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n\
              TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\n\
              RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n\
              END:VTIMEZONE\r\nEND:VCALENDAR\r\n";
    let body = format!(
        "<C:mkcalendar xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop>\
         <C:calendar-timezone>{}</C:calendar-timezone></D:prop></D:set></C:mkcalendar>",
        tz.replace('\r', "&#13;")
    );
    c.body("MKCALENDAR", NY, &body).await.assert_status(201);
    let ev = event("float", "DTSTART:20260112T090000\nDTEND:20260112T100000");
    c.put(&format!("{NY}float.ics"), "text/calendar", &ev).await.assert_status(201);
    // 09:00 in New York in January is 14:00Z.
    assert!(
        query(&c, NY, &query_body("VEVENT", "20260112T140000Z", "20260112T141000Z")).await.contains("float")
    );
    assert!(
        !query(&c, NY, &query_body("VEVENT", "20260112T090000Z", "20260112T091000Z")).await.contains("float")
    );
    server.stop().await;
}

/// calendar-query answers most VEVENT time-ranges from the instance list indexed at PUT: it
/// must follow an update, a MOVE and a COPY, and leave floating times to the request's zone.
#[tokio::test]
async fn indexed_answers_follow_updates_moves_and_the_request_timezone() {
    const OTHER: &str = "/dav/calendars/alice/other/";
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    const THIRD: &str = "/dav/calendars/alice/third/";
    for cal in [ALL, OTHER, THIRD] {
        c.go("MKCALENDAR", cal).await.assert_status(201);
    }
    let jan = query_body("VEVENT", "20260101T000000Z", "20260201T000000Z");
    let mar = query_body("VEVENT", "20260301T000000Z", "20260401T000000Z");
    let weekly = event("s", "DTSTART:20260105T100000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=3");
    c.put(&format!("{ALL}s.ics"), "text/calendar", &weekly).await.assert_status(201);
    assert!(query(&c, ALL, &jan).await.contains("s"));
    assert!(!query(&c, ALL, &mar).await.contains("s"));

    // Updated into a single event in March.
    let moved = event("s", "DTSTART:20260310T100000Z\nDTEND:20260310T110000Z");
    c.put(&format!("{ALL}s.ics"), "text/calendar", &moved).await.assert_status(204);
    assert!(!query(&c, ALL, &jan).await.contains("s"));
    assert!(query(&c, ALL, &mar).await.contains("s"));

    // One UID per calendar: the copy goes to a third one.
    for (method, to) in [("COPY", format!("{THIRD}copy.ics")), ("MOVE", format!("{OTHER}s.ics"))] {
        c.send(c.request(method, &format!("{ALL}s.ics")).header("Destination", to)).await.assert_status(201);
    }
    assert!(query(&c, ALL, &mar).await.is_empty());
    assert_eq!(query(&c, OTHER, &mar).await, BTreeSet::from(["s".to_owned()]));
    assert_eq!(query(&c, THIRD, &mar).await, BTreeSet::from(["copy".to_owned()]));
    assert!(query(&c, THIRD, &jan).await.is_empty());
    assert!(query(&c, OTHER, &jan).await.is_empty());

    // Floating times take the request's CALDAV:timezone (RFC 4791 §9.8) when the calendar has
    // none: 09:00 in Tokyo is 00:00Z.
    let floating = event("f", "DTSTART:20260112T090000\nDTEND:20260112T100000");
    c.put(&format!("{OTHER}f.ics"), "text/calendar", &floating).await.assert_status(201);
    let tokyo = "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nPRODID:x&#13;\nBEGIN:VTIMEZONE&#13;\nTZID:Asia/Tokyo&#13;\n\
                 BEGIN:STANDARD&#13;\nDTSTART:19700101T000000&#13;\nTZOFFSETFROM:+0900&#13;\nTZOFFSETTO:+0900&#13;\n\
                 END:STANDARD&#13;\nEND:VTIMEZONE&#13;\nEND:VCALENDAR&#13;\n";
    let in_tokyo = |start: &str, end: &str| {
        query_body("VEVENT", start, end)
            .replace("</C:filter>", &format!("</C:filter><C:timezone>{tokyo}</C:timezone>"))
    };
    assert!(query(&c, OTHER, &in_tokyo("20260112T000000Z", "20260112T001000Z")).await.contains("f"));
    assert!(!query(&c, OTHER, &in_tokyo("20260112T090000Z", "20260112T091000Z")).await.contains("f"));
    assert!(
        query(&c, OTHER, &query_body("VEVENT", "20260112T090000Z", "20260112T091000Z")).await.contains("f")
    );
    server.stop().await;
}

#[tokio::test]
async fn property_parameter_and_component_filters() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    c.go("MKCALENDAR", ALL).await.assert_status(201);
    let lunch = event(
        "lunch",
        "DTSTART:20260110T120000Z\nDTEND:20260110T130000Z\nSUMMARY:Team Lunch\nLOCATION:Canteen\n\
         ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@example.org\n\
         BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:soon\nTRIGGER:-PT15M\nEND:VALARM",
    );
    let review = event(
        "review",
        "DTSTART:20260111T090000Z\nDTEND:20260111T100000Z\nSUMMARY:Code review\n\
         ATTENDEE;PARTSTAT=DECLINED:mailto:carol@example.org",
    );
    for (name, body) in [("lunch", lunch), ("review", review)] {
        c.put(&format!("{ALL}{name}.ics"), "text/calendar", &body).await.assert_status(201);
    }
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let ev = |inner: &str| filter_body(&format!("<C:comp-filter name=\"VEVENT\">{inner}</C:comp-filter>"));
    let cases: Vec<(&str, String, BTreeSet<String>)> = vec![
        (
            "casemap",
            ev("<C:prop-filter name=\"SUMMARY\"><C:text-match>lunch</C:text-match></C:prop-filter>"),
            set(&["lunch"]),
        ),
        (
            "octet is case-sensitive",
            ev(
                "<C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;octet\">lunch</C:text-match></C:prop-filter>",
            ),
            set(&[]),
        ),
        (
            "negate",
            ev(
                "<C:prop-filter name=\"SUMMARY\"><C:text-match negate-condition=\"yes\">lunch</C:text-match></C:prop-filter>",
            ),
            set(&["review"]),
        ),
        (
            "is-not-defined",
            ev("<C:prop-filter name=\"LOCATION\"><C:is-not-defined/></C:prop-filter>"),
            set(&["review"]),
        ),
        ("defined", ev("<C:prop-filter name=\"LOCATION\"/>"), set(&["lunch"])),
        (
            "param-filter",
            ev(
                "<C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"PARTSTAT\"><C:text-match>ACCEPTED</C:text-match></C:param-filter></C:prop-filter>",
            ),
            set(&["lunch"]),
        ),
        (
            "param is-not-defined",
            ev(
                "<C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"CN\"><C:is-not-defined/></C:param-filter></C:prop-filter>",
            ),
            set(&["review"]),
        ),
        (
            "VALARM time-range (trigger 11:45Z)",
            ev(
                "<C:comp-filter name=\"VALARM\"><C:time-range start=\"20260110T114000Z\" end=\"20260110T115000Z\"/></C:comp-filter>",
            ),
            set(&["lunch"]),
        ),
        (
            "VALARM outside",
            ev(
                "<C:comp-filter name=\"VALARM\"><C:time-range start=\"20260110T120000Z\" end=\"20260110T130000Z\"/></C:comp-filter>",
            ),
            set(&[]),
        ),
        (
            "no VALARM",
            ev("<C:comp-filter name=\"VALARM\"><C:is-not-defined/></C:comp-filter>"),
            set(&["review"]),
        ),
        (
            "no VTODO in the object",
            filter_body("<C:comp-filter name=\"VTODO\"><C:is-not-defined/></C:comp-filter>"),
            set(&["lunch", "review"]),
        ),
        (
            "prop-filter time-range on DTSTART",
            ev(
                "<C:prop-filter name=\"DTSTART\"><C:time-range start=\"20260111T000000Z\" end=\"20260112T000000Z\"/></C:prop-filter>",
            ),
            set(&["review"]),
        ),
        ("everything", filter_body(""), set(&["lunch", "review"])),
    ];
    for (what, body, expected) in cases {
        assert_eq!(query(&c, ALL, &body).await, expected, "{what}");
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_filters_get_their_precondition_and_nothing_panics() {
    let (server, c) = setup().await;
    let ev = |inner: &str| filter_body(&format!("<C:comp-filter name=\"VEVENT\">{inner}</C:comp-filter>"));
    let cases = [
        (filter_body("<C:comp-filter name=\"VBOGUS\"/>"), 403, "supported-filter"),
        (ev("<C:time-range start=\"20260201T000000Z\" end=\"20260101T000000Z\"/>"), 403, "valid-filter"),
        (ev("<C:time-range start=\"yesterday\"/>"), 403, "valid-filter"),
        (
            ev(
                "<C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;klingon\">x</C:text-match></C:prop-filter>",
            ),
            403,
            "supported-collation",
        ),
        ("<C:calendar-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\"/>".to_owned(), 403, "valid-filter"),
    ];
    for (body, status, element) in cases {
        let r = c.send(c.request("REPORT", ALL).header("Depth", "1").body(body)).await;
        r.assert_status(status);
        r.assert_contains(element);
    }
    // calendar-query is for calendars, not homes.
    let r =
        c.send(c.request("REPORT", "/dav/calendars/alice/").header("Depth", "1").body(filter_body(""))).await;
    r.assert_status(403);
    // An unbounded rule over a century answers (bounded expansion), and the server lives on.
    let everything = query(&c, ALL, &query_body("VEVENT", "20000101T000000Z", "21000101T000000Z")).await;
    assert!(everything.contains("ev_forever"));
    server.stop().await;
}

#[tokio::test]
async fn put_preconditions_of_rfc4791() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let cal = "/dav/calendars/alice/calendar/";
    let good = event("u1", "DTSTART:20260110T100000Z");
    c.put(&format!("{cal}a.ics"), "text/calendar", &good).await.assert_status(201);
    let two_uids = wrap(
        "x",
        "BEGIN:VEVENT\nUID:one\nDTSTAMP:20260101T000000Z\nDTSTART:20260110T100000Z\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:two\nDTSTAMP:20260101T000000Z\nDTSTART:20260110T100000Z\nEND:VEVENT\n",
    );
    let cases = [
        (
            "malformed.ics",
            "BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n".to_owned(),
            403,
            "valid-calendar-data",
        ),
        ("two.ics", two_uids, 403, "valid-calendar-object-resource"),
        ("task.ics", todo("t1", "DUE:20260110T100000Z"), 403, "supported-calendar-component"),
        ("dup.ics", event("u1", "DTSTART:20260111T100000Z"), 409, "no-uid-conflict"),
    ];
    for (name, body, status, element) in cases {
        let r = c.put(&format!("{cal}{name}"), "text/calendar", &body).await;
        r.assert_status(status);
        r.assert_contains(element);
        c.go("GET", &format!("{cal}{name}")).await.assert_status(404);
    }
    // The UID conflict names the resource that holds the UID.
    let r = c.put(&format!("{cal}dup.ics"), "text/calendar", &event("u1", "DTSTART:20260111T100000Z")).await;
    r.assert_contains(&format!("<D:href>{cal}a.ics</D:href>"));
    // A VTODO goes into the task list.
    c.put("/dav/calendars/alice/tasks/t.ics", "text/calendar", &todo("t1", "")).await.assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn calendar_limits_are_advertised_and_enforced() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let cal = "/dav/calendars/alice/calendar/";
    let props = crate::harness::propfind_body(&[
        "C:min-date-time",
        "C:max-date-time",
        "C:max-instances",
        "C:max-attendees-per-instance",
        "C:schedule-calendar-transp",
        "C:max-resource-size",
        "C:supported-calendar-data",
    ]);
    let r = c.propfind(cal, "0", &props).await;
    let doc = r.xml();
    let resp = &doc.responses()[0];
    let caldav = "urn:ietf:params:xml:ns:caldav";
    assert_eq!(resp.ok(caldav, "min-date-time").text(), "19000101T000000Z");
    assert_eq!(resp.ok(caldav, "max-instances").text(), "10000");
    assert!(resp.ok(caldav, "schedule-calendar-transp").child(caldav, "opaque").is_some());
    resp.ok(caldav, "max-attendees-per-instance");
    resp.ok(caldav, "supported-calendar-data");
    let attendees: String = (0..1001).map(|i| format!("ATTENDEE:mailto:p{i}@example.org\n")).collect();
    let cases = [
        (event("old", "DTSTART:18500101T100000Z"), "min-date-time"),
        (event("late", "DTSTART:21500101T100000Z"), "max-date-time"),
        (event("many", "DTSTART:20260101T100000Z\nRRULE:FREQ=DAILY;COUNT=20000"), "max-instances"),
        (
            event("crowd", &format!("DTSTART:20260101T100000Z\n{}", attendees.trim_end())),
            "max-attendees-per-instance",
        ),
    ];
    for (body, element) in cases {
        let r = c.put(&format!("{cal}x.ics"), "text/calendar", &body).await;
        r.assert_status(403);
        r.assert_contains(element);
    }
    // max-instances is inclusive: exactly 10,000 instances are accepted. A rule without end
    // is what clients create every day: accepted too.
    for (name, rule) in [("ten-thousand", "RRULE:FREQ=HOURLY;COUNT=10000"), ("daily", "RRULE:FREQ=DAILY")] {
        let body = event(name, &format!("DTSTART:20260101T100000Z\n{rule}"));
        c.put(&format!("{cal}{name}.ics"), "text/calendar", &body).await.assert_status(201);
    }
    // schedule-calendar-transp is settable.
    let patch = "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop>\
                 <C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp></D:prop></D:set></D:propertyupdate>";
    c.body("PROPPATCH", cal, patch).await.assert_status(207);
    let r = c.propfind(cal, "0", &crate::harness::propfind_body(&["C:schedule-calendar-transp"])).await;
    assert!(
        r.xml().responses()[0].ok(caldav, "schedule-calendar-transp").child(caldav, "transparent").is_some()
    );
    server.stop().await;
}

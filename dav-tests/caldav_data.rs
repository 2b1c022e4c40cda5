//! calendar-data in REPORT answers (RFC 4791 §9.6: partial retrieval, expand,
//! limit-recurrence-set), the URI fix-up of our iCalendar writer, and the free-busy-query
//! REPORT (§7.10).

use crate::harness::roxml::{DAV, ResponseView};
use crate::harness::{Client, Reply, TestServer};
use davit::store::{Expect, HomeKind, ObjectIndex, PutObject, Role};

const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CAL: &str = "/dav/calendars/alice/calendar/";
const NS: &str = "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"";

fn wrap(inner: &str) -> String {
    let inner = inner.trim_start_matches('\n').replace('\n', "\r\n");
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit tests//EN\r\n{inner}END:VCALENDAR\r\n")
}

fn event(uid: &str, props: &str) -> String {
    wrap(&format!("BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\n{props}\nEND:VEVENT\n"))
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    (server, c)
}

async fn put(c: &Client, name: &str, body: &str) {
    let r = c.put(&format!("{CAL}{name}"), "text/calendar", body).await;
    assert!(r.status.is_success(), "PUT {name}: {} {}", r.status, r.body);
}

async fn report(c: &Client, path: &str, depth: &str, body: String) -> Reply {
    c.send(
        c.request("REPORT", path).header("Depth", depth).header("Content-Type", "application/xml").body(body),
    )
    .await
}

/// The calendar-data of a response, with LF line ends and folding undone.
fn calendar_data(resp: &ResponseView<'_>) -> String {
    resp.ok(CALDAV, "calendar-data").text().replace("\r\n", "\n").replace("\n ", "")
}

fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

const PLANNING: &str = "DTSTART:20260105T090000Z\nDTEND:20260105T100000Z\nSUMMARY:Planning\nLOCATION:Room 1\n\
                        ATTENDEE;CN=Bob:mailto:bob@example.org\nBEGIN:VALARM\nTRIGGER:-PT10M\nACTION:DISPLAY\n\
                        DESCRIPTION:Planning\nEND:VALARM";

/// RFC 4791 §7.8.1-style selection: VERSION of VCALENDAR, SUMMARY and UID of VEVENT.
const SUMMARY_AND_UID: &str = "<C:calendar-data><C:comp name=\"VCALENDAR\"><C:prop name=\"VERSION\"/>\
                               <C:comp name=\"VEVENT\"><C:prop name=\"SUMMARY\"/><C:prop name=\"UID\"/></C:comp>\
                               </C:comp></C:calendar-data>";

#[tokio::test]
async fn multiget_and_query_return_only_the_selected_parts() {
    let (server, c) = setup().await;
    put(&c, "a.ics", &event("a", PLANNING)).await;
    put(&c, "b.ics", &event("b", "DTSTART:20260107T090000Z\nDURATION:PT1H\nSUMMARY:Review\nLOCATION:Room 2"))
        .await;

    let body = format!(
        "<C:calendar-multiget {NS}><D:prop><D:getetag/>{SUMMARY_AND_UID}</D:prop>\
         <D:href>{CAL}a.ics</D:href><D:href>{CAL}b.ics</D:href></C:calendar-multiget>"
    );
    let r = report(&c, CAL, "1", body).await;
    r.assert_status(207);
    let doc = r.xml();
    let data = |name: &str| calendar_data(&doc.response(&format!("{CAL}{name}")));
    let expect = |uid: &str, summary: &str| {
        lines(&[
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "BEGIN:VEVENT",
            &format!("UID:{uid}"),
            &format!("SUMMARY:{summary}"),
            "END:VEVENT",
            "END:VCALENDAR",
        ])
    };
    assert_eq!(data("a.ics"), expect("a", "Planning"));
    assert_eq!(data("b.ics"), expect("b", "Review"));

    // The same selection in a calendar-query narrowed to Wednesday.
    let body = format!(
        "<C:calendar-query {NS}><D:prop>{SUMMARY_AND_UID}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">\
         <C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260107T000000Z\" end=\"20260108T000000Z\"/>\
         </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    );
    let r = report(&c, CAL, "1", body).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_eq!(doc.hrefs(), [format!("{CAL}b.ics")]);
    assert_eq!(calendar_data(&doc.response(&format!("{CAL}b.ics"))), expect("b", "Review"));

    // Without a selection the stored body comes back as stored.
    let body = format!(
        "<C:calendar-multiget {NS}><D:prop><C:calendar-data/></D:prop><D:href>{CAL}a.ics</D:href></C:calendar-multiget>"
    );
    let r = report(&c, CAL, "1", body).await;
    let stored = event("a", PLANNING).replace("\r\n", "\n");
    assert_eq!(calendar_data(&r.xml().response(&format!("{CAL}a.ics"))), stored);
    server.stop().await;
}

const BERLIN: &str = "BEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:DAYLIGHT\nTZOFFSETFROM:+0100\n\
                      TZOFFSETTO:+0200\nTZNAME:CEST\nDTSTART:19700329T020000\n\
                      RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nBEGIN:STANDARD\n\
                      TZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nTZNAME:CET\nDTSTART:19701025T030000\n\
                      RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\nEND:VTIMEZONE\n";

/// Mondays 10:00 Berlin (09:00 UTC), six from January 5th; the 19th excluded, the 26th moved
/// to Tuesday 15:00.
fn weekly() -> String {
    wrap(&format!(
        "{BERLIN}BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20260101T000000Z\n\
         DTSTART;TZID=Europe/Berlin:20260105T100000\nDTEND;TZID=Europe/Berlin:20260105T110000\n\
         RRULE:FREQ=WEEKLY;COUNT=6\nEXDATE;TZID=Europe/Berlin:20260119T100000\nSUMMARY:Standup\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID;TZID=Europe/Berlin:20260126T100000\n\
         DTSTART;TZID=Europe/Berlin:20260127T150000\nDTEND;TZID=Europe/Berlin:20260127T160000\n\
         SUMMARY:Standup (moved)\nEND:VEVENT\n"
    ))
}

fn query_with(calendar_data: &str, start: &str, end: &str) -> String {
    format!(
        "<C:calendar-query {NS}><D:prop><D:getetag/>{calendar_data}</D:prop><C:filter>\
         <C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\">\
         <C:time-range start=\"{start}\" end=\"{end}\"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
}

#[tokio::test]
async fn expand_returns_utc_instances_without_recurrence_rules() {
    let (server, c) = setup().await;
    put(&c, "weekly.ics", &weekly()).await;
    let (start, end) = ("20260110T000000Z", "20260203T000000Z");
    let cd = format!("<C:calendar-data><C:expand start=\"{start}\" end=\"{end}\"/></C:calendar-data>");
    let r = report(&c, CAL, "1", query_with(&cd, start, end)).await;
    r.assert_status(207);
    let instance = |start: &str, end: &str| {
        format!(
            "BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20260101T000000Z\nDTSTART:{start}\nRECURRENCE-ID:{start}\n\
             DTEND:{end}\nSUMMARY:Standup\nEND:VEVENT\n"
        )
    };
    let expected = format!(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//davit tests//EN\n{}\
         BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID:20260126T090000Z\n\
         DTSTART:20260127T140000Z\nDTEND:20260127T150000Z\nSUMMARY:Standup (moved)\nEND:VEVENT\n{}END:VCALENDAR\n",
        instance("20260112T090000Z", "20260112T100000Z"),
        instance("20260202T090000Z", "20260202T100000Z"),
    );
    assert_eq!(calendar_data(&r.xml().response(&format!("{CAL}weekly.ics"))), expected);

    // The excluded Monday: the object matches nothing there, so it is not listed at all.
    let cd =
        "<C:calendar-data><C:expand start=\"20260119T000000Z\" end=\"20260120T000000Z\"/></C:calendar-data>";
    let r = report(&c, CAL, "1", query_with(cd, "20260119T000000Z", "20260120T000000Z")).await;
    r.assert_status(207);
    assert!(r.xml().hrefs().is_empty(), "{}", r.body);

    // expand combined with a selection, through calendar-multiget.
    let body = format!(
        "<C:calendar-multiget {NS}><D:prop><C:calendar-data><C:comp name=\"VCALENDAR\">\
         <C:comp name=\"VEVENT\"><C:prop name=\"RECURRENCE-ID\"/><C:prop name=\"SUMMARY\"/></C:comp></C:comp>\
         <C:expand start=\"20260126T000000Z\" end=\"20260128T000000Z\"/></C:calendar-data></D:prop>\
         <D:href>{CAL}weekly.ics</D:href></C:calendar-multiget>"
    );
    let r = report(&c, CAL, "1", body).await;
    r.assert_status(207);
    assert_eq!(
        calendar_data(&r.xml().response(&format!("{CAL}weekly.ics"))),
        lines(&[
            "BEGIN:VCALENDAR",
            "BEGIN:VEVENT",
            "RECURRENCE-ID:20260126T090000Z",
            "SUMMARY:Standup (moved)",
            "END:VEVENT",
            "END:VCALENDAR",
        ])
    );
    server.stop().await;
}

/// Daily 10:00 UTC from March 1st, ten times: one override inside the range, one outside,
/// one moved into it and one moved out of it.
fn daily_with_overrides() -> String {
    let over = |rid: &str, start: &str, summary: &str| {
        format!(
            "BEGIN:VEVENT\nUID:daily\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID:{rid}\nDTSTART:{start}\n\
             DURATION:PT1H\nSUMMARY:{summary}\nEND:VEVENT\n"
        )
    };
    wrap(&format!(
        "BEGIN:VEVENT\nUID:daily\nDTSTAMP:20260101T000000Z\nDTSTART:20260301T100000Z\nDURATION:PT1H\n\
         RRULE:FREQ=DAILY;COUNT=10\nSUMMARY:Daily\nEND:VEVENT\n{}{}{}{}",
        over("20260303T100000Z", "20260303T120000Z", "Inside"),
        over("20260308T100000Z", "20260308T110000Z", "Outside"),
        over("20260309T100000Z", "20260304T150000Z", "Moved in"),
        over("20260305T100000Z", "20260310T150000Z", "Moved out"),
    ))
}

#[tokio::test]
async fn limit_recurrence_set_keeps_master_and_overrides_that_touch_the_range() {
    let (server, c) = setup().await;
    put(&c, "daily.ics", &daily_with_overrides()).await;
    let (start, end) = ("20260302T000000Z", "20260306T000000Z");
    let cd = format!(
        "<C:calendar-data><C:limit-recurrence-set start=\"{start}\" end=\"{end}\"/></C:calendar-data>"
    );
    let r = report(&c, CAL, "1", query_with(&cd, start, end)).await;
    r.assert_status(207);
    let data = calendar_data(&r.xml().response(&format!("{CAL}daily.ics")));
    let expected = daily_with_overrides().replace("\r\n", "\n").replace(
        "BEGIN:VEVENT\nUID:daily\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID:20260308T100000Z\n\
             DTSTART:20260308T110000Z\nDURATION:PT1H\nSUMMARY:Outside\nEND:VEVENT\n",
        "",
    );
    assert_eq!(data, expected);
    assert!(data.contains("RRULE:FREQ=DAILY;COUNT=10") && !data.contains("Outside"));
    server.stop().await;
}

const APPLE: &str = "BEGIN:VTIMEZONE\nTZID:America/Los_Angeles\nBEGIN:DAYLIGHT\nTZOFFSETFROM:-0800\n\
    RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\nDTSTART:20070311T020000\nTZNAME:PDT\nTZOFFSETTO:-0700\n\
    END:DAYLIGHT\nBEGIN:STANDARD\nTZOFFSETFROM:-0700\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\n\
    DTSTART:20071104T020000\nTZNAME:PST\nTZOFFSETTO:-0800\nEND:STANDARD\nEND:VTIMEZONE\n\
    BEGIN:VEVENT\nCREATED:20240402T170000Z\nDTEND;TZID=America/Los_Angeles:20240410T150000\n\
    DTSTAMP:20240402T170012Z\nDTSTART;TZID=America/Los_Angeles:20240410T140000\n\
    LOCATION:Apple Park\\n1 Apple Park Way\\, Cupertino\\, CA 95014\nSUMMARY:Campus visit\n\
    UID:5D3C6E9A-1B2C-4D5E-8F90-A1B2C3D4E5F6\n\
    X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-ADDRESS=\"1 Apple Park Way, Cupertino\n \
    , CA 95014\";X-APPLE-MAPKIT-HANDLE=CAESBBIC;X-APPLE-RADIUS=141.17;X-TITLE=\"Ap\n \
    ple Park\":geo:37.334900,-122.009020\nBEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:Reminder\n\
    TRIGGER:-PT30M\nX-WR-ALARMUID:0E5AB7D1-7A59-4C05-9E2C-3D1F2B6A9C01\nEND:VALARM\nEND:VEVENT\n";

#[tokio::test]
async fn apple_geo_uri_keeps_its_comma() {
    let (server, c) = setup().await;
    put(&c, "apple.ics", &wrap(APPLE)).await;
    let location = "X-APPLE-STRUCTURED-LOCATION;X-ADDRESS=\"1 Apple Park Way, Cupertino, CA 95014\";\
                    X-APPLE-MAPKIT-HANDLE=CAESBBIC;X-APPLE-RADIUS=141.17;X-TITLE=\"Apple Park\";\
                    VALUE=URI:geo:37.334900,-122.009020";
    // Re-serialised whole (allprop + allcomp) and expanded: the URI is never text-escaped,
    // while the TEXT value of LOCATION keeps its escapes.
    let everything =
        "<C:calendar-data><C:comp name=\"VCALENDAR\"><C:allprop/><C:allcomp/></C:comp></C:calendar-data>";
    let expand =
        "<C:calendar-data><C:expand start=\"20240410T000000Z\" end=\"20240411T000000Z\"/></C:calendar-data>";
    for cd in [everything, expand] {
        let body = format!(
            "<C:calendar-multiget {NS}><D:prop>{cd}</D:prop><D:href>{CAL}apple.ics</D:href></C:calendar-multiget>"
        );
        let r = report(&c, CAL, "1", body).await;
        r.assert_status(207);
        let data = calendar_data(&r.xml().response(&format!("{CAL}apple.ics")));
        assert!(data.lines().any(|l| l == location), "{cd}:\n{data}");
        assert!(!data.contains("geo:37.334900\\,"), "{data}");
        assert!(data.contains("LOCATION:Apple Park\\n1 Apple Park Way\\, Cupertino\\, CA 95014"), "{data}");
        if cd == expand {
            // Not recurring: no RECURRENCE-ID; times in UTC; no VTIMEZONE.
            for line in ["DTSTART:20240410T210000Z", "DTEND:20240410T220000Z"] {
                assert!(data.lines().any(|l| l == line), "{line}:\n{data}");
            }
            assert!(!data.contains("VTIMEZONE") && !data.contains("RECURRENCE-ID"), "{data}");
        }
    }
    server.stop().await;
}

fn free_busy_body(range: &str) -> String {
    format!("<C:free-busy-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\">{range}</C:free-busy-query>")
}

const WEEK: &str = "<C:time-range start=\"20260105T000000Z\" end=\"20260112T000000Z\"/>";

#[tokio::test]
async fn free_busy_over_a_week() {
    let (server, c) = setup().await;
    let events = [
        ("busy1", "DTSTART:20260105T090000Z\nDTEND:20260105T100000Z"),
        ("busy2", "DTSTART:20260105T093000Z\nDTEND:20260105T110000Z\nSTATUS:CONFIRMED\nTRANSP:OPAQUE"),
        ("tentative", "DTSTART:20260106T140000Z\nDTEND:20260106T150000Z\nSTATUS:TENTATIVE"),
        ("transparent", "DTSTART:20260107T100000Z\nDTEND:20260107T110000Z\nTRANSP:TRANSPARENT"),
        ("cancelled", "DTSTART:20260108T100000Z\nDTEND:20260108T110000Z\nSTATUS:CANCELLED"),
        ("straddle", "DTSTART:20260104T230000Z\nDTEND:20260105T010000Z"),
        ("later", "DTSTART:20260115T100000Z\nDTEND:20260115T110000Z"),
    ];
    for (name, props) in events {
        put(&c, &format!("{name}.ics"), &event(name, props)).await;
    }
    // Fri–Sun at noon, the Saturday one moved to 13:00 and tentative.
    let daily = wrap(
        "BEGIN:VEVENT\nUID:noon\nDTSTAMP:20260101T000000Z\nDTSTART:20260109T120000Z\nDTEND:20260109T123000Z\n\
         RRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\nBEGIN:VEVENT\nUID:noon\nDTSTAMP:20260101T000000Z\n\
         RECURRENCE-ID:20260110T120000Z\nDTSTART:20260110T130000Z\nDTEND:20260110T133000Z\nSTATUS:TENTATIVE\n\
         END:VEVENT\n",
    );
    put(&c, "noon.ics", &daily).await;
    // A stored VFREEBUSY (as an import would store one; calendars do not accept it by PUT).
    let vfreebusy = wrap(
        "BEGIN:VFREEBUSY\nUID:fb\nDTSTAMP:20260101T000000Z\nDTSTART:20260105T000000Z\nDTEND:20260112T000000Z\n\
         FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260109T160000Z/PT2H\n\
         FREEBUSY;FBTYPE=FREE:20260110T080000Z/20260110T090000Z\nFREEBUSY:20260111T070000Z/20260111T080000Z\n\
         END:VFREEBUSY\n",
    );
    let store = server.store();
    let alice = store.principal_by_slug("alice").unwrap().unwrap();
    let home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let calendar = store.child_collection(home.id, "calendar").unwrap().unwrap();
    let info = davit::ical::inspect(&davit::ical::parse(vfreebusy.as_bytes()).unwrap()).unwrap();
    store
        .put_object(&PutObject {
            collection_id: calendar.id,
            segment: "fb.ics",
            body: vfreebusy.as_bytes(),
            content_type: "text/calendar; charset=utf-8",
            expect: Expect::Absent,
            index: ObjectIndex {
                uid: Some(info.uid),
                comp_type: Some("VFREEBUSY".into()),
                first_start: info.first_start,
                last_end: info.last_end,
                instances: Some(info.instances),
                search: vec![],
            },
        })
        .unwrap();

    let r = report(&c, CAL, "1", free_busy_body(WEEK)).await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap_or("").starts_with("text/calendar"), "{:?}", r.headers);
    let text = r.body.replace("\r\n", "\n");
    let dtstamp = text.lines().find(|l| l.starts_with("DTSTAMP:")).expect("DTSTAMP").to_owned();
    assert!(dtstamp.len() == "DTSTAMP:20260101T000000Z".len() && dtstamp.ends_with('Z'), "{dtstamp}");
    assert_eq!(
        text.replace(&format!("{dtstamp}\n"), ""),
        lines(&[
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//davit//CalDAV Server//EN",
            "BEGIN:VFREEBUSY",
            "DTSTART:20260105T000000Z",
            "DTEND:20260112T000000Z",
            "FREEBUSY;FBTYPE=BUSY:20260105T000000Z/20260105T010000Z",
            "FREEBUSY;FBTYPE=BUSY:20260105T090000Z/20260105T110000Z",
            "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260106T140000Z/20260106T150000Z",
            "FREEBUSY;FBTYPE=BUSY:20260109T120000Z/20260109T123000Z",
            "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260109T160000Z/20260109T180000Z",
            "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260110T130000Z/20260110T133000Z",
            "FREEBUSY;FBTYPE=BUSY:20260111T070000Z/20260111T080000Z",
            "FREEBUSY;FBTYPE=BUSY:20260111T120000Z/20260111T123000Z",
            "END:VFREEBUSY",
            "END:VCALENDAR",
        ])
    );

    // An empty range still answers one VFREEBUSY, without FREEBUSY (§7.10).
    let empty = "<C:time-range start=\"20270101T000000Z\" end=\"20270102T000000Z\"/>";
    let r = report(&c, CAL, "1", free_busy_body(empty)).await;
    r.assert_status(200).assert_contains("BEGIN:VFREEBUSY").assert_lacks("FREEBUSY;");
    server.stop().await;
}

#[tokio::test]
async fn free_busy_refusals() {
    let (server, c) = setup().await;
    server.add_user("bob", Role::Collaborator);
    put(&c, "busy.ics", &event("busy", "DTSTART:20260105T090000Z\nDTEND:20260105T100000Z")).await;

    // Another user without read-free-busy: 403 DAV:need-privileges naming the privilege.
    let bob = server.client("bob");
    let r = report(&bob, CAL, "1", free_busy_body(WEEK)).await;
    r.assert_status(403);
    let doc = r.xml();
    assert!(doc.root.is(DAV, "error"), "{}", r.body);
    let np = doc.root.child(DAV, "need-privileges").unwrap_or_else(|| panic!("{}", r.body));
    let resource = np.child(DAV, "resource").expect("a DAV:resource");
    assert!(resource.child(DAV, "href").unwrap().text().ends_with(CAL), "{}", r.body);
    assert!(
        resource.child(DAV, "privilege").unwrap().child(CALDAV, "read-free-busy").is_some(),
        "{}",
        r.body
    );
    r.assert_lacks("FREEBUSY");

    // Malformed ranges: 400.
    for bad in [
        "<C:time-range start=\"20260105T000000Z\"/>",
        "<C:time-range end=\"20260112T000000Z\"/>",
        "",
        "<C:time-range start=\"20260112T000000Z\" end=\"20260105T000000Z\"/>",
        "<C:time-range start=\"2026-01-05\" end=\"20260112T000000Z\"/>",
    ] {
        report(&c, CAL, "1", free_busy_body(bad)).await.assert_status(400);
    }
    // On a calendar object: 403 (§7.10).
    report(&c, &format!("{CAL}busy.ics"), "0", free_busy_body(WEEK)).await.assert_status(403);
    server.stop().await;
}

#[tokio::test]
async fn calendars_advertise_free_busy_query() {
    let (server, c) = setup().await;
    let r = c.propfind(CAL, "0", &crate::harness::propfind_body(&["D:supported-report-set"])).await;
    r.assert_status(207);
    let doc = r.xml();
    let set = doc.response(CAL).ok(DAV, "supported-report-set");
    let reports: Vec<String> = set
        .elements()
        .filter_map(|s| s.child(DAV, "report"))
        .flat_map(|r| r.elements().map(|e| e.name.clone()).collect::<Vec<_>>())
        .collect();
    assert!(reports.iter().any(|r| r == "free-busy-query"), "{reports:?}");
    server.stop().await;
}

/// A multiget's members of the collection it is sent to take a shorter way (no path parsing,
/// one read); each answer must be the one the general way gives, which absolute-URL hrefs
/// take. Covers escaped and plain names, duplicates, missing members, a dead property, a
/// missing property, allprop and a selection.
#[tokio::test]
async fn multiget_members_answer_as_the_general_path_does() {
    let (server, c) = setup().await;
    put(&c, "plain.ics", &event("plain", PLANNING)).await;
    put(&c, "with space.ics", &event("spaced", "DTSTART:20260106T090000Z\nSUMMARY:A & <b>")).await;
    put(&c, "été.ics", &event("accent", "DTSTART:20260107T090000Z\nSUMMARY:Été")).await;
    let r = c
        .body(
            "PROPPATCH",
            &format!("{CAL}plain.ics"),
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><x:note xmlns:x=\"urn:x\">kept &amp; shown</x:note>\
             </D:prop></D:set></D:propertyupdate>",
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    let names =
        ["plain.ics", "with%20space.ics", "%C3%A9t%C3%A9.ics", "missing.ics", "plain.ics", "pl%61in.ics"];
    let absolute = format!("http://{}", server.addr);
    for prop in [
        "<D:prop><D:getetag/><C:calendar-data/></D:prop>".to_owned(),
        "<D:prop><D:getetag/><x:note xmlns:x=\"urn:x\"/><D:displayname/><C:calendar-data/></D:prop>"
            .to_owned(),
        "<D:allprop/>".to_owned(),
        format!("<D:prop>{SUMMARY_AND_UID}</D:prop>"),
    ] {
        let body = |prefix: &str| {
            let hrefs: String = names.iter().map(|n| format!("<D:href>{prefix}{CAL}{n}</D:href>")).collect();
            format!("<C:calendar-multiget {NS}>{prop}{hrefs}</C:calendar-multiget>")
        };
        let direct = report(&c, CAL, "1", body("")).await;
        let general = report(&c, CAL, "1", body(&absolute)).await;
        assert_eq!(direct.status, 207, "{}", direct.body);
        assert_eq!(direct.body, general.body.replace(&format!("<D:href>{absolute}"), "<D:href>"), "{prop}");
        if prop.contains("<C:calendar-data/>") {
            assert!(direct.body.contains("SUMMARY:A &amp; &lt;b&gt;&#13;"), "{}", direct.body);
        }
    }
}

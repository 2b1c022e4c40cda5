//! Public calendar feeds (`{base}/feeds/{token}.ics`): anonymous GET without Accept (as
//! Google sends it), one VCALENDAR with each used VTIMEZONE once, caching (ETag, 304s,
//! Last-Modified), gzip, HEAD, Range, read-only methods, privacy filtering, revoke and
//! regenerate, indistinguishable 404s, broken stored objects, a 2,000-object streamed feed,
//! and the fixture calendars parsed back with a Rust parser.

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use davit::feeds::{self, token};
use davit::ical::view::{children, component_name, properties};
use davit::store::{Collection, Expect, FeedSettings, ObjectIndex, PutObject, Role};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{Client, Reply, TestServer};

const CAL: &str = "/dav/calendars/alice/calendar/";

const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
    RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
    BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n\
    TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

const NEW_YORK: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\n\
    RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n\
    BEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n\
    TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

/// An event at 10:00 Berlin time with details, people and an alarm; `extra` lines go in too.
fn event(uid: &str, summary: &str, extra: &[&str]) -> String {
    let extra: String = extra.iter().map(|l| format!("{l}\r\n")).collect();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{BERLIN}BEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T100000\r\n\
         DTEND;TZID=Europe/Berlin:20260105T110000\r\nSUMMARY:{summary}\r\nDESCRIPTION:Notes on {uid}\r\n\
         LOCATION:Room {uid}\r\nORGANIZER;CN=Alice:mailto:alice@example.org\r\n\
         ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\n{extra}BEGIN:VALARM\r\n\
         ACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

fn plain_event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

struct Setup {
    server: TestServer,
    alice: Client,
    anon: Client,
    calendar: Collection,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let alice = server.client("alice");
    let anon = server.anonymous();
    let calendar = feeds::find_calendar(server.store(), "alice/calendar").expect("alice's calendar");
    Setup { server, alice, anon, calendar }
}

impl Setup {
    async fn put(&self, name: &str, body: &str) {
        let r = self.alice.put(&format!("{CAL}{name}"), "text/calendar; charset=utf-8", body).await;
        assert!(r.status.is_success(), "PUT {name}: {} {}", r.status, r.body);
    }

    fn enable(&self, busy_only: bool, show_attendees: bool) -> String {
        let settings = FeedSettings { busy_only, show_attendees };
        feeds::enable(self.server.store(), &self.calendar, &settings).expect("enable")
    }

    async fn get(&self, token: &str) -> Reply {
        self.anon.go("GET", &path(token)).await
    }
}

fn path(token: &str) -> String {
    format!("/feeds/{token}.ics")
}

/// Unfolded content lines.
fn lines(text: &str) -> Vec<String> {
    text.replace("\r\n ", "").split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// The VEVENTs of a feed as (UID, their unfolded lines).
fn events(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in lines(text) {
        match line.as_str() {
            "BEGIN:VEVENT" => current = Some(Vec::new()),
            "END:VEVENT" => {
                let ev = current.take().expect("END without BEGIN");
                let uid = ev.iter().find_map(|l| l.strip_prefix("UID:")).unwrap_or("").to_owned();
                out.push((uid, ev));
            }
            _ => {
                if let Some(ev) = current.as_mut() {
                    ev.push(line);
                }
            }
        }
    }
    out
}

/// A request written by hand, so that no header is added behind our back (reqwest always
/// sends `Accept: */*`; Google Calendar sends no Accept at all). Returns the head, lower-cased
/// header names, and the raw body.
async fn raw(server: &TestServer, request: &str) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head") + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    (head, all[split..].to_vec())
}

#[tokio::test]
async fn anonymous_get_without_accept_serves_one_calendar() {
    let s = setup().await;
    s.put("a.ics", &event("a", "Planning", &[])).await;
    s.put("b.ics", &event("b", "Review", &[])).await;
    let ny = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{NEW_YORK}{BERLIN}BEGIN:VEVENT\r\nUID:c\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=America/New_York:20260106T090000\r\nDURATION:PT1H\r\n\
         SUMMARY:Call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    s.put("c.ics", &ny).await;
    let unused = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{}BEGIN:VEVENT\r\nUID:d\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260107T090000Z\r\nSUMMARY:UTC\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        NEW_YORK.replace("America/New_York", "Asia/Unused")
    );
    s.put("d.ics", &unused).await;
    let token = s.enable(false, false);

    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Google-Calendar-Importer\r\nConnection: close\r\n\r\n",
        path(&token),
        s.server.addr
    );
    let (head, _) = raw(&s.server, &request).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let head_lc = head.to_ascii_lowercase();
    assert!(head_lc.contains("\r\ncontent-type: text/calendar; charset=utf-8\r\n"), "{head}");
    assert!(head_lc.contains("\r\netag: \""), "{head}");
    assert!(head_lc.contains("\r\nlast-modified: "), "{head}");

    // Whatever Accept says, the answer is the calendar.
    for accept in ["application/json", "text/html", "*/*"] {
        let r = s.anon.send(s.anon.request("GET", &path(&token)).header("Accept", accept)).await;
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("text/calendar; charset=utf-8"), "Accept: {accept}");
    }

    let r = s.get(&token).await;
    r.assert_status(200);
    let body = &r.body;
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"), "{body}");
    assert_eq!(body.matches("BEGIN:VCALENDAR").count(), 1, "one VCALENDAR");
    let all = lines(body);
    assert!(all.contains(&"X-WR-CALNAME:Calendar".to_owned()), "{body}");
    assert!(all.contains(&"REFRESH-INTERVAL;VALUE=DURATION:PT1H".to_owned()), "{body}");
    assert!(all.contains(&"X-PUBLISHED-TTL:PT1H".to_owned()), "{body}");
    assert_eq!(
        body.matches("TZID:Europe/Berlin\r\n").count(),
        1,
        "Berlin once, though three objects carry it"
    );
    assert_eq!(body.matches("TZID:America/New_York\r\n").count(), 1);
    assert!(!body.contains("Asia/Unused"), "an unused VTIMEZONE is left out");
    assert_eq!(body.matches("BEGIN:VTIMEZONE").count(), 2);
    let berlin_at = body.find("TZID:Europe/Berlin\r\n").unwrap();
    assert!(berlin_at < body.find("DTSTART;TZID=Europe/Berlin").unwrap(), "defined before use");
    let uids: Vec<String> = events(body).into_iter().map(|e| e.0).collect();
    assert_eq!(uids, ["a", "b", "c", "d"]);
    // And it parses as one calendar object.
    let parsed = davit::ical::parse(body.as_bytes()).expect("the feed parses");
    let root = &parsed.components[0];
    assert_eq!(children(&parsed, root).filter(|(_, c)| component_name(c) == "VEVENT").count(), 4);
}

#[tokio::test]
async fn conditional_get_sees_a_change() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "Before")).await;
    let token = s.enable(false, false);
    let first = s.get(&token).await;
    first.assert_status(200).assert_contains("SUMMARY:Before");
    let etag = first.etag();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "a strong ETag: {etag}");
    let last_modified = first.header("last-modified").expect("Last-Modified").to_owned();

    let again = s.get(&token).await;
    assert_eq!(again.etag(), etag, "same content, same ETag");
    assert_eq!(again.body, first.body, "same ETag, same bytes");

    let inm = s.anon.send(s.anon.request("GET", &path(&token)).header("If-None-Match", &etag)).await;
    inm.assert_status(304);
    assert!(inm.body.is_empty());
    assert_eq!(inm.etag(), etag);
    let weak = format!("\"other\", W/{etag}");
    let inm = s.anon.send(s.anon.request("GET", &path(&token)).header("If-None-Match", &weak)).await;
    inm.assert_status(304);
    let ims =
        s.anon.send(s.anon.request("GET", &path(&token)).header("If-Modified-Since", &last_modified)).await;
    ims.assert_status(304);
    let old = "Thu, 01 Jan 2015 00:00:00 GMT";
    let ims = s.anon.send(s.anon.request("GET", &path(&token)).header("If-Modified-Since", old)).await;
    ims.assert_status(200);
    let head = s.anon.send(s.anon.request("HEAD", &path(&token)).header("If-None-Match", &etag)).await;
    head.assert_status(304);

    // The subscriber's next poll sees the change.
    s.put("a.ics", &plain_event("a", "After")).await;
    let changed = s.anon.send(s.anon.request("GET", &path(&token)).header("If-None-Match", &etag)).await;
    changed.assert_status(200).assert_contains("SUMMARY:After").assert_lacks("SUMMARY:Before");
    let new_etag = changed.etag();
    assert_ne!(new_etag, etag);
    let inm = s.anon.send(s.anon.request("GET", &path(&token)).header("If-None-Match", &new_etag)).await;
    inm.assert_status(304);

    // Renaming the calendar changes the published name, hence the ETag.
    let proppatch = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>\
                     <D:displayname>Team days</D:displayname></D:prop></D:set></D:propertyupdate>";
    s.alice.body("PROPPATCH", CAL, proppatch).await.assert_status(207);
    let renamed = s.get(&token).await;
    renamed.assert_contains("X-WR-CALNAME:Team days");
    assert_ne!(renamed.etag(), new_etag);

    // A deletion too.
    s.alice.go("DELETE", &format!("{CAL}a.ics")).await.assert_status(204);
    let emptied = s.get(&token).await;
    emptied.assert_lacks("BEGIN:VEVENT");
    assert_ne!(emptied.etag(), renamed.etag());
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut out).expect("valid gzip");
    out
}

#[tokio::test]
async fn gzip_when_asked_with_its_own_etag() {
    let s = setup().await;
    for i in 0..30 {
        s.put(&format!("e{i}.ics"), &plain_event(&format!("e{i}"), &format!("Event number {i}"))).await;
    }
    let token = s.enable(false, false);
    let identity = s.get(&token).await;
    assert_eq!(identity.header("vary"), Some("Accept-Encoding"));
    assert!(identity.header("content-encoding").is_none());

    let resp = s.anon.request("GET", &path(&token)).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let headers = resp.headers().clone();
    let compressed = resp.bytes().await.unwrap();
    assert_eq!(headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(headers.get("vary").unwrap(), "Accept-Encoding");
    assert!(compressed.len() < identity.body.len() / 2, "it compresses");
    assert_eq!(gunzip(&compressed), identity.body, "the same feed");
    let gz_etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert_ne!(gz_etag, identity.etag(), "another coding, another strong ETag");

    // Either tag says the content is unchanged.
    for tag in [&gz_etag, &identity.etag()] {
        let r = s
            .anon
            .send(
                s.anon
                    .request("GET", &path(&token))
                    .header("Accept-Encoding", "gzip, deflate")
                    .header("If-None-Match", tag),
            )
            .await;
        r.assert_status(304);
        assert_eq!(r.etag(), gz_etag);
    }
    let refused =
        s.anon.send(s.anon.request("GET", &path(&token)).header("Accept-Encoding", "gzip;q=0, br")).await;
    assert!(refused.header("content-encoding").is_none());
    assert_eq!(refused.body, identity.body);
}

#[tokio::test]
async fn head_and_range() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "One")).await;
    let token = s.enable(false, false);
    let get = s.get(&token).await;
    let head = s.anon.go("HEAD", &path(&token)).await;
    head.assert_status(200);
    assert!(head.body.is_empty());
    for name in ["content-type", "etag", "last-modified", "vary", "cache-control"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    // Over the wire: headers, then nothing.
    let request = format!("HEAD {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path(&token));
    let (raw_head, raw_body) = raw(&s.server, &request).await;
    assert!(raw_head.starts_with("HTTP/1.1 200 OK\r\n"), "{raw_head}");
    assert!(raw_body.is_empty());

    // Range is ignored: the whole feed, 200, no Content-Range.
    for range in ["bytes=0-10", "bytes=50-", "bytes=-5", "bytes=99999-"] {
        let r = s.anon.send(s.anon.request("GET", &path(&token)).header("Range", range)).await;
        r.assert_status(200);
        assert_eq!(r.body, get.body, "{range}");
        assert!(r.header("content-range").is_none());
        assert_eq!(r.header("accept-ranges"), Some("none"));
    }
}

#[tokio::test]
async fn read_only_every_other_method_is_405() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "One")).await;
    let token = s.enable(false, false);
    let wrong = token::generate().unwrap();
    for t in [&token, &wrong] {
        for method in ["PUT", "DELETE", "PROPFIND", "POST", "PATCH", "MKCOL", "PROPPATCH", "REPORT", "MOVE"] {
            let r = s.anon.send(s.anon.request(method, &path(t)).body("BEGIN:VCALENDAR")).await;
            r.assert_status(405);
            assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{method}");
            // With credentials too: the feed is not the DAV space.
            let r = s.alice.send(s.alice.request(method, &path(t))).await;
            r.assert_status(405);
        }
        let options = s.anon.go("OPTIONS", &path(t)).await;
        options.assert_status(200);
        assert_eq!(options.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    s.get(&token).await.assert_status(200).assert_contains("SUMMARY:One");
}

#[tokio::test]
async fn private_confidential_busy_only_and_attendees() {
    let s = setup().await;
    s.put("public.ics", &event("public", "Lunch with Bob", &["CLASS:PUBLIC"])).await;
    s.put("private.ics", &event("private", "Doctor", &["CLASS:PRIVATE"])).await;
    s.put("confidential.ics", &event("confidential", "Interview", &["CLASS:CONFIDENTIAL", "TRANSP:OPAQUE"]))
        .await;
    s.put("unclassified.ics", &event("unclassified", "Standup", &[])).await;

    let token = s.enable(false, false);
    let body = s.get(&token).await.assert_status(200).body.clone();
    let evs = events(&body);
    // Members come in name order (confidential, private, public, unclassified).
    let uids: Vec<&str> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(uids, ["confidential", "public", "unclassified"], "PRIVATE never appears");
    assert!(!body.contains("Doctor") && !body.contains("Room private"), "{body}");
    let confidential = &evs[0].1;
    assert_eq!(
        confidential,
        &[
            "UID:confidential",
            "DTSTAMP:20260101T000000Z",
            "DTSTART;TZID=Europe/Berlin:20260105T100000",
            "DTEND;TZID=Europe/Berlin:20260105T110000",
            "TRANSP:OPAQUE",
            "SUMMARY:Busy",
        ],
        "busy time only"
    );
    let public = &evs[1].1;
    assert!(public.contains(&"SUMMARY:Lunch with Bob".to_owned()));
    assert!(public.contains(&"LOCATION:Room public".to_owned()));
    assert!(!body.contains("mailto:") && !body.contains("ATTENDEE") && !body.contains("ORGANIZER"), "{body}");
    assert!(!body.contains("VALARM"), "alarms are the owner's, not published");

    // Attendees only when the owner opts in, and never on busy time.
    let token = s.enable(false, true);
    let body = s.get(&token).await.body;
    let evs = events(&body);
    assert!(
        evs[1].1.contains(&"ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org".to_owned()),
        "{body}"
    );
    assert!(evs[1].1.contains(&"ORGANIZER;CN=Alice:mailto:alice@example.org".to_owned()));
    assert!(!evs[0].1.iter().any(|l| l.contains("mailto:")), "confidential stays bare: {body}");
    assert!(!body.contains("Doctor"));

    // Busy-only: every event is "Busy" with its times, nothing else.
    let token = s.enable(true, true);
    let body = s.get(&token).await.body;
    let evs = events(&body);
    assert_eq!(evs.len(), 3);
    for (uid, ev) in &evs {
        assert_eq!(
            ev.iter().filter(|l| l.starts_with("SUMMARY")).collect::<Vec<_>>(),
            ["SUMMARY:Busy"],
            "{uid}"
        );
        for forbidden in ["DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "CLASS"] {
            assert!(!ev.iter().any(|l| l.starts_with(forbidden)), "{uid} has {forbidden}: {body}");
        }
        assert!(ev.iter().any(|l| l.starts_with("DTSTART;TZID=Europe/Berlin:")), "{uid} keeps its time");
    }
    assert!(!body.contains("Lunch") && !body.contains("Standup") && !body.contains("Doctor"), "{body}");
    assert_eq!(body.matches("BEGIN:VTIMEZONE").count(), 1, "the times still need their zone");
}

#[tokio::test]
async fn disable_and_regenerate_take_effect_at_once() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "One")).await;
    let store = s.server.store();
    let token = s.enable(true, false);
    s.get(&token).await.assert_status(200);

    assert!(feeds::disable(store, &s.calendar).unwrap());
    s.get(&token).await.assert_status(404);
    assert!(!feeds::disable(store, &s.calendar).unwrap(), "already off");
    assert!(matches!(feeds::regenerate(store, &s.calendar), Err(feeds::FeedError::NotPublished(_))));

    let token = s.enable(true, false);
    s.get(&token).await.assert_status(200);
    let fresh = feeds::regenerate(store, &s.calendar).unwrap();
    assert_ne!(fresh, token);
    s.get(&token).await.assert_status(404);
    let r = s.get(&fresh).await;
    r.assert_status(200).assert_contains("SUMMARY:Busy").assert_lacks("SUMMARY:One");

    // Enabling again replaces the URL as well.
    let again = s.enable(false, false);
    s.get(&fresh).await.assert_status(404);
    s.get(&again).await.assert_status(200).assert_contains("SUMMARY:One");

    // A deleted calendar takes its feed with it.
    s.alice.go("DELETE", CAL).await;
    s.get(&again).await.assert_status(404);
}

/// Everything about a response but its Date header.
fn fingerprint(r: &Reply) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    (r.status.as_u16(), headers, r.body.clone())
}

#[tokio::test]
async fn a_wrong_token_looks_exactly_like_a_revoked_one() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "One")).await;
    let revoked = s.enable(false, false);
    let live = feeds::regenerate(s.server.store(), &s.calendar).unwrap();
    s.get(&live).await.assert_status(200);
    let reference = fingerprint(&s.get(&revoked).await);
    assert_eq!(reference.0, 404);
    let mut near = revoked.clone().into_bytes();
    near[42] = if near[42] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    let guesses = [
        token::generate().unwrap(),
        near,
        live[..42].to_owned(),
        format!("{live}x"),
        live.to_ascii_lowercase(),
        token::token_hash(&live),
        "x".into(),
    ];
    for guess in &guesses {
        assert_eq!(fingerprint(&s.get(guess).await), reference, "GET /feeds/{guess}.ics");
    }
    for other in
        ["/feeds/", "/feeds", "/feeds/a/b.ics", &format!("/feeds/{live}"), &format!("/feeds/{live}.ics/")]
    {
        assert_eq!(fingerprint(&s.anon.go("GET", other).await), reference, "GET {other}");
    }
    // HEAD of a wrong token: the same status and headers.
    let head = fingerprint(&s.anon.go("HEAD", &path(&revoked)).await);
    let head_wrong = fingerprint(&s.anon.go("HEAD", &path(&guesses[0])).await);
    assert_eq!(head, head_wrong);
    assert_eq!(head.0, 404);
}

#[tokio::test]
async fn a_broken_stored_event_is_skipped() {
    let s = setup().await;
    s.put("a.ics", &plain_event("a", "Before the broken one")).await;
    // Bypass PUT validation, as an old version or a damaged database could.
    for (segment, body) in [
        ("broken.ics", &b"garbage, not iCalendar"[..]),
        ("truncated.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:t\r\n"),
        ("binary.ics", &[0xff, 0xfe, 0x00, 0x42]),
    ] {
        s.server
            .store()
            .put_object(&PutObject {
                collection_id: s.calendar.id,
                segment,
                body,
                content_type: "text/calendar",
                expect: Expect::Anything,
                index: ObjectIndex::default(),
            })
            .expect("stored");
    }
    s.put("z.ics", &plain_event("z", "After the broken one")).await;
    let token = s.enable(false, false);
    let r = s.get(&token).await;
    r.assert_status(200);
    let uids: Vec<String> = events(&r.body).into_iter().map(|e| e.0).collect();
    assert_eq!(uids, ["a", "z"]);
    assert!(!r.body.contains("garbage"));
    davit::ical::parse(r.body.as_bytes()).expect("still one valid calendar");
}

#[tokio::test]
async fn two_thousand_objects_stream_in_order() {
    let s = setup().await;
    const N: usize = 2_000;
    let store = s.server.store();
    for i in 0..N {
        let uid = format!("bulk-{i:05}");
        let body = plain_event(&uid, &format!("Bulk event {i}"));
        store
            .put_object(&PutObject {
                collection_id: s.calendar.id,
                segment: &format!("{uid}.ics"),
                body: body.as_bytes(),
                content_type: "text/calendar",
                expect: Expect::Absent,
                index: ObjectIndex {
                    uid: Some(uid.clone()),
                    comp_type: Some("VEVENT".into()),
                    ..Default::default()
                },
            })
            .expect("stored");
    }
    let token = s.enable(false, false);
    let resp = s.anon.request("GET", &path(&token)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().get("content-length").is_none(), "streamed (chunked), not buffered");
    let body = resp.text().await.unwrap();
    let evs = events(&body);
    assert_eq!(evs.len(), N);
    for (i, (uid, _)) in evs.iter().enumerate() {
        assert_eq!(uid, &format!("bulk-{i:05}"), "in storage order");
    }
    assert_eq!(body.matches("BEGIN:VCALENDAR").count(), 1);
    assert!(body.ends_with("END:VCALENDAR\r\n"));
    let parsed = davit::ical::parse(body.as_bytes()).expect("parses");
    assert_eq!(children(&parsed, &parsed.components[0]).count(), N);

    let gz = s.anon.request("GET", &path(&token)).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(gunzip(&gz.bytes().await.unwrap()), body, "the gzip stream is one complete member");
}

/// The fixture calendars a client would store, published and read back with a Rust parser.
#[tokio::test]
async fn fixture_calendar_feed_parses_with_every_event() {
    let s = setup().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ical");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "bad") {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "ics") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut expected_events = 0;
    let mut expected_uids = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let body = std::fs::read_to_string(file).unwrap();
        let r = s.alice.put(&format!("{CAL}fixture-{i}.ics"), "text/calendar", &body).await;
        if !r.status.is_success() {
            // Tasks and journals do not go into a VEVENT calendar.
            assert!(!body.contains("BEGIN:VEVENT"), "{} refused: {}", file.display(), r.body);
            continue;
        }
        let ical = davit::ical::parse(body.as_bytes()).unwrap();
        let vevents: Vec<_> =
            children(&ical, &ical.components[0]).filter(|(_, c)| component_name(c) == "VEVENT").collect();
        let private = vevents.iter().any(|(_, c)| {
            properties(c).iter().any(|p| p.name == "CLASS" && p.value.eq_ignore_ascii_case("PRIVATE"))
        });
        if !private {
            expected_events += vevents.len();
            expected_uids.push((format!("fixture-{i}.ics"), davit::ical::inspect(&ical).unwrap().uid));
        }
    }
    assert!(expected_uids.len() >= 8, "the fixtures were found: {files:?}");
    // The feed lists members in name order.
    expected_uids.sort();
    let expected_uids: Vec<String> = expected_uids.into_iter().map(|(_, uid)| uid).collect();
    let token = s.enable(false, false);
    let feed = s.get(&token).await.assert_status(200).body.clone();
    let parsed = davit::ical::parse(feed.as_bytes()).expect("the feed parses");
    let top: Vec<_> = children(&parsed, &parsed.components[0]).collect();
    let vevents: Vec<_> = top.iter().filter(|(_, c)| component_name(c) == "VEVENT").collect();
    assert_eq!(vevents.len(), expected_events, "every published VEVENT, master and overrides");
    let mut uids: Vec<String> = vevents
        .iter()
        .filter_map(|(_, c)| properties(c).into_iter().find(|p| p.name == "UID").map(|p| p.value))
        .collect();
    uids.dedup();
    assert_eq!(uids, expected_uids);
    // Every TZID referenced is defined, exactly once.
    let defined: Vec<String> = top
        .iter()
        .filter(|(_, c)| component_name(c) == "VTIMEZONE")
        .filter_map(|(_, c)| properties(c).into_iter().find(|p| p.name == "TZID").map(|p| p.value))
        .collect();
    let mut unique = defined.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), defined.len(), "each VTIMEZONE once: {defined:?}");
    for (_, c) in &vevents {
        for p in properties(c) {
            for (name, values) in &p.params {
                if name == "TZID" {
                    assert!(defined.contains(&values[0]), "{} used but not defined", values[0]);
                }
            }
        }
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_reaches_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so the server's access log runs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    // tracing caches per call site whether anyone listens; while one dispatcher exists, a test
    // running in parallel without a subscriber can switch the access log off for this one (it
    // failed ~1 run in 5). A second live dispatcher makes the cache ask every registered one
    // (as operations::access_log_has_one_line_per_request_and_never_the_credentials does).
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let s = setup().await;
    s.server
        .store()
        .put_object(&PutObject {
            collection_id: s.calendar.id,
            segment: "broken.ics",
            body: b"garbage",
            content_type: "text/calendar",
            expect: Expect::Anything,
            index: ObjectIndex::default(),
        })
        .unwrap();
    let token = s.enable(false, false);
    s.get(&token).await.assert_status(200);
    s.anon.go("PUT", &path(&token)).await.assert_status(405);
    s.get("wrong").await.assert_status(404);
    // Access-log lines are written when a connection task finishes its response, which on a
    // busy machine may be after the client already has it: wait for the three of them.
    let mut log = String::new();
    for _ in 0..200 {
        log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        if log.matches("/feeds/<token>.ics").count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(log.contains("/feeds/<token>.ics"), "the access log names the route: {log}");
    assert!(!log.contains(&token), "the token leaked into the log:\n{log}");
    assert!(!log.contains(&token::token_hash(&token)), "nor its hash");
}

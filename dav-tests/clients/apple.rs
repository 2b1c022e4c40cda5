//! Apple Calendar and Contacts (macOS CalendarAgent / AddressBookCore, iOS dataaccessd),
//! replayed request by request.
//!
//! Apple's clients are closed source. Based on CLIENTS.md §5, which infers their behaviour from
//! server-side workarounds: sabre/dav lib/CalDAV/Plugin.php (`httpMkCalendar`: "iCal abuses
//! MKCALENDAR since iCal 10.9.2 to create server-stored subscriptions" with a CS:subscribed
//! resourcetype; sync-collection advertised on the calendar home for iCal), lib/DAV/CorePlugin.php
//! (DAV header on PROPFIND answers), lib/DAV/Server.php (collection and principal hrefs end in
//! `/`); RustiCal src/app.rs (UAs `accountsd` / `dataaccessd` / `remindd` always start at
//! `/.well-known/caldav`; an unauthenticated first request answered 401); Stalwart
//! crates/dav/src/lib.rs (un-percent-encoded characters in paths); Baïkal#744 (request order:
//! PROPFIND principal 401→207, OPTIONS, REPORT on the principal collection, PROPFIND Depth 1 on
//! the home) and Baïkal#1030. Request bodies follow the `A:`/`B:`/`C:`/`D:` prefix style of
//! Apple clients as seen in those logs; the property lists are the ones the logs show.

use super::{
    Agent, BOOK, BOOK_HOME, CAL, CAL_HOME, CALDAV, CARDDAV, CS, ICAL, PRINCIPAL, assert_strong_etag, code_of,
    start, status_lines, top_sync_token,
};
use crate::harness::Reply;
use crate::harness::roxml::{DAV, Doc};

const CAL_UA: &str = "macOS/14.5 (23F79) CalendarAgent/988.5.1";
const SETUP_UA: &str = "macOS/14.5 (23F79) accountsd/113";
const CONTACTS_UA: &str = "macOS/14.5 (23F79) AddressBookCore/2487.600.41";
const XML: &str = "text/xml";

const APPLE_EVENT: &[u8] = include_bytes!("../../fixtures/ical/apple/x-apple-valarm.ics");
const APPLE_EVENT_UID: &str = "5D3C6E9A-1B2C-4D5E-8F90-A1B2C3D4E5F6";
const APPLE_CARD: &[u8] = include_bytes!("../../fixtures/vcard/3.0/macos-contacts.vcf");

/// `Brief: t` plus `Prefer: return=minimal`, as Apple sends both on PROPFIND.
const BRIEF: [(&str, &str); 2] = [("Brief", "t"), ("Prefer", "return=minimal")];

async fn propfind(a: &Agent, path: &str, depth: &str, brief: bool, body: &str) -> Reply {
    let mut headers = vec![("Depth", depth), ("Content-Type", XML)];
    if brief {
        headers.extend(BRIEF);
    }
    a.send("PROPFIND", path, &headers, Some(body)).await
}

/// With `Brief: t` no 404 propstat is sent; every status line is a 2xx one.
#[track_caller]
fn assert_brief(doc: &Doc, body: &str) {
    for resp in doc.responses() {
        for line in status_lines(&resp) {
            assert_eq!(code_of(&line), 200, "Brief: t still sent {line:?}:\n{body}");
        }
    }
}

fn principal_body() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
         <B:calendar-home-set xmlns:B=\"{CALDAV}\"/>\n    <B:calendar-user-address-set xmlns:B=\"{CALDAV}\"/>\n    \
         <A:current-user-principal/>\n    <A:displayname/>\n    <C:dropbox-home-URL xmlns:C=\"{CS}\"/>\n    \
         <C:email-address-set xmlns:C=\"{CS}\"/>\n    <C:notification-URL xmlns:C=\"{CS}\"/>\n    \
         <A:principal-collection-set/>\n    <A:principal-URL/>\n    <A:resource-id/>\n    \
         <B:schedule-inbox-URL xmlns:B=\"{CALDAV}\"/>\n    <B:schedule-outbox-URL xmlns:B=\"{CALDAV}\"/>\n    \
         <C:calendar-proxy-read-for xmlns:C=\"{CS}\"/>\n    <C:calendar-proxy-write-for xmlns:C=\"{CS}\"/>\n    \
         <A:supported-report-set/>\n    <A:resourcetype/>\n  </A:prop>\n</A:propfind>\n"
    )
}

fn home_body() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    <A:add-member/>\n    \
         <C:allowed-sharing-modes xmlns:C=\"{CS}\"/>\n    <D:autoprovisioned xmlns:D=\"{ICAL}\"/>\n    \
         <E:bulk-requests xmlns:E=\"http://me.com/_namespace/\"/>\n    <B:calendar-alarm xmlns:B=\"{CALDAV}\"/>\n    \
         <D:calendar-color xmlns:D=\"{ICAL}\"/>\n    <B:calendar-description xmlns:B=\"{CALDAV}\"/>\n    \
         <B:calendar-free-busy-set xmlns:B=\"{CALDAV}\"/>\n    <D:calendar-order xmlns:D=\"{ICAL}\"/>\n    \
         <B:calendar-timezone xmlns:B=\"{CALDAV}\"/>\n    <A:current-user-privilege-set/>\n    \
         <B:default-alarm-vevent-date xmlns:B=\"{CALDAV}\"/>\n    <B:default-alarm-vevent-datetime xmlns:B=\"{CALDAV}\"/>\n    \
         <A:displayname/>\n    <C:getctag xmlns:C=\"{CS}\"/>\n    <C:invite xmlns:C=\"{CS}\"/>\n    \
         <D:language-code xmlns:D=\"{ICAL}\"/>\n    <D:location-code xmlns:D=\"{ICAL}\"/>\n    <A:owner/>\n    \
         <C:pre-publish-url xmlns:C=\"{CS}\"/>\n    <C:publish-url xmlns:C=\"{CS}\"/>\n    \
         <C:push-transports xmlns:C=\"{CS}\"/>\n    <C:pushkey xmlns:C=\"{CS}\"/>\n    <A:quota-available-bytes/>\n    \
         <A:quota-used-bytes/>\n    <D:refreshrate xmlns:D=\"{ICAL}\"/>\n    <A:resource-id/>\n    <A:resourcetype/>\n    \
         <B:schedule-calendar-transp xmlns:B=\"{CALDAV}\"/>\n    <B:schedule-default-calendar-URL xmlns:B=\"{CALDAV}\"/>\n    \
         <C:source xmlns:C=\"{CS}\"/>\n    <C:subscribed-strip-alarms xmlns:C=\"{CS}\"/>\n    \
         <C:subscribed-strip-attachments xmlns:C=\"{CS}\"/>\n    <C:subscribed-strip-todos xmlns:C=\"{CS}\"/>\n    \
         <B:supported-calendar-component-set xmlns:B=\"{CALDAV}\"/>\n    \
         <B:supported-calendar-component-sets xmlns:B=\"{CALDAV}\"/>\n    <A:supported-report-set/>\n    \
         <A:sync-token/>\n  </A:prop>\n</A:propfind>\n"
    )
}

fn lists_sync_collection(set: &davit::dav::xml::Element) -> bool {
    set.elements()
        .filter(|s| s.is(DAV, "supported-report"))
        .filter_map(|s| s.child(DAV, "report"))
        .any(|r| r.child(DAV, "sync-collection").is_some())
}

#[tokio::test]
async fn apple_calendar_account_setup() {
    let server = start().await;
    let anon = Agent::anonymous(&server, SETUP_UA);
    let setup = Agent::new(&server, SETUP_UA);
    let cup = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
               <A:current-user-principal/>\n  </A:prop>\n</A:propfind>\n";

    // 1. Always /.well-known/caldav first, without credentials: a 301 to the context path.
    let r = propfind(&anon, "/.well-known/caldav", "0", false, cup).await;
    assert_eq!(r.status.as_u16(), 301, "well-known must redirect (301), not {}", r.status);
    let context = r.header("location").expect("Location").to_owned();
    assert_eq!(context, "/dav/");

    // 2. The first request on the context path is unauthenticated: 401 with a Basic challenge.
    let r = propfind(&anon, &context, "0", false, cup).await;
    r.assert_status(401);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Basic ") && challenge.contains("realm="), "{challenge}");

    // 3. Again with credentials.
    let r = propfind(&setup, &context, "0", false, cup).await;
    r.assert_status(207);
    assert!(r.header("dav").is_some_and(|d| d.contains("calendar-access")), "DAV header on PROPFIND");
    let doc = r.xml();
    let principal = doc.responses()[0].href_prop(DAV, "current-user-principal");
    assert_eq!(principal, PRINCIPAL);
    assert!(principal.ends_with('/'), "principal hrefs end in a slash");

    // 4. The principal, with Brief: t.
    let r = propfind(&setup, &principal, "0", true, &principal_body()).await;
    r.assert_status(207);
    assert!(r.header("dav").is_some(), "DAV header on PROPFIND");
    let doc = r.xml();
    assert_brief(&doc, &r.body);
    let resp = doc.response(&principal);
    assert_eq!(resp.href_prop(CALDAV, "calendar-home-set"), CAL_HOME);
    assert_eq!(resp.href_prop(DAV, "principal-URL"), PRINCIPAL);
    assert_eq!(resp.href_prop(DAV, "current-user-principal"), PRINCIPAL);
    assert!(resp.ok(DAV, "resourcetype").child(DAV, "principal").is_some());
    let addresses: Vec<String> =
        resp.ok(CALDAV, "calendar-user-address-set").elements().map(|h| h.text()).collect();
    assert!(addresses.contains(&"mailto:alice@example.org".to_owned()), "{addresses:?}");
    for href in [resp.href_prop(CALDAV, "calendar-home-set"), resp.href_prop(DAV, "principal-collection-set")]
    {
        assert!(href.starts_with('/') && href.ends_with('/'), "{href}");
    }

    // 5. OPTIONS on the principal.
    let r = setup.send("OPTIONS", &principal, &[], None).await;
    r.assert_status(200);
    assert!(r.header("dav").unwrap().contains("calendar-access"));

    // 6. REPORT principal-search-property-set on the principal collection (RFC 3744 §9.5):
    // a 200 naming what attendee look-up can search.
    let r = setup
        .send(
            "REPORT",
            "/dav/principals/",
            &[("Depth", "0"), ("Content-Type", XML)],
            Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:principal-search-property-set xmlns:A=\"DAV:\"/>\n"),
        )
        .await;
    r.assert_status(200);
    let set = Doc::parse(&r.body);
    let searchable: Vec<String> = set
        .root
        .elements()
        .filter_map(|p| p.child(DAV, "prop")?.elements().next().map(|e| e.name.clone()))
        .collect();
    for name in ["displayname", "email-address-set", "calendar-user-type"] {
        assert!(searchable.iter().any(|s| s == name), "{name} not searchable: {searchable:?}");
    }

    // 7. PROPFIND Depth 1 on the home, Brief: t: getctag picks the calendars to sync.
    let cal_agent = Agent::new(&server, CAL_UA);
    let r = propfind(&cal_agent, CAL_HOME, "1", true, &home_body()).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_brief(&doc, &r.body);
    let home = doc.response(CAL_HOME);
    // sync-collection on calendars only if the *home* lists it.
    assert!(lists_sync_collection(home.ok(DAV, "supported-report-set")), "home lacks sync-collection");
    let mut vtodo = false;
    let mut calendars = Vec::new();
    for resp in doc.responses() {
        let rt = resp.ok(DAV, "resourcetype");
        if rt.child(CALDAV, "calendar").is_none() {
            continue;
        }
        assert!(resp.href().ends_with('/'), "{}", resp.href());
        assert!(!resp.ok(CS, "getctag").text().is_empty(), "getctag on {}", resp.href());
        assert!(!resp.ok(DAV, "sync-token").text().is_empty());
        assert!(lists_sync_collection(resp.ok(DAV, "supported-report-set")));
        let comps = resp.ok(CALDAV, "supported-calendar-component-set");
        vtodo |= comps.elements().any(|c| c.attr("name") == Some("VTODO"));
        resp.ok(DAV, "current-user-privilege-set");
        calendars.push(resp.href());
    }
    assert!(calendars.contains(&CAL.to_owned()), "{calendars:?}");
    assert!(vtodo, "Reminders needs a calendar supporting VTODO");
    server.stop().await;
}

#[tokio::test]
async fn apple_calendar_syncs_and_edits_an_event() {
    let server = start().await;
    let a = Agent::new(&server, CAL_UA);
    let r = propfind(
        &a,
        CAL,
        "0",
        true,
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
             <C:getctag xmlns:C=\"{CS}\"/>\n    <A:sync-token/>\n  </A:prop>\n</A:propfind>\n"
        ),
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let ctag = doc.responses()[0].ok(CS, "getctag").text();

    let sync = |token: String| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:sync-collection xmlns:A=\"DAV:\">\n  <A:sync-token>{token}</A:sync-token>\n  \
             <A:sync-level>1</A:sync-level>\n  <A:prop>\n    <A:getcontenttype/>\n    <A:getetag/>\n  </A:prop>\n\
             </A:sync-collection>\n"
        )
    };
    let r = a.send("REPORT", CAL, &[("Depth", "0"), ("Content-Type", XML)], Some(&sync(String::new()))).await;
    r.assert_status(207);
    let token = top_sync_token(&r.xml()).expect("sync-token");

    // Create: PUT <UID>.ics with If-None-Match: *.
    let url = format!("{CAL}{APPLE_EVENT_UID}.ics");
    let body = String::from_utf8(APPLE_EVENT.to_vec()).unwrap();
    let r =
        a.send("PUT", &url, &[("If-None-Match", "*"), ("Content-Type", "text/calendar")], Some(&body)).await;
    r.assert_status(201);
    let etag = r.etag();
    assert_strong_etag(&etag);

    let r = a.send("REPORT", CAL, &[("Depth", "0"), ("Content-Type", XML)], Some(&sync(token.clone()))).await;
    r.assert_status(207);
    let doc = r.xml();
    let members: Vec<(String, String)> =
        doc.responses().iter().map(|m| (m.href(), m.ok(DAV, "getetag").text())).collect();
    assert_eq!(members, [(url.clone(), etag.clone())]);
    let token2 = top_sync_token(&doc).unwrap();

    // calendar-multiget of what changed.
    let mg = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<B:calendar-multiget xmlns:B=\"{CALDAV}\">\n  <A:prop xmlns:A=\"DAV:\">\n    \
         <A:getetag/>\n    <B:calendar-data/>\n    <C:updated-by xmlns:C=\"{CS}\"/>\n    <C:created-by xmlns:C=\"{CS}\"/>\n    \
         <B:schedule-tag/>\n  </A:prop>\n  <A:href xmlns:A=\"DAV:\">{url}</A:href>\n</B:calendar-multiget>\n"
    );
    let r = a.send("REPORT", CAL, &[("Depth", "1"), ("Content-Type", XML), ("Brief", "t")], Some(&mg)).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_brief(&doc, &r.body);
    assert_eq!(doc.response(&url).ok(CALDAV, "calendar-data").text(), body);

    // Update with If-Match, delete with If-Match.
    let edited = body.replace("SUMMARY:Campus visit", "SUMMARY:Campus visit (moved)");
    let r =
        a.send("PUT", &url, &[("If-Match", &etag), ("Content-Type", "text/calendar")], Some(&edited)).await;
    r.assert_status(204);
    let etag2 = r.etag();
    assert_strong_etag(&etag2);
    a.send("DELETE", &url, &[("If-Match", &etag2)], None).await.assert_status(204);

    let r = a.send("REPORT", CAL, &[("Depth", "0"), ("Content-Type", XML)], Some(&sync(token2))).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_eq!(doc.responses().len(), 1);
    assert_eq!(doc.responses()[0].status().map(|s| code_of(&s)), Some(404));

    // The getctag moved, so the calendar was picked for sync.
    let r = propfind(&a, CAL_HOME, "1", true, &home_body()).await;
    let doc = r.xml();
    assert_ne!(doc.response(CAL).ok(CS, "getctag").text(), ctag);
    server.stop().await;
}

#[tokio::test]
async fn apple_creates_a_subscription_with_mkcalendar_and_a_subscribed_resourcetype() {
    let server = start().await;
    let a = Agent::new(&server, CAL_UA);
    let url = format!("{CAL_HOME}8C4B7E0A-52D1-4E9B-A7C3-0F1E2D3C4B5A/");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<B:mkcalendar xmlns:B=\"{CALDAV}\">\n  <A:set xmlns:A=\"DAV:\">\n    \
         <A:prop>\n      <A:resourcetype>\n        <A:collection/>\n        <C:subscribed xmlns:C=\"{CS}\"/>\n      \
         </A:resourcetype>\n      <C:source xmlns:C=\"{CS}\">\n        <A:href>webcal://www.example.org/holidays.ics</A:href>\n      \
         </C:source>\n      <A:displayname>Holidays</A:displayname>\n      \
         <D:calendar-color xmlns:D=\"{ICAL}\" symbolic-color=\"custom\">#FF2968FF</D:calendar-color>\n      \
         <D:refreshrate xmlns:D=\"{ICAL}\">P1W</D:refreshrate>\n      <C:subscribed-strip-alarms xmlns:C=\"{CS}\"/>\n      \
         <C:subscribed-strip-attachments xmlns:C=\"{CS}\"/>\n      <C:subscribed-strip-todos xmlns:C=\"{CS}\"/>\n    \
         </A:prop>\n  </A:set>\n</B:mkcalendar>\n"
    );
    let r = a.send("MKCALENDAR", &url, &[("Content-Type", XML)], Some(&body)).await;
    assert!(
        r.status.is_success(),
        "MKCALENDAR with a CS:subscribed resourcetype must not fail ({}):\n{}",
        r.status,
        r.body
    );
    // What Calendar reads back on the next home listing: a subscription with its source.
    let r = propfind(&a, CAL_HOME, "1", true, &home_body()).await;
    r.assert_status(207);
    let doc = r.xml();
    let sub = doc.response(&url);
    let rt = sub.ok(DAV, "resourcetype");
    assert!(rt.child(CS, "subscribed").is_some(), "resourcetype {}", rt.to_xml());
    assert_eq!(
        sub.ok(CS, "source").child(DAV, "href").map(|h| h.text()).as_deref(),
        Some("webcal://www.example.org/holidays.ics")
    );
    server.stop().await;
}

#[tokio::test]
async fn apple_contacts_setup_and_sync() {
    let server = start().await;
    let anon = Agent::anonymous(&server, CONTACTS_UA);
    let a = Agent::new(&server, CONTACTS_UA);
    let cup = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
               <A:current-user-principal/>\n    <A:principal-URL/>\n  </A:prop>\n</A:propfind>\n";
    let r = propfind(&anon, "/.well-known/carddav", "0", false, cup).await;
    assert_eq!(r.status.as_u16(), 301);
    let context = r.header("location").unwrap().to_owned();
    propfind(&anon, &context, "0", false, cup).await.assert_status(401);
    let r = propfind(&a, &context, "0", false, cup).await;
    r.assert_status(207);
    let principal = r.xml().responses()[0].href_prop(DAV, "current-user-principal");

    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
         <B:addressbook-home-set xmlns:B=\"{CARDDAV}\"/>\n    <B:directory-gateway xmlns:B=\"{CARDDAV}\"/>\n    \
         <A:displayname/>\n    <C:email-address-set xmlns:C=\"{CS}\"/>\n    <A:principal-collection-set/>\n    \
         <A:principal-URL/>\n    <A:resource-id/>\n    <A:supported-report-set/>\n  </A:prop>\n</A:propfind>\n"
    );
    let r = propfind(&a, &principal, "0", true, &body).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_brief(&doc, &r.body);
    let home = doc.responses()[0].href_prop(CARDDAV, "addressbook-home-set");
    assert_eq!(home, BOOK_HOME);

    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:propfind xmlns:A=\"DAV:\">\n  <A:prop>\n    \
         <A:current-user-privilege-set/>\n    <A:displayname/>\n    <C:getctag xmlns:C=\"{CS}\"/>\n    \
         <C:me-card xmlns:C=\"{CS}\"/>\n    <A:owner/>\n    <A:quota-available-bytes/>\n    <A:quota-used-bytes/>\n    \
         <A:resource-id/>\n    <A:resourcetype/>\n    <A:supported-report-set/>\n    <A:sync-token/>\n  </A:prop>\n\
         </A:propfind>\n"
    );
    let r = propfind(&a, &home, "1", true, &body).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_brief(&doc, &r.body);
    // Contacts uses the first address book of the home.
    let first_book = doc
        .responses()
        .into_iter()
        .find(|m| m.ok(DAV, "resourcetype").child(CARDDAV, "addressbook").is_some())
        .map(|m| m.href())
        .expect("an address book");
    assert_eq!(first_book, BOOK);

    // A card as macOS writes it; the file name carries a raw ':' (Apple does not
    // percent-encode it), and the sync report must name it so Contacts can match it.
    let url = format!("{BOOK}6B29FC40-CA47-1067-B31D-00DD010662DA:ABPerson.vcf");
    let card = String::from_utf8(APPLE_CARD.to_vec()).unwrap();
    let r = a.send("PUT", &url, &[("If-None-Match", "*"), ("Content-Type", "text/vcard")], Some(&card)).await;
    r.assert_status(201);
    let etag = r.etag();
    assert_strong_etag(&etag);
    let r = a
        .send(
            "REPORT",
            BOOK,
            &[("Depth", "0"), ("Content-Type", XML)],
            Some(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:sync-collection xmlns:A=\"DAV:\">\n  <A:sync-token/>\n  \
                 <A:sync-level>1</A:sync-level>\n  <A:prop>\n    <A:getetag/>\n  </A:prop>\n</A:sync-collection>\n",
            ),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let hrefs = doc.hrefs();
    assert_eq!(hrefs.len(), 1);
    let decoded = percent_decode(&hrefs[0]);
    assert_eq!(decoded, url, "the reported href names the PUT resource");
    let r = a.send("GET", &hrefs[0], &[], None).await;
    r.assert_status(200);
    assert_eq!(r.body, card);
    assert_eq!(r.etag(), etag);
    server.stop().await;
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

//! DAVx5 (and kSync, a fork with the same wire behaviour), replayed request by request.
//!
//! Based on CLIENTS.md §1 and the sources it cites, re-read for the details that matter here:
//! - `bitfireAT/davx5-ose@2534c16b0`: core/src/main/kotlin/at/bitfire/davdroid/
//!   servicedetection/{DavResourceFinder,ServiceRefresher,ServiceDetectionUtils}.kt (discovery,
//!   `OPTIONS` service check on the principal), resource/remote/{BaseWebDavCollection,
//!   CalDavCollection,CardDavCollection}.kt (capabilities PROPFIND, sync-collection with
//!   `getetag`+`resourcetype`, `If-None-Match: *` / `If-Match`), sync/SyncManager.kt
//!   (`MULTIGET_BATCH_SIZE = 10`, `valid-sync-token` ⇒ initial sync, 507 ⇒ further changes,
//!   missing sync-token ⇒ exception), sync/CalendarSyncManager.kt (collection sync unless a
//!   past-days limit is set), sync/TasksSyncManager.kt (tasks always list with
//!   calendar-query), sync/ContactsSyncManager.kt (vCard 4 when `supported-address-data`
//!   lists it), ProductIds.kt (`User-Agent: DAVx5/<version> (<package>)`).
//! - `bitfireAT/dav4jvm` ktor/DavResource.kt @0532b07 (PROPFIND body, `Accept`, OPTIONS with
//!   `Content-Length: 0`), ktor/DavCollection.kt @01dc944 (sync-collection, `Depth: 0`),
//!   ktor/DavCalendar.kt @122a55c (calendar-query `Depth: 1`, calendar-multiget without
//!   Depth), ktor/DavAddressBook.kt @1f8d858 (addressbook-multiget `Depth: 0`),
//!   property/webdav/CurrentUserPrivilegeSet.kt (read-only = no write-content; absent ⇒
//!   writable).
//!
//! Read-only detection: davit has no sharing yet and another user's collection is not readable
//! at all, so a read-only *share* cannot be expressed; that flow awaits sharing. What davit can
//! express is a read-only credential (an app password with a read-only scope): the flow uses it,
//! and also asserts that owned collections carry `write-content` while a resource the user may
//! only read (the principal collection) lacks it.

use super::{
    Agent, BOOK, BOOK_HOME, CAL, CAL_HOME, CALDAV, CARDDAV, CS, PRINCIPAL, TASKS, assert_strong_etag,
    code_of, event, has_privilege, start, todo, top_sync_token, utc_days_from_now, vcard4,
};
use crate::harness::roxml::{DAV, Doc, ResponseView};
use crate::harness::{Reply, TestServer};

const UA: &str = "DAVx5/4.5.4-ose (at.bitfire.davdroid)";
const XML_UTF8: &str = "application/xml; charset=UTF-8";
const ACCEPT_XML: &str = "application/xml,text/xml";
const PROLOG: &str = "<?xml version='1.0' encoding='UTF-8' ?>";
const PRODID: &str = "+//IDN bitfire.at//DAVx5/4.5.4-ose ical4j/3.2.19";

/// dav4jvm's PROPFIND body: default namespace DAV:, `CAL`/`CARD` prefixes, other namespaces
/// declared where used.
fn propfind_body(props: &str) -> String {
    format!(
        "{PROLOG}<propfind xmlns=\"DAV:\" xmlns:CAL=\"{CALDAV}\" xmlns:CARD=\"{CARDDAV}\"><prop>{props}</prop></propfind>"
    )
}

const APPLE_COLOR: &str = "<n0:calendar-color xmlns:n0=\"http://apple.com/ns/ical/\" />";

/// PROPFIND as dav4jvm sends it; asserts what `processMultiStatus` requires: 207 with an XML
/// Content-Type.
async fn propfind(a: &Agent, path: &str, depth: &str, props: &str) -> Reply {
    let r = a
        .send(
            "PROPFIND",
            path,
            &[("Depth", depth), ("Accept", ACCEPT_XML), ("Content-Type", XML_UTF8)],
            Some(&propfind_body(props)),
        )
        .await;
    assert_multistatus(&r);
    r
}

/// dav4jvm `assertMultiStatus`: 207 and an XML media type.
#[track_caller]
fn assert_multistatus(r: &Reply) {
    r.assert_status(207);
    let ct = r.header("content-type").unwrap_or_default().to_ascii_lowercase();
    assert!(ct.starts_with("application/xml") || ct.starts_with("text/xml"), "207 with Content-Type {ct:?}");
}

/// dav4jvm `Response.isSuccess()`: the response status, or else a 2xx propstat.
fn is_success(resp: &ResponseView<'_>) -> bool {
    match resp.status() {
        Some(s) => (200..300).contains(&code_of(&s)),
        None => resp
            .el
            .elements()
            .filter(|e| e.is(DAV, "propstat"))
            .any(|ps| ps.child(DAV, "status").is_some_and(|s| (200..300).contains(&code_of(&s.text())))),
    }
}

/// `requireETag()`: a member without a 200 `getetag` aborts the sync ("Server didn't provide ETag").
#[track_caller]
fn require_etag(resp: &ResponseView<'_>) -> String {
    let etag = resp.ok(DAV, "getetag").text();
    assert!(!etag.is_empty(), "Server didn't provide ETag for {}", resp.href());
    assert_strong_etag(&etag);
    etag
}

/// dav4jvm `CurrentUserPrivilegeSet` + `Collection.fromDavResponse`: may the user write
/// content? `DAV:write` and `DAV:all` imply it; an absent property means writable.
fn may_write_content(resp: &ResponseView<'_>) -> bool {
    match resp.prop(DAV, "current-user-privilege-set") {
        Some((set, status)) if code_of(&status) == 200 => {
            has_privilege(set, "write") || has_privilege(set, "all") || has_privilege(set, "write-content")
        }
        _ => true,
    }
}

/// What `BaseWebDavCollection.listChanges` + `SyncManager.processChanges` take from one
/// sync-collection answer.
#[derive(Debug, Default)]
struct Changes {
    changed: Vec<(String, String)>,
    removed: Vec<String>,
    further: bool,
    token: String,
}

fn sync_collection_body(token: Option<&str>) -> String {
    let token = match token {
        Some(t) => format!("<sync-token>{t}</sync-token>"),
        None => "<sync-token />".to_owned(),
    };
    format!(
        "{PROLOG}<sync-collection xmlns=\"DAV:\">{token}<sync-level>1</sync-level><prop><getetag /><resourcetype /></prop></sync-collection>"
    )
}

/// `REPORT Depth: 0 sync-collection`; `Err((status, body))` when the server did not answer 207.
async fn list_changes(a: &Agent, coll: &str, token: Option<&str>) -> Result<Changes, (u16, String)> {
    let r = a
        .send(
            "REPORT",
            coll,
            &[("Depth", "0"), ("Content-Type", XML_UTF8)],
            Some(&sync_collection_body(token)),
        )
        .await;
    if r.status.as_u16() != 207 {
        return Err((r.status.as_u16(), r.body));
    }
    assert_multistatus(&r);
    let doc = r.xml();
    let mut out = Changes::default();
    for resp in doc.responses() {
        if resp.href() == coll {
            // HrefRelation.SELF: only a 507 means something ("further results").
            if resp.status().is_some_and(|s| code_of(&s) == 507) {
                out.further = true;
            }
            continue;
        }
        let is_collection = resp
            .prop(DAV, "resourcetype")
            .is_some_and(|(rt, status)| code_of(&status) == 200 && rt.child(DAV, "collection").is_some());
        if is_collection {
            continue;
        }
        if is_success(&resp) {
            out.changed.push((resp.href(), require_etag(&resp)));
        } else if resp.status().is_some_and(|s| code_of(&s) == 404) {
            out.removed.push(resp.href());
        } else {
            panic!("unexpected sync-collection member {} ({:?}):\n{}", resp.href(), resp.status(), r.body);
        }
    }
    // "Received sync-collection response without sync-token"
    out.token = top_sync_token(&doc).expect("top-level DAV:sync-token");
    assert!(!out.token.is_empty());
    Ok(out)
}

/// One calendar-multiget batch as DavCalendar.multiget sends it (no Depth header).
/// Returns (href, etag, calendar-data) of each member; each must carry all three.
async fn calendar_multiget(a: &Agent, coll: &str, hrefs: &[String]) -> Vec<(String, String, String)> {
    assert!(hrefs.len() <= 10, "DAVx5 downloads in batches of MULTIGET_BATCH_SIZE = 10");
    let hrefs_xml: String = hrefs.iter().map(|h| format!("<href>{h}</href>")).collect();
    let body = format!(
        "{PROLOG}<CAL:calendar-multiget xmlns=\"DAV:\" xmlns:CAL=\"{CALDAV}\"><prop><getcontenttype /><getetag />\
         <CAL:schedule-tag /><CAL:calendar-data /></prop>{hrefs_xml}</CAL:calendar-multiget>"
    );
    let r = a.send("REPORT", coll, &[("Accept", ACCEPT_XML), ("Content-Type", XML_UTF8)], Some(&body)).await;
    assert_multistatus(&r);
    let doc = r.xml();
    let mut out = Vec::new();
    for resp in doc.responses() {
        assert!(is_success(&resp), "multiget member {} failed:\n{}", resp.href(), r.body);
        let etag = require_etag(&resp);
        let data = resp.ok(CALDAV, "calendar-data").text();
        assert!(data.starts_with("BEGIN:VCALENDAR"), "calendar-data of {}", resp.href());
        let ct = resp.ok(DAV, "getcontenttype").text();
        assert!(ct.starts_with("text/calendar"), "getcontenttype {ct:?} (DAVx5 reads the charset from it)");
        out.push((resp.href(), etag, data));
    }
    assert_eq!(out.len(), hrefs.len(), "one response per requested href");
    out
}

/// `SyncManager.downloadMembers` over `batchMap(MULTIGET_BATCH_SIZE)`: returns the batch sizes.
async fn download_all(a: &Agent, coll: &str, hrefs: &[String]) -> Vec<usize> {
    let mut sizes = Vec::new();
    for batch in hrefs.chunks(10) {
        let got = calendar_multiget(a, coll, batch).await;
        sizes.push(got.len());
    }
    sizes
}

/// `queryCapabilities()`: PROPFIND Depth 0 on the collection.
async fn query_capabilities(a: &Agent, coll: &str) -> Reply {
    propfind(
        a,
        coll,
        "0",
        "<supported-report-set /><sync-token /><n0:getctag xmlns:n0=\"http://calendarserver.org/ns/\" />\
         <CAL:max-resource-size /><CARD:max-resource-size /><CARD:supported-address-data />",
    )
    .await
}

fn can_collection_sync(r: &Reply) -> bool {
    let doc = r.xml();
    let resp = &doc.responses()[0];
    resp.ok(DAV, "supported-report-set")
        .elements()
        .filter_map(|sr| sr.child(DAV, "report"))
        .any(|rep| rep.child(DAV, "sync-collection").is_some())
}

/// `createMember`: `PUT` with `If-None-Match: *`; the ETag is read from the response.
async fn create(a: &Agent, url: &str, content_type: &str, body: &str) -> Reply {
    a.send("PUT", url, &[("If-None-Match", "*"), ("Content-Type", content_type)], Some(body)).await
}

/// `updateMember`: `PUT` with `If-Match: "<etag>"`.
async fn update(a: &Agent, url: &str, etag: &str, content_type: &str, body: &str) -> Reply {
    a.send("PUT", url, &[("If-Match", etag), ("Content-Type", content_type)], Some(body)).await
}

/// Discovery as DavResourceFinder does it from the base URL the user typed (`http://host/`),
/// then `ServiceRefresher` and `HomeSetRefresher`. Returns the Depth-1 answer on the home set.
async fn discover(server: &TestServer, caldav: bool) -> Reply {
    let a = Agent::new(server, UA);
    // checkBaseURL: PROPFIND Depth 0 on the user-given URL.
    let base_props = if caldav {
        format!(
            "<resourcetype /><displayname /><current-user-principal /><current-user-privilege-set />\
             <CAL:calendar-home-set /><CAL:supported-calendar-component-set />{APPLE_COLOR}\
             <CAL:calendar-description /><CAL:calendar-timezone />"
        )
    } else {
        "<resourcetype /><displayname /><current-user-principal /><CARD:addressbook-home-set />\
         <CARD:addressbook-description />"
            .to_owned()
    };
    let r = propfind(&a, "/", "0", &base_props).await;
    let doc = r.xml();
    let principal = doc.responses()[0].href_prop(DAV, "current-user-principal");
    assert_eq!(principal, PRINCIPAL);

    // providesService: OPTIONS on the principal must list the service, or it is rejected.
    let r = a
        .send("OPTIONS", &principal, &[("Content-Length", "0"), ("Accept-Encoding", "identity")], None)
        .await;
    r.assert_status(200);
    let dav = r.header("dav").expect("DAV header on OPTIONS");
    let caps: Vec<&str> = dav.split(',').map(str::trim).collect();
    let wanted = if caldav { "calendar-access" } else { "addressbook" };
    assert!(caps.contains(&wanted), "DAV: {dav} lacks {wanted}: the principal would be rejected");

    if caldav {
        // queryEmailAddress: calendar-user-address-set, mailto: ⇒ account e-mail.
        let r = propfind(&a, &principal, "0", "<CAL:calendar-user-address-set />").await;
        let doc = r.xml();
        let mailto: Vec<String> = doc.responses()[0]
            .ok(CALDAV, "calendar-user-address-set")
            .elements()
            .map(|h| h.text())
            .filter(|h| h.starts_with("mailto:"))
            .collect();
        assert_eq!(mailto, ["mailto:alice@example.org"]);
    }

    // ServiceRefresher: home set, displayname, group-membership, resourcetype (+ proxies).
    let props = if caldav {
        "<displayname /><group-membership /><resourcetype /><CAL:calendar-home-set />\
         <n0:calendar-proxy-read-for xmlns:n0=\"http://calendarserver.org/ns/\" />\
         <n1:calendar-proxy-write-for xmlns:n1=\"http://calendarserver.org/ns/\" />"
    } else {
        "<displayname /><group-membership /><resourcetype /><CARD:addressbook-home-set />"
    };
    let r = propfind(&a, &principal, "0", props).await;
    let doc = r.xml();
    let resp = doc.response(&principal);
    assert!(resp.ok(DAV, "resourcetype").child(DAV, "principal").is_some(), "principal resourcetype");
    let home = if caldav {
        resp.href_prop(CALDAV, "calendar-home-set")
    } else {
        resp.href_prop(CARDDAV, "addressbook-home-set")
    };
    assert_eq!(home, if caldav { CAL_HOME } else { BOOK_HOME });
    assert!(home.ends_with('/'), "home sets are stored with a trailing slash");

    // HomeSetRefresher: PROPFIND Depth 1 on the home set.
    let props = if caldav {
        format!(
            "<current-user-privilege-set /><displayname /><owner /><resourcetype />\
             <n0:push-transports xmlns:n0=\"https://bitfire.at/webdav-push\" />\
             <n0:topic xmlns:n0=\"https://bitfire.at/webdav-push\" />{APPLE_COLOR}<CAL:calendar-description />\
             <CAL:calendar-timezone /><CAL:calendar-timezone-id /><CAL:supported-calendar-component-set />\
             <n1:source xmlns:n1=\"http://calendarserver.org/ns/\" />"
        )
    } else {
        "<current-user-privilege-set /><displayname /><owner /><resourcetype />\
         <n0:push-transports xmlns:n0=\"https://bitfire.at/webdav-push\" />\
         <n0:topic xmlns:n0=\"https://bitfire.at/webdav-push\" /><CARD:addressbook-description />"
            .to_owned()
    };
    propfind(&a, &home, "1", &props).await
}

#[tokio::test]
async fn davx5_caldav_discovery_finds_calendars_and_detects_read_only() {
    let server = start().await;
    let r = discover(&server, true).await;
    let doc = r.xml();
    let mut calendars = Vec::new();
    for resp in doc.responses() {
        let rt = resp.ok(DAV, "resourcetype");
        if rt.child(CALDAV, "calendar").is_none() && rt.child(CS, "subscribed").is_none() {
            continue;
        }
        let comps: Vec<String> = resp
            .ok(CALDAV, "supported-calendar-component-set")
            .elements()
            .filter_map(|c| c.attr("name").map(str::to_owned))
            .collect();
        assert!(resp.href().ends_with('/'), "collection href {}", resp.href());
        assert_eq!(resp.href_prop(DAV, "owner"), PRINCIPAL);
        assert!(may_write_content(&resp), "{} would be read-only in DAVx5", resp.href());
        // The property must be present: absent means "writable" even for a read-only share.
        resp.ok(DAV, "current-user-privilege-set");
        calendars.push((resp.href(), comps));
    }
    calendars.sort();
    assert_eq!(
        calendars,
        [(CAL.to_owned(), vec!["VEVENT".to_owned()]), (TASKS.to_owned(), vec!["VTODO".to_owned()])],
        "the calendar syncs to the Android calendar, the VTODO list to the tasks app"
    );

    // Read-only detection, on what alice may only read: the principal collection.
    let a = Agent::new(&server, UA);
    let r = propfind(&a, "/dav/principals/", "0", "<current-user-privilege-set /><resourcetype />").await;
    let doc = r.xml();
    let resp = &doc.responses()[0];
    let set = resp.ok(DAV, "current-user-privilege-set");
    assert!(has_privilege(set, "read"));
    assert!(!may_write_content(resp), "a read-only resource must lack write-content (and write/all)");
    server.stop().await;
}

#[tokio::test]
async fn davx5_carddav_discovery_finds_the_address_book() {
    let server = start().await;
    let r = discover(&server, false).await;
    let doc = r.xml();
    let books: Vec<String> = doc
        .responses()
        .iter()
        .filter(|resp| resp.ok(DAV, "resourcetype").child(CARDDAV, "addressbook").is_some())
        .inspect(|resp| assert!(may_write_content(resp), "{} read-only", resp.href()))
        .map(|resp| resp.href())
        .collect();
    assert_eq!(books, [BOOK]);
    server.stop().await;
}

#[tokio::test]
async fn davx5_calendar_collection_sync_create_update_delete() {
    let server = start().await;
    let a = Agent::new(&server, UA);

    // Capabilities: sync-collection is advertised, so CalendarSyncManager uses COLLECTION_SYNC.
    let caps = query_capabilities(&a, CAL).await;
    assert!(can_collection_sync(&caps));
    let doc = caps.xml();
    let stored_token = doc.responses()[0].ok(DAV, "sync-token").text();

    // Initial sync from an empty token: empty calendar, but a token to store.
    let initial = list_changes(&a, CAL, None).await.expect("initial sync");
    assert!(initial.changed.is_empty() && initial.removed.is_empty() && !initial.further);
    assert_eq!(initial.token, stored_token);

    // Upload a new event: <uuid>.ics, If-None-Match: *, ETag from the response headers.
    let uid = "5d1c5f2e-1b8a-4d9e-9a51-0c2b8f6f7e11";
    let url = format!("{CAL}{uid}.ics");
    let body = event(PRODID, uid, "Dentist", "20260310T080000Z", "20260310T090000Z");
    let r = create(&a, &url, "text/calendar; charset=utf-8", &body).await;
    r.assert_status(201);
    let etag = r.etag();
    assert_strong_etag(&etag);

    // Pushing the same file again as "new" must not create a second one.
    create(&a, &url, "text/calendar; charset=utf-8", &body).await.assert_status(412);

    // Skip check: the sync token moved, so the collection is synced.
    let caps = query_capabilities(&a, CAL).await;
    let doc = caps.xml();
    assert_ne!(doc.responses()[0].ok(DAV, "sync-token").text(), initial.token);

    // Incremental sync: the upload comes back with the ETag DAVx5 already has ⇒ no download.
    let delta = list_changes(&a, CAL, Some(&initial.token)).await.expect("incremental sync");
    assert_eq!(delta.changed, [(url.clone(), etag.clone())]);

    // Another device edits the event; DAVx5 downloads the new version in a multiget.
    let other = Agent::new(&server, UA);
    let edited = event(PRODID, uid, "Dentist (moved)", "20260311T080000Z", "20260311T090000Z");
    let r = update(&other, &url, &etag, "text/calendar; charset=utf-8", &edited).await;
    r.assert_status(204);
    let etag2 = r.etag();
    assert_strong_etag(&etag2);
    let delta2 = list_changes(&a, CAL, Some(&delta.token)).await.unwrap();
    assert_eq!(delta2.changed, [(url.clone(), etag2.clone())]);
    let got = calendar_multiget(&a, CAL, std::slice::from_ref(&url)).await;
    assert_eq!(got[0].1, etag2);
    assert_eq!(got[0].2, edited, "calendar-data is the stored object");

    // DAVx5 edits with the stale ETag: 412, ignored, the server version is re-downloaded.
    let mine = event(PRODID, uid, "Dentist (mine)", "20260310T080000Z", "20260310T090000Z");
    update(&a, &url, &etag, "text/calendar; charset=utf-8", &mine).await.assert_status(412);
    // With the current ETag it succeeds.
    let r = update(&a, &url, &etag2, "text/calendar; charset=utf-8", &mine).await;
    r.assert_status(204);
    let etag3 = r.etag();

    // Delete with If-Match: a stale ETag is refused, the current one deletes.
    a.send("DELETE", &url, &[("If-Match", &etag2)], None).await.assert_status(412);
    a.send("DELETE", &url, &[("If-Match", &etag3)], None).await.assert_status(204);
    // 404 on a repeated delete is "done" for DAVx5.
    a.send("DELETE", &url, &[("If-Match", &etag3)], None).await.assert_status(404);

    let delta3 = list_changes(&a, CAL, Some(&delta2.token)).await.unwrap();
    assert!(delta3.changed.is_empty(), "{delta3:?}");
    assert_eq!(delta3.removed, std::slice::from_ref(&url));

    // Nothing changed since: same token, so DAVx5 skips the collection next time.
    let caps = query_capabilities(&a, CAL).await;
    let doc = caps.xml();
    assert_eq!(doc.responses()[0].ok(DAV, "sync-token").text(), delta3.token);
    server.stop().await;
}

#[tokio::test]
async fn davx5_initial_sync_downloads_in_multiget_batches_of_ten() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for i in 0..25 {
        let uid = format!("batch-{i:02}");
        let body = event("-//other//EN", &uid, &format!("Event {i}"), "20260401T100000Z", "20260401T110000Z");
        a.send("PUT", &format!("{CAL}{uid}.ics"), &[("Content-Type", "text/calendar")], Some(&body))
            .await
            .assert_status(201);
    }
    let changes = list_changes(&a, CAL, None).await.unwrap();
    assert_eq!(changes.changed.len(), 25);
    let hrefs: Vec<String> = changes.changed.iter().map(|c| c.0.clone()).collect();
    assert_eq!(download_all(&a, CAL, &hrefs).await, [10, 10, 5]);
    server.stop().await;
}

#[tokio::test]
async fn davx5_tasks_are_listed_with_calendar_query_and_downloaded_with_multiget() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // TasksSyncManager.syncAlgorithm = PROPFIND_REPORT, whatever the capabilities say.
    let caps = query_capabilities(&a, TASKS).await;
    assert!(can_collection_sync(&caps));
    let doc = caps.xml();
    let ctag = doc.responses()[0].ok(CS, "getctag").text();

    let uid = "0f5c2e44-9d0c-4f36-9f43-2b0d2d7a0c55";
    let url = format!("{TASKS}{uid}.ics");
    let r = create(&a, &url, "text/calendar; charset=utf-8", &todo(PRODID, uid, "Buy milk")).await;
    r.assert_status(201);
    let etag = r.etag();

    // CTag changed ⇒ list with calendar-query (one per component: VTODO), Depth 1.
    let caps = query_capabilities(&a, TASKS).await;
    let doc = caps.xml();
    assert_ne!(doc.responses()[0].ok(CS, "getctag").text(), ctag);
    let query = format!(
        "{PROLOG}<CAL:calendar-query xmlns=\"DAV:\" xmlns:CAL=\"{CALDAV}\"><prop><getetag /></prop><CAL:filter>\
         <CAL:comp-filter name=\"VCALENDAR\"><CAL:comp-filter name=\"VTODO\" /></CAL:comp-filter></CAL:filter>\
         </CAL:calendar-query>"
    );
    let r = a
        .send(
            "REPORT",
            TASKS,
            &[("Depth", "1"), ("Accept", ACCEPT_XML), ("Content-Type", XML_UTF8)],
            Some(&query),
        )
        .await;
    assert_multistatus(&r);
    let doc = r.xml();
    let listed: Vec<(String, String)> = doc.responses().iter().map(|m| (m.href(), require_etag(m))).collect();
    assert_eq!(listed, [(url.clone(), etag.clone())]);
    let got = calendar_multiget(&a, TASKS, std::slice::from_ref(&url)).await;
    assert!(got[0].2.contains("BEGIN:VTODO"));
    server.stop().await;
}

#[tokio::test]
async fn davx5_contacts_sync_uploads_and_downloads_vcard4() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let caps = query_capabilities(&a, BOOK).await;
    assert!(can_collection_sync(&caps));
    let doc = caps.xml();
    // supportsVCard4: supported-address-data lists text/vcard 4.0.
    let v4 = doc.responses()[0]
        .ok(CARDDAV, "supported-address-data")
        .elements()
        .any(|t| t.attr("content-type") == Some("text/vcard") && t.attr("version") == Some("4.0"));
    assert!(v4, "supported-address-data should list vCard 4.0");

    let initial = list_changes(&a, BOOK, None).await.unwrap();
    let uid = "c3f1b0de-3a5e-4f7a-a5c4-7e1e2b9d8a01";
    let url = format!("{BOOK}{uid}.vcf");
    let card = vcard4("-//bitfire.at//DAVx5//EN", uid, "Ada Lovelace");
    let r = create(&a, &url, "text/vcard; version=4.0", &card).await;
    r.assert_status(201);
    let etag = r.etag();
    assert_strong_etag(&etag);

    let delta = list_changes(&a, BOOK, Some(&initial.token)).await.unwrap();
    assert_eq!(delta.changed, [(url.clone(), etag.clone())]);

    // addressbook-multiget, Depth 0, address-data in vCard 4.
    let body = format!(
        "{PROLOG}<CARD:addressbook-multiget xmlns=\"DAV:\" xmlns:CARD=\"{CARDDAV}\"><prop><getcontenttype />\
         <getetag /><CARD:address-data content-type=\"text/vcard\" version=\"4.0\" /></prop><href>{url}</href>\
         </CARD:addressbook-multiget>"
    );
    let r = a
        .send(
            "REPORT",
            BOOK,
            &[("Depth", "0"), ("Accept", ACCEPT_XML), ("Content-Type", XML_UTF8)],
            Some(&body),
        )
        .await;
    assert_multistatus(&r);
    let doc = r.xml();
    let resp = doc.response(&url);
    assert_eq!(require_etag(&resp), etag);
    let data = resp.ok(CARDDAV, "address-data").text();
    assert!(data.contains("VERSION:4.0") && data.contains("FN:Ada Lovelace"), "{data}");

    // Update and delete with If-Match, as for calendars.
    let card2 = vcard4("-//bitfire.at//DAVx5//EN", uid, "Ada King");
    let r = update(&a, &url, &etag, "text/vcard; version=4.0", &card2).await;
    r.assert_status(204);
    a.send("DELETE", &url, &[("If-Match", &r.etag())], None).await.assert_status(204);
    let delta2 = list_changes(&a, BOOK, Some(&delta.token)).await.unwrap();
    assert_eq!(delta2.removed, [url]);
    server.stop().await;
}

#[tokio::test]
async fn davx5_invalid_sync_token_restarts_with_an_empty_token() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for bad in ["urn:x-davit:sync:1:999999", "http://other.example/sync/7"] {
        let (status, body) = list_changes(&a, CAL, Some(bad)).await.expect_err("an unknown token is refused");
        assert!((400..500).contains(&status), "{status}");
        // SyncManager: an error carrying DAV:valid-sync-token (any status) ⇒ initial sync.
        let doc = Doc::parse(&body);
        assert!(doc.root.is(DAV, "error"), "{body}");
        assert!(doc.root.child(DAV, "valid-sync-token").is_some(), "{body}");
        list_changes(&a, CAL, None).await.expect("the retry from an empty token works");
    }
    server.stop().await;
}

#[tokio::test]
async fn davx5_loops_while_the_server_reports_further_results_with_507() {
    // DAVx5 sends no DAV:limit; davit truncates on its own after MAX_CHANGES_PER_REPORT changes.
    // Seed that many events straight through the store (HTTP for each would be slow).
    let server = start().await;
    let n = davit::sync::MAX_CHANGES_PER_REPORT + 3;
    let store_state = server.state.clone();
    tokio::task::spawn_blocking(move || {
        use davit::store::{Expect, HomeKind, ObjectIndex, PutObject};
        let store = store_state.store.as_ref();
        let alice = store.principal_by_slug("alice").unwrap().unwrap();
        let home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
        let cal = store.child_collection(home.id, "calendar").unwrap().unwrap();
        for i in 0..n {
            let uid = format!("seed-{i:05}");
            let body = event("-//seed//EN", &uid, "Seed", "20260501T100000Z", "20260501T110000Z");
            store
                .put_object(&PutObject {
                    collection_id: cal.id,
                    segment: &format!("{uid}.ics"),
                    body: body.as_bytes(),
                    content_type: "text/calendar; charset=utf-8",
                    expect: Expect::Absent,
                    index: ObjectIndex {
                        uid: Some(uid.clone()),
                        comp_type: Some("VEVENT".into()),
                        ..ObjectIndex::default()
                    },
                })
                .unwrap();
        }
    })
    .await
    .unwrap();

    let a = Agent::new(&server, UA);
    let mut token: Option<String> = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut rounds = 0;
    loop {
        let page = list_changes(&a, CAL, token.as_deref()).await.unwrap();
        rounds += 1;
        seen.extend(page.changed.into_iter().map(|c| c.0));
        token = Some(page.token);
        if !page.further {
            break;
        }
        assert!(rounds < 5, "507 never stops");
    }
    assert_eq!(rounds, 2, "one truncated page with 507 on the collection, then the rest");
    assert_eq!(seen.len(), n);
    server.stop().await;
}

#[tokio::test]
async fn davx5_falls_back_to_ctag_and_etag_listing_with_a_past_days_limit() {
    // CalendarSyncManager: with "sync only events of the past N days" DAVx5 does not use
    // sync-collection; it compares the CTag, then lists ETags with a time-ranged calendar-query.
    let server = start().await;
    let a = Agent::new(&server, UA);
    let recent = event(PRODID, "recent", "Recent", &utc_days_from_now(-2), &utc_days_from_now(-1));
    let old = event(PRODID, "old", "Old", "20200101T100000Z", "20200101T110000Z");
    for (name, body) in [("recent.ics", &recent), ("old.ics", &old)] {
        create(&a, &format!("{CAL}{name}"), "text/calendar; charset=utf-8", body).await.assert_status(201);
    }
    let caps = query_capabilities(&a, CAL).await;
    let doc = caps.xml();
    let ctag = doc.responses()[0].ok(CS, "getctag").text();
    assert!(!ctag.is_empty());

    let start_at = utc_days_from_now(-90);
    let query = format!(
        "{PROLOG}<CAL:calendar-query xmlns=\"DAV:\" xmlns:CAL=\"{CALDAV}\"><prop><getetag /></prop><CAL:filter>\
         <CAL:comp-filter name=\"VCALENDAR\"><CAL:comp-filter name=\"VEVENT\"><CAL:time-range start=\"{start_at}\" />\
         </CAL:comp-filter></CAL:comp-filter></CAL:filter></CAL:calendar-query>"
    );
    let r = a
        .send(
            "REPORT",
            CAL,
            &[("Depth", "1"), ("Accept", ACCEPT_XML), ("Content-Type", XML_UTF8)],
            Some(&query),
        )
        .await;
    assert_multistatus(&r);
    let doc = r.xml();
    let listed: Vec<String> = doc
        .responses()
        .iter()
        .map(|m| {
            require_etag(m);
            m.href()
        })
        .collect();
    assert_eq!(listed, [format!("{CAL}recent.ics")], "only events ending after the start");

    // Same CTag on the next run ⇒ the collection is skipped.
    let caps = query_capabilities(&a, CAL).await;
    let doc = caps.xml();
    assert_eq!(doc.responses()[0].ok(CS, "getctag").text(), ctag);
    server.stop().await;
}

#[tokio::test]
async fn davx5_read_only_credential_is_detected_and_its_writes_are_ignorable() {
    // The read-only view davit can express today: a read-only app password. (A read-only
    // share of another user's calendar awaits sharing.)
    let server = start().await;
    let secret = super::read_only_app_password(&server);
    let a = Agent::with_password(&server, UA, &secret);
    let r =
        propfind(&a, CAL_HOME, "1", "<current-user-privilege-set /><displayname /><owner /><resourcetype />")
            .await;
    let doc = r.xml();
    let mut checked = 0;
    for resp in
        doc.responses().iter().filter(|m| m.ok(DAV, "resourcetype").child(CALDAV, "calendar").is_some())
    {
        let set = resp.ok(DAV, "current-user-privilege-set");
        assert!(has_privilege(set, "read"), "{}", resp.href());
        assert!(!may_write_content(resp), "{} must be read-only for DAVx5", resp.href());
        checked += 1;
    }
    assert_eq!(checked, 2);
    // Sync still works read-only.
    list_changes(&a, CAL, None).await.expect("read-only sync");
    // A write that slips through is refused with 403 + DAV:need-privileges, which DAVx5
    // ignores (any other 403 would abort the sync).
    let body = event(PRODID, "ro", "RO", "20260310T080000Z", "20260310T090000Z");
    let r = create(&a, &format!("{CAL}ro.ics"), "text/calendar; charset=utf-8", &body).await;
    r.assert_status(403);
    let doc = Doc::parse(&r.body);
    assert!(doc.root.child(DAV, "need-privileges").is_some(), "{}", r.body);
    server.stop().await;
}

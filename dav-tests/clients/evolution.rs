//! GNOME Evolution (evolution-data-server), replayed request by request.
//!
//! Based on CLIENTS.md §6 and the sources it cites, re-read at
//! `GNOME/evolution-data-server@ccb3cba2c`:
//! - src/libedataserver/e-webdav-discover.c (discovery PROPFIND Depth 0 {resourcetype,
//!   current-user-principal, principal-URL, C:calendar-home-set, C:calendar-user-address-set,
//!   CR:addressbook-home-set}; home sets listed with `e_webdav_session_list_sync`, Depth 1),
//! - src/libedataserver/e-webdav-session.c (`e_webdav_session_list_sync` props;
//!   `e_webdav_session_put_data_sync`: `If-None-Match: *` / `If-Match`, `Prefer:
//!   return=minimal`; `e_webdav_session_put_sync`: `Transfer-Encoding: chunked`;
//!   `e_webdav_session_set_if_match_header` re-quotes a dequoted ETag;
//!   `e_webdav_session_sync_collection_sync`: `Depth: 0`, a missing sync-token is an error),
//! - src/libedataserver/e-soup-session.c (`User-Agent: Evolution/<version>`),
//! - src/calendar/backends/caldav/e-cal-backend-caldav.c (`ecb_caldav_get_collection_props_sync`
//!   {CS:getctag, supported-report-set}; a stored token with neither ':' nor '/' is discarded;
//!   412 or 403 mentioning valid-sync-token ⇒ retry with an empty token; calendar-query with a
//!   ±35-day time-range when listing; calendar-multiget without Depth in batches of
//!   `E_CALDAV_MAX_MULTIGET_AMOUNT` = 100; after a PUT the ETag is trusted only when present
//!   and not `W/`; content type `text/calendar; charset="utf-8"`),
//! - src/addressbook/backends/carddav/e-book-backend-carddav.c (collection props {CS:getctag,
//!   CR:supported-address-data, supported-report-set}: vCard 4.0 when an `address-data` or
//!   `address-data-type` element says so; addressbook-multiget without Depth, batches of 100;
//!   PUT through `e_webdav_session_put_data_sync` with `text/vcard; charset="utf-8"`).
//!
//! Every backend at that commit writes through `e_webdav_session_put_data_sync` (Content-Length,
//! `Prefer: return=minimal`); the streaming `e_webdav_session_put_sync` (chunked) is public API
//! that no backend there calls. Both are replayed.

use super::{
    Agent, BOOK_HOME, CAL, CAL_HOME, CALDAV, CARDDAV, CS, PRINCIPAL, TASKS, assert_strong_etag, code_of,
    event, raw_chunked_request, select, start, top_sync_token, utc_days_from_now,
};
use crate::harness::Reply;
use crate::harness::roxml::{DAV, Doc};

const UA: &str = "Evolution/3.54.3";
/// E_WEBDAV_CONTENT_TYPE_XML and E_WEBDAV_CONTENT_TYPE_CALENDAR.
const XML: &str = "application/xml; charset=\"utf-8\"";
const CALENDAR: &str = "text/calendar; charset=\"utf-8\"";
const PRODID: &str = "-//Ximian//NONSGML Evolution Calendar//EN";
const HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// `e_webdav_session_util_maybe_dequote`.
fn dequote(etag: &str) -> String {
    etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(etag).to_owned()
}

/// `e_webdav_session_set_if_match_header`: quotes a bare ETag again.
fn if_match(etag: &str) -> String {
    if etag.contains('"') { etag.to_owned() } else { format!("\"{etag}\"") }
}

/// `e_webdav_session_put_data_sync`: the in-memory PUT the CalDAV backend uses.
async fn put_data(a: &Agent, url: &str, etag: Option<&str>, ics: &str) -> Reply {
    let cond = match etag {
        None => ("If-None-Match", "*".to_owned()),
        Some(e) => ("If-Match", if_match(e)),
    };
    a.send(
        "PUT",
        url,
        &[(cond.0, &cond.1), ("Content-Type", CALENDAR), ("Prefer", "return=minimal")],
        Some(ics),
    )
    .await
}

/// The backend's use of a PUT answer: the ETag is kept only when present and strong.
#[track_caller]
fn trusted_etag(r: &Reply) -> String {
    let etag = r.header("etag").expect("ETag on the PUT answer (else Evolution re-reads the object)");
    assert!(!etag.to_ascii_uppercase().starts_with("W/"), "weak ETag {etag}: Evolution re-reads the object");
    assert_strong_etag(etag);
    dequote(etag)
}

/// What `e_webdav_session_sync_collection_sync` + the backend callbacks take from one run.
#[derive(Debug, Default)]
struct Changes {
    modified: Vec<(String, String)>,
    removed: Vec<String>,
    token: String,
}

fn sync_body(token: Option<&str>) -> String {
    let token =
        token.map(|t| format!("<D:sync-token>{t}</D:sync-token>")).unwrap_or("<D:sync-token/>".into());
    format!(
        "{HEADER}<D:sync-collection xmlns:D=\"DAV:\">{token}<D:sync-level>1</D:sync-level><D:prop><D:getetag/>\
         </D:prop></D:sync-collection>\n"
    )
}

/// One sync-collection loop (repeats while a 507 says there is more).
async fn sync_collection(a: &Agent, url: &str, token: Option<&str>) -> Result<Changes, (u16, String)> {
    // The backend drops a stored "token" that is not a URI (it takes it for a ctag).
    let token = token.filter(|t| t.contains(':') || t.contains('/'));
    let mut out = Changes::default();
    let mut use_token = token.map(str::to_owned);
    loop {
        let r = a
            .send(
                "REPORT",
                url,
                &[("Depth", "0"), ("Content-Type", XML)],
                Some(&sync_body(use_token.as_deref())),
            )
            .await;
        if r.status.as_u16() != 207 {
            return Err((r.status.as_u16(), r.body));
        }
        let doc = r.xml();
        let mut repeat = false;
        for resp in doc.responses() {
            let href = resp.href();
            match resp.status().map(|s| code_of(&s)) {
                Some(404) => out.removed.push(href),
                Some(507) => repeat = true,
                _ => {
                    let etag = resp.ok(DAV, "getetag").text();
                    out.modified.push((href, dequote(&etag)));
                }
            }
        }
        out.token = top_sync_token(&doc).ok_or((207, "Server did not return sync-token".to_owned()))?;
        if !repeat {
            return Ok(out);
        }
        use_token = Some(out.token.clone());
    }
}

/// `ecb_caldav_multiget_from_sets_sync`: calendar-multiget without Depth, ≤ 100 hrefs.
async fn multiget(a: &Agent, url: &str, hrefs: &[String]) -> Vec<(String, String, String)> {
    assert!(hrefs.len() <= 100);
    let hrefs: String = hrefs.iter().map(|h| format!("<D:href>{h}</D:href>")).collect();
    let body = format!(
        "{HEADER}<C:calendar-multiget xmlns:C=\"{CALDAV}\" xmlns:D=\"DAV:\"><D:prop><D:getetag/><C:calendar-data/>\
         </D:prop>{hrefs}</C:calendar-multiget>\n"
    );
    let r = a.send("REPORT", url, &[("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    doc.responses()
        .iter()
        .map(|m| (m.href(), dequote(&m.ok(DAV, "getetag").text()), m.ok(CALDAV, "calendar-data").text()))
        .collect()
}

#[tokio::test]
async fn evolution_discovery_lists_calendars_task_lists_and_address_books() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let body = format!(
        "{HEADER}<D:propfind xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\" xmlns:A=\"{CARDDAV}\"><D:prop><D:resourcetype/>\
         <D:current-user-principal/><D:principal-URL/><C:calendar-home-set/><C:calendar-user-address-set/>\
         <A:addressbook-home-set/></D:prop></D:propfind>\n"
    );
    // The URL typed is the server root.
    let r = a.send("PROPFIND", "/", &[("Depth", "0"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = &doc.responses()[0];
    assert_eq!(resp.href_prop(DAV, "current-user-principal"), PRINCIPAL);
    let cal_home = resp.href_prop(CALDAV, "calendar-home-set");
    let book_home = resp.href_prop(CARDDAV, "addressbook-home-set");
    assert_eq!((cal_home.as_str(), book_home.as_str()), (CAL_HOME, BOOK_HOME));
    let addresses: Vec<String> =
        resp.ok(CALDAV, "calendar-user-address-set").elements().map(|h| h.text()).collect();
    assert!(addresses.iter().any(|h| h == "mailto:alice@example.org"));

    // e_webdav_session_list_sync(E_WEBDAV_LIST_ONLY_CALENDAR | E_WEBDAV_LIST_ALL), Depth 1.
    let list = format!(
        "{HEADER}<D:propfind xmlns:D=\"DAV:\" xmlns:CS=\"{CS}\" xmlns:C=\"{CALDAV}\" xmlns:IC=\"{}\"><D:prop>\
         <D:resourcetype/><CS:source/><C:supported-calendar-component-set/><D:displayname/><D:getetag/><CS:getctag/>\
         <D:getcontenttype/><D:getcontentlength/><D:creationdate/><D:getlastmodified/><C:calendar-description/>\
         <IC:calendar-color/><IC:calendar-order/></D:prop></D:propfind>\n",
        super::ICAL
    );
    let r = a.send("PROPFIND", &cal_home, &[("Depth", "1"), ("Content-Type", XML)], Some(&list)).await;
    r.assert_status(207);
    let doc = r.xml();
    let mut kinds = Vec::new();
    for m in doc.responses() {
        if m.ok(DAV, "resourcetype").child(CALDAV, "calendar").is_none() {
            continue;
        }
        let comps: Vec<String> = m
            .ok(CALDAV, "supported-calendar-component-set")
            .elements()
            .filter_map(|c| c.attr("name").map(str::to_owned))
            .collect();
        assert!(!m.ok(CS, "getctag").text().is_empty());
        kinds.push((m.href(), m.ok(DAV, "displayname").text(), comps));
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (CAL.to_owned(), "Calendar".to_owned(), vec!["VEVENT".to_owned()]),
            (TASKS.to_owned(), "Tasks".to_owned(), vec!["VTODO".to_owned()]),
        ]
    );

    let list = format!(
        "{HEADER}<D:propfind xmlns:D=\"DAV:\" xmlns:A=\"{CARDDAV}\"><D:prop><D:resourcetype/><D:displayname/><D:getetag/>\
         <D:getcontenttype/><D:getcontentlength/><D:creationdate/><D:getlastmodified/><A:addressbook-description/>\
         </D:prop></D:propfind>\n"
    );
    let r = a.send("PROPFIND", &book_home, &[("Depth", "1"), ("Content-Type", XML)], Some(&list)).await;
    r.assert_status(207);
    let doc = r.xml();
    let books: Vec<String> = doc
        .responses()
        .iter()
        .filter(|m| m.ok(DAV, "resourcetype").child(CARDDAV, "addressbook").is_some())
        .map(|m| m.href())
        .collect();
    assert_eq!(books, [super::BOOK]);
    server.stop().await;
}

#[tokio::test]
async fn evolution_calendar_sync_and_writes() {
    let server = start().await;
    let a = Agent::new(&server, UA);

    // ecb_caldav_get_collection_props_sync: getctag + supported-report-set.
    let body = format!(
        "{HEADER}<D:propfind xmlns:D=\"DAV:\" xmlns:CS=\"{CS}\"><D:prop><CS:getctag/><D:supported-report-set/></D:prop>\
         </D:propfind>\n"
    );
    let r = a.send("PROPFIND", CAL, &[("Depth", "0"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = &doc.responses()[0];
    let sync_supported = resp
        .ok(DAV, "supported-report-set")
        .elements()
        .any(|s| select(s, &[(DAV, "report"), (DAV, "sync-collection")]).is_some());
    assert!(sync_supported);

    // First sync: empty token; the token must be a URI or the next sync starts over.
    let first = sync_collection(&a, CAL, None).await.unwrap();
    assert!(first.modified.is_empty());
    assert!(first.token.contains(':'), "sync token {:?} would be taken for a ctag", first.token);

    // Create through put_data_sync: If-None-Match: *, Prefer: return=minimal.
    let uid = "20260301T101010Z-4242-1000-1-7@example.org";
    let url = format!("{CAL}{uid}.ics");
    let ics = event(PRODID, uid, "Standup", "20260302T090000Z", "20260302T091500Z");
    let r = put_data(&a, &url, None, &ics).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.status.as_u16(), 201);
    let etag = trusted_etag(&r);
    // Prefer: return=minimal ⇒ no body to parse.
    assert!(r.body.is_empty(), "{}", r.body);

    // Modify with If-Match: "<etag>" (re-quoted from the dequoted value).
    let ics2 = event(PRODID, uid, "Standup (room 2)", "20260302T090000Z", "20260302T091500Z");
    let r = put_data(&a, &url, Some(&etag), &ics2).await;
    r.assert_status(204);
    let etag2 = trusted_etag(&r);
    assert_ne!(etag2, etag);

    // A stale ETag: 412 goes to conflict resolution.
    put_data(&a, &url, Some(&etag), &ics).await.assert_status(412);
    // sabre works around Evolution sometimes sending the quotes backslash-escaped.
    let escaped = format!("\\\"{etag2}\\\"");
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-Match", &escaped), ("Content-Type", CALENDAR), ("Prefer", "return=minimal")],
            Some(&ics2),
        )
        .await;
    r.assert_status(204);
    let etag3 = trusted_etag(&r);

    // Incremental sync with the stored token, then the multiget.
    let delta = sync_collection(&a, CAL, Some(&first.token)).await.unwrap();
    assert_eq!(delta.modified, [(url.clone(), etag3.clone())]);
    let got = multiget(&a, CAL, std::slice::from_ref(&url)).await;
    assert_eq!(got, [(url.clone(), etag3.clone(), ics2.clone())]);

    // Delete with If-Match.
    a.send("DELETE", &url, &[("If-Match", &if_match(&etag3))], None).await.assert_status(204);
    let delta2 = sync_collection(&a, CAL, Some(&delta.token)).await.unwrap();
    assert_eq!(delta2.removed, [url]);
    server.stop().await;
}

#[tokio::test]
async fn evolution_streaming_put_is_chunked() {
    // e_webdav_session_put_sync: the body is streamed with Transfer-Encoding: chunked and no
    // Content-Length. Written byte for byte so the framing is certain.
    let server = start().await;
    let uid = "chunked-evo@example.org";
    let url = format!("{CAL}{uid}.ics");
    let ics = event(PRODID, uid, "Chunked", "20260303T090000Z", "20260303T100000Z");
    let bytes = ics.as_bytes();
    let (a, rest) = bytes.split_at(17);
    let (b, c) = rest.split_at(rest.len() / 2);
    let put = format!("PUT {url} HTTP/1.1");
    let r = raw_chunked_request(
        server.addr,
        // put_sync adds no Prefer itself; callers pass extra headers through `in_headers`, and
        // the combination with `Prefer: return=minimal` must work too.
        &[
            &put,
            &format!("User-Agent: {UA}"),
            "If-None-Match: *",
            &format!("Content-Type: {CALENDAR}"),
            "Prefer: return=minimal",
        ],
        &[a, b, c],
    )
    .await;
    assert_eq!(r.status(), 201, "{}: {}", r.status_line, String::from_utf8_lossy(&r.body));
    let etag = r.header("etag").expect("ETag").to_owned();
    assert_strong_etag(&etag);
    let agent = Agent::new(&server, UA);
    let g = agent.send("GET", &url, &[], None).await;
    g.assert_status(200);
    assert_eq!(g.body, ics);
    assert_eq!(g.etag(), etag, "the PUT ETag is the ETag of the stored bytes");
    server.stop().await;
}

#[tokio::test]
async fn evolution_listing_and_stale_token_recovery() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let soon = event(PRODID, "soon", "Soon", &utc_days_from_now(3), &utc_days_from_now(4));
    let later = event(PRODID, "later", "Later", &utc_days_from_now(100), &utc_days_from_now(101));
    for (name, ics) in [("soon.ics", &soon), ("later.ics", &later)] {
        put_data(&a, &format!("{CAL}{name}"), None, ics).await.assert_status(201);
    }

    // Without sync-collection: calendar-query with the ±35 day range first ("show data quickly").
    let query = format!(
        "{HEADER}<C:calendar-query xmlns:C=\"{CALDAV}\" xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop><C:filter>\
         <C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\"><C:time-range start=\"{}\" end=\"{}\"/>\
         </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>\n",
        utc_days_from_now(-35),
        utc_days_from_now(35)
    );
    let r = a.send("REPORT", CAL, &[("Depth", "1"), ("Content-Type", XML)], Some(&query)).await;
    r.assert_status(207);
    let doc: Doc = r.xml();
    let hrefs: Vec<String> = doc
        .responses()
        .iter()
        .map(|m| {
            assert!(!m.ok(DAV, "getetag").text().is_empty());
            m.href()
        })
        .collect();
    assert_eq!(hrefs, [format!("{CAL}soon.ics")]);

    // A token the server no longer knows: 412, or 403 mentioning valid-sync-token ⇒ retry
    // with an empty token (anything else would end in a full re-listing).
    let (status, body) = sync_collection(&a, CAL, Some("urn:x-davit:sync:1:77777")).await.expect_err("stale");
    assert!(status == 412 || (status == 403 && body.contains("valid-sync-token")), "{status}: {body}");
    let fresh = sync_collection(&a, CAL, None).await.unwrap();
    assert_eq!(fresh.modified.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn evolution_address_book_sync_and_writes() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let book = super::BOOK;
    // ebb_carddav_get_collection_props_sync.
    let body = format!(
        "{HEADER}<D:propfind xmlns:D=\"DAV:\" xmlns:CS=\"{CS}\" xmlns:A=\"{CARDDAV}\"><D:prop><CS:getctag/>\
         <A:supported-address-data/><D:supported-report-set/></D:prop></D:propfind>\n"
    );
    let r = a.send("PROPFIND", book, &[("Depth", "0"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = &doc.responses()[0];
    let data = resp.ok(CARDDAV, "supported-address-data");
    let v4 = data
        .elements()
        .filter(|e| e.is(CARDDAV, "address-data") || e.is(CARDDAV, "address-data-type"))
        .any(|e| {
            e.attr("content-type").is_some_and(|c| c.eq_ignore_ascii_case("text/vcard"))
                && e.attr("version") == Some("4.0")
        });
    assert!(v4, "Evolution would stay on vCard 3.0");
    assert!(
        resp.ok(DAV, "supported-report-set").elements().any(|s| select(
            s,
            &[(DAV, "report"), (DAV, "sync-collection")]
        )
        .is_some())
    );

    let first = sync_collection(&a, book, None).await.unwrap();
    assert!(first.token.contains(':'));

    let uid = "pas-id-6651F3A1000000A1";
    let url = format!("{book}{uid}.vcf");
    let card = super::vcard4("-//Evolution//EN", uid, "Ada Lovelace");
    let card_type = "text/vcard; charset=\"utf-8\"";
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-None-Match", "*"), ("Content-Type", card_type), ("Prefer", "return=minimal")],
            Some(&card),
        )
        .await;
    r.assert_status(201);
    let etag = trusted_etag(&r);

    let delta = sync_collection(&a, book, Some(&first.token)).await.unwrap();
    assert_eq!(delta.modified, [(url.clone(), etag.clone())]);
    // addressbook-multiget without Depth.
    let mg = format!(
        "{HEADER}<A:addressbook-multiget xmlns:A=\"{CARDDAV}\" xmlns:D=\"DAV:\"><D:prop><D:getetag/><A:address-data/>\
         </D:prop><D:href>{url}</D:href></A:addressbook-multiget>\n"
    );
    let r = a.send("REPORT", book, &[("Content-Type", XML)], Some(&mg)).await;
    r.assert_status(207);
    let doc = r.xml();
    let m = doc.response(&url);
    assert_eq!(dequote(&m.ok(DAV, "getetag").text()), etag);
    assert!(m.ok(CARDDAV, "address-data").text().contains("FN:Ada Lovelace"));

    let card2 = super::vcard4("-//Evolution//EN", uid, "Ada King");
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-Match", &if_match(&etag)), ("Content-Type", card_type), ("Prefer", "return=minimal")],
            Some(&card2),
        )
        .await;
    r.assert_status(204);
    let etag2 = trusted_etag(&r);
    a.send("PUT", &url, &[("If-Match", &if_match(&etag)), ("Content-Type", card_type)], Some(&card))
        .await
        .assert_status(412);
    a.send("DELETE", &url, &[("If-Match", &if_match(&etag2))], None).await.assert_status(204);
    let delta2 = sync_collection(&a, book, Some(&delta.token)).await.unwrap();
    assert_eq!(delta2.removed, [url]);
    server.stop().await;
}

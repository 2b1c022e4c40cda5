//! Thunderbird: the calendar (CalDAV provider) and the address book (CardDAV), replayed
//! request by request.
//!
//! Based on CLIENTS.md §2 and §3 and the sources they cite, re-read at
//! `mozilla/releases-comm-central`:
//! - calendar/providers/caldav/CalDavProvider.sys.mjs @03004531 (detection: given location,
//!   `/.well-known/caldav`, `/`; `detectCollection` / `handlePrincipal` / `handleHomeSet` props;
//!   read-only = none of D:write, D:write-content, D:write-properties, D:all),
//! - calendar/providers/caldav/CalDavCalendar.sys.mjs @03004531 (`checkDavResourceType` props,
//!   any 4xx disables the calendar; `checkServerCaps` OPTIONS on the parent; `doAdoptItem` /
//!   `doModifyItem` / `doDeleteItem`; `getUpdatedItem` = one-href multiget after every PUT;
//!   HEAD after a 409/412 on DELETE; ctag fallback listing),
//! - calendar/providers/caldav/modules/CalDavRequest.sys.mjs @13791ed6 (`text/xml; charset=utf-8`
//!   request bodies, `text/calendar; charset=utf-8` items, `If-None-Match: *` / `If-Match`,
//!   PUT ok = 200/201/204, DELETE ok = 200/204/404, DAV header features),
//! - calendar/providers/caldav/modules/CalDavRequestHandlers.sys.mjs @13791ed6 (webdav-sync
//!   `REPORT Depth: 1`, members kept only if getcontenttype starts with `text/calendar` and
//!   getetag is present, ` 404` ⇒ deleted, ` 507` ⇒ another round, 4xx with a token ⇒ reset;
//!   `calendar.caldav.multigetBatchSize` = 100, hrefs taken from the end of the list),
//! - calendar/providers/caldav/modules/CalDavUtils.sys.mjs @6a784829 (prefixes D, C, CS, A),
//! - mailnews/addrbook/modules/CardDAVUtils.sys.mjs @05ed5637 (`detectAddressBooks`: a response
//!   is skipped unless its first `<status>` is exactly `HTTP/1.1 200 OK`; privileges),
//! - mailnews/addrbook/modules/CardDAVDirectory.sys.mjs @17a48851 (`fetchAllFromServer`,
//!   `_multigetRequest` with `Depth: 1`, `_getSyncToken`, `updateAllFromServerV2`,
//!   `_sendCardToServer` without preconditions + one-href multiget, DELETE without If-Match,
//!   `_readResponse` matching status lines literally).

use super::{
    Agent, BOOK, BOOK_HOME, CAL, CAL_HOME, CALDAV, CARDDAV, CS, PRINCIPAL, TASKS, assert_strong_etag, event,
    first_named, has_privilege, start, status_lines, vcard4,
};
use crate::harness::Reply;
use crate::harness::roxml::{DAV, Doc, ResponseView};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0";
/// CalDAV provider request bodies.
const TEXT_XML_UTF8: &str = "text/xml; charset=utf-8";
/// CardDAVUtils.makeRequest's default content type.
const TEXT_XML: &str = "text/xml";
const ITEM_TYPE: &str = "text/calendar; charset=utf-8";
const XML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const PRODID: &str = "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN";

/// `CalDavPropfindRequest`: `<D:propfind>` with the namespaces of the requested props.
fn cal_propfind_body(props: &[&str]) -> String {
    let mut ns = vec!["xmlns:D=\"DAV:\"".to_owned()];
    for (prefix, uri) in [("C", CALDAV), ("CS", CS), ("A", super::ICAL)] {
        if props.iter().any(|p| p.starts_with(&format!("{prefix}:"))) {
            ns.push(format!("xmlns:{prefix}=\"{uri}\""));
        }
    }
    let props: String = props.iter().map(|p| format!("<{p}/>")).collect();
    format!("{XML_HEADER}<D:propfind {}><D:prop>{props}</D:prop></D:propfind>", ns.join(" "))
}

/// A calendar-provider PROPFIND. Thunderbird's necko follows a 301 itself, re-sending the
/// method and the copied `Depth` header; this does the same.
async fn cal_propfind(a: &Agent, path: &str, depth: &str, props: &[&str]) -> Reply {
    let body = cal_propfind_body(props);
    let mut path = path.to_owned();
    for _ in 0..5 {
        let r = a
            .send("PROPFIND", &path, &[("Depth", depth), ("Content-Type", TEXT_XML_UTF8)], Some(&body))
            .await;
        match r.status.as_u16() {
            301 | 302 | 307 | 308 => path = r.header("location").expect("Location").to_owned(),
            _ => return r,
        }
    }
    panic!("redirect loop at {path}");
}

/// `PropfindResponse.firstProps` keyed like Thunderbird: the set of `prefix:name` in a
/// resourcetype / privilege set.
fn names(set: &davit::dav::xml::Element) -> Vec<String> {
    set.elements()
        .map(|e| {
            let prefix = match e.ns.as_str() {
                DAV => "D",
                CALDAV => "C",
                CS => "CS",
                super::ICAL => "A",
                _ => "?",
            };
            format!("{prefix}:{}", e.name)
        })
        .collect()
}

/// `handleCalendar` / `checkDavResourceType`: read-only unless one of these privileges is there.
fn tb_calendar_read_only(resp: &ResponseView<'_>) -> bool {
    match resp.prop(DAV, "current-user-privilege-set") {
        Some((set, status)) if !status.contains("404") => {
            let privs: Vec<String> =
                set.elements().filter(|p| p.is(DAV, "privilege")).flat_map(names).collect();
            !["D:write", "D:write-content", "D:write-properties", "D:all"]
                .iter()
                .any(|p| privs.iter().any(|q| q == p))
        }
        _ => false,
    }
}

/// What `CalDavWebDavSyncHandler` takes from one sync round.
#[derive(Debug, Default)]
struct WebDavSync {
    fetch: Vec<(String, String)>,
    deleted: Vec<String>,
    additional_sync_needed: bool,
    new_token: Option<String>,
    unhandled_errors: usize,
}

fn sync_collection_body(token: Option<&str>) -> String {
    let token = match token {
        Some(t) => format!("<sync-token>{t}</sync-token>"),
        None => "<sync-token/>".to_owned(),
    };
    format!(
        "{XML_HEADER}<sync-collection xmlns=\"DAV:\">{token}<sync-level>1</sync-level><prop><getcontenttype/>\
         <getetag/></prop></sync-collection>"
    )
}

/// `doWebDAVSync` + the handler's `endElement("response")` logic. `Err` carries non-207 answers.
async fn webdav_sync(a: &Agent, cal: &str, token: Option<&str>) -> Result<WebDavSync, (u16, String)> {
    // "some servers still depend on the depth header, therefore we send both".
    let r = a
        .send(
            "REPORT",
            cal,
            &[("Depth", "1"), ("Content-Type", TEXT_XML_UTF8)],
            Some(&sync_collection_body(token)),
        )
        .await;
    if r.status.as_u16() != 207 {
        return Err((r.status.as_u16(), r.body));
    }
    let doc = r.xml();
    let mut out = WebDavSync::default();
    for resp in doc.responses() {
        let href = resp.href();
        let status = resp.status().unwrap_or_default();
        let mut ctype = resp.prop(DAV, "getcontenttype").map(|p| p.0.text()).filter(|c| !c.is_empty());
        if href.ends_with(".ics") && ctype.as_deref().is_none_or(|c| c == "text/plain") {
            // The iCloud / iCal Server workaround.
            ctype = Some("text/calendar".to_owned());
        }
        let etag = resp.prop(DAV, "getetag").map(|p| p.0.text()).unwrap_or_default();
        if !status.is_empty() && status.find(" 404").is_some_and(|i| i > 0) {
            out.deleted.push(href);
        } else if ctype.as_deref().is_some_and(|c| c.starts_with("text/calendar")) && !etag.is_empty() {
            out.fetch.push((href, etag));
        } else if status.contains(" 507") {
            out.additional_sync_needed = true;
        } else if !status.is_empty() && href.ends_with('/') {
            // iCloud-style directory entries are ignored.
        } else if ctype.as_deref().is_some_and(|c| c.starts_with("text/calendar"))
            || (!status.is_empty() && !status.contains(" 404"))
        {
            out.unhandled_errors += 1;
        }
    }
    out.new_token = first_named(&doc.root, "sync-token").map(|t| t.text());
    Ok(out)
}

/// `CalDavMultigetSyncHandler.doMultiGet`: batches of `calendar.caldav.multigetBatchSize` (100),
/// hrefs popped from the end of the list, `REPORT Depth: 1` on the calendar.
async fn multiget_all(
    a: &Agent,
    cal: &str,
    mut need: Vec<String>,
) -> Vec<(usize, Vec<(String, String, String)>)> {
    let mut batches = Vec::new();
    while !need.is_empty() {
        let mut hrefs = String::new();
        let mut n = 0;
        while n < 100 {
            let Some(h) = need.pop() else { break };
            hrefs.push_str(&format!("<D:href>{h}</D:href>"));
            n += 1;
        }
        let body = format!(
            "{XML_HEADER}<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\"><D:prop><D:getetag/>\
             <C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
        );
        let r = a.send("REPORT", cal, &[("Depth", "1"), ("Content-Type", TEXT_XML_UTF8)], Some(&body)).await;
        r.assert_status(207);
        let doc = r.xml();
        let items: Vec<(String, String, String)> = doc
            .responses()
            .iter()
            .map(|resp| {
                let etag = resp.ok(DAV, "getetag").text();
                let data = resp.ok(CALDAV, "calendar-data").text();
                assert!(!etag.is_empty() && data.starts_with("BEGIN:VCALENDAR"), "{}", r.body);
                (resp.href(), etag, data)
            })
            .collect();
        assert_eq!(items.len(), n, "{}", r.body);
        batches.push((n, items));
    }
    batches
}

/// `CalDavItemRequest`: PUT with `If-None-Match: *` (new) or `If-Match: <etag>` (modify).
async fn put_item(a: &Agent, url: &str, etag: Option<&str>, ics: &str) -> Reply {
    let cond = match etag {
        None => ("If-None-Match", "*"),
        Some(e) => ("If-Match", e),
    };
    a.send("PUT", url, &[("Content-Type", ITEM_TYPE), cond], Some(ics)).await
}

/// `ItemResponse.ok`.
fn put_ok(r: &Reply) -> bool {
    matches!(r.status.as_u16(), 200 | 201 | 204)
}

#[tokio::test]
async fn thunderbird_calendar_detection_through_well_known() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // The location typed is http://host/: attemptLocation skips "/", no DNS here, then
    // `wellKnown`: detectCollection on /.well-known/caldav.
    let detect = [
        "D:resourcetype",
        "D:owner",
        "D:displayname",
        "D:current-user-principal",
        "D:current-user-privilege-set",
        "A:calendar-color",
        "C:calendar-home-set",
    ];
    let r = cal_propfind(&a, "/.well-known/caldav", "0", &detect).await;
    r.assert_status(207);
    let doc = r.xml();
    let first = &doc.responses()[0];
    assert!(!names(first.ok(DAV, "resourcetype")).contains(&"C:calendar".to_owned()));
    // The home set is found right here (or else current-user-principal / owner).
    let home = first.href_prop(CALDAV, "calendar-home-set");
    assert_eq!(home, CAL_HOME);

    // handleHomeSet: Depth 1, keep every response whose resourcetype has C:calendar.
    let r = cal_propfind(
        &a,
        &home,
        "1",
        &["D:resourcetype", "D:displayname", "D:current-user-privilege-set", "A:calendar-color"],
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let mut found = Vec::new();
    for resp in doc.responses() {
        // `resprops["D:resourcetype"].has(...)`: every response needs a resourcetype.
        let rt = names(resp.ok(DAV, "resourcetype"));
        if !rt.contains(&"C:calendar".to_owned()) {
            continue;
        }
        assert!(!tb_calendar_read_only(&resp), "{} would be read-only", resp.href());
        let name = resp.prop(DAV, "displayname").map(|p| p.0.text()).unwrap_or_default();
        found.push((resp.href(), name));
    }
    found.sort();
    assert_eq!(found, [(CAL.to_owned(), "Calendar".to_owned()), (TASKS.to_owned(), "Tasks".to_owned())]);

    // The read-only rule on something alice may only read.
    let r =
        cal_propfind(&a, "/dav/principals/", "0", &["D:resourcetype", "D:current-user-privilege-set"]).await;
    let doc = r.xml();
    assert!(tb_calendar_read_only(&doc.responses()[0]));
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_calendar_startup_checks_resource_type_and_server_caps() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for cal in [CAL, TASKS] {
        // checkDavResourceType: any 4xx here disables the calendar.
        let r = cal_propfind(
            &a,
            cal,
            "0",
            &[
                "D:resourcetype",
                "D:owner",
                "D:current-user-principal",
                "D:current-user-privilege-set",
                "D:supported-report-set",
                "C:supported-calendar-component-set",
                "CS:getctag",
            ],
        )
        .await;
        r.assert_status(207);
        let doc = r.xml();
        let resp = &doc.responses()[0];
        assert!(names(resp.ok(DAV, "resourcetype")).contains(&"C:calendar".to_owned()));
        let reports: Vec<String> = resp
            .ok(DAV, "supported-report-set")
            .elements()
            .filter_map(|sr| sr.child(DAV, "report"))
            .flat_map(names)
            .collect();
        assert!(reports.contains(&"D:sync-collection".to_owned()), "webdav-sync mode: {reports:?}");
        let comps: Vec<String> = resp
            .ok(CALDAV, "supported-calendar-component-set")
            .elements()
            .filter_map(|c| c.attr("name").map(str::to_owned))
            .collect();
        let expected = if cal == CAL { "VEVENT" } else { "VTODO" };
        assert_eq!(comps, [expected], "mSupportedItemTypes of {cal}");
        assert_eq!(resp.href_prop(DAV, "current-user-principal"), PRINCIPAL);
        assert!(!tb_calendar_read_only(resp));
        resp.ok(CS, "getctag");

        // checkServerCaps: OPTIONS on the home set (the parent of the calendar URL).
        let r = a.send("OPTIONS", CAL_HOME, &[], None).await;
        r.assert_status(200);
        let dav = r.header("dav").expect("DAV header");
        let mut features: Vec<&str> = dav.split(", ").collect();
        assert_eq!(features.remove(0), "1", "the first token is the version");
        assert!(features.contains(&"calendar-access"), "{dav}");
    }
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_calendar_webdav_sync_add_modify_delete() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let other = Agent::new(&server, UA);

    // Another client's event exists before the first refresh.
    let theirs = event("-//other//EN", "theirs", "Theirs", "20260601T100000Z", "20260601T110000Z");
    put_item(&other, &format!("{CAL}theirs.ics"), None, &theirs).await.assert_status(201);

    // First refresh: `<sync-token/>`, then a multiget for everything reported.
    let first = webdav_sync(&a, CAL, None).await.expect("webdav sync");
    assert_eq!(first.unhandled_errors, 0);
    assert_eq!(first.fetch.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), [format!("{CAL}theirs.ics")]);
    let token = first.new_token.expect("sync-token");
    let got = multiget_all(&a, CAL, first.fetch.iter().map(|f| f.0.clone()).collect()).await;
    assert_eq!(got[0].1[0].1, first.fetch[0].1, "multiget ETag = sync ETag");

    // New item: PUT <UID>.ics with If-None-Match: *; the PUT's ETag is not used, a one-href
    // multiget on the calendar URL reads the ETag and the server's copy.
    let uid = "7c0e1ff2-0e64-4a8a-9b8e-3a0d0d1f2b33";
    let url = format!("{CAL}{uid}.ics");
    let mine = event(PRODID, uid, "Lunch", "20260602T120000Z", "20260602T130000Z");
    let r = put_item(&a, &url, None, &mine).await;
    assert!(put_ok(&r), "PUT: {}", r.status);
    let got = multiget_all(&a, CAL, vec![url.clone()]).await;
    let (_, etag, data) = got[0].1[0].clone();
    assert_eq!(data, mine);

    // Modify with the cached ETag, then re-read with a one-href multiget.
    let mine2 = event(PRODID, uid, "Lunch (long)", "20260602T120000Z", "20260602T143000Z");
    let r = put_item(&a, &url, Some(&etag), &mine2).await;
    assert!(put_ok(&r), "modify: {}", r.status);
    let got = multiget_all(&a, CAL, vec![url.clone()]).await;
    let etag2 = got[0].1[0].1.clone();
    assert_ne!(etag2, etag);

    // Stale ETag: 409/412 is a conflict ("overwrite?" prompt), never a silent overwrite.
    let r = put_item(&a, &url, Some(&etag), &mine).await;
    assert_eq!(r.status.as_u16(), 412, "{}", r.body);

    // Delete with a stale ETag: 412, then HEAD; still there ⇒ prompt. With the right one: gone.
    let r = a.send("DELETE", &url, &[("If-Match", &etag)], None).await;
    assert!(matches!(r.status.as_u16(), 409 | 412), "{}", r.status);
    a.send("HEAD", &url, &[], None).await.assert_status(200);
    let r = a.send("DELETE", &url, &[("If-Match", &etag2)], None).await;
    assert!(matches!(r.status.as_u16(), 200 | 204), "{}", r.status);

    // The other client deleted their event meanwhile; deleting it here gives 412 or 404, and
    // HEAD says 404 ⇒ treated as deleted.
    other.send("DELETE", &format!("{CAL}theirs.ics"), &[], None).await.assert_status(204);
    let r = a.send("DELETE", &format!("{CAL}theirs.ics"), &[("If-Match", &first.fetch[0].1)], None).await;
    assert!(matches!(r.status.as_u16(), 404 | 409 | 412), "{}", r.status);
    a.send("HEAD", &format!("{CAL}theirs.ics"), &[], None).await.assert_status(404);

    // Next refresh with the stored token: both removals arrive as " 404".
    let next = webdav_sync(&a, CAL, Some(&token)).await.expect("incremental webdav sync");
    assert_eq!(next.unhandled_errors, 0);
    let mut deleted = next.deleted.clone();
    deleted.sort();
    let mut expected = vec![format!("{CAL}theirs.ics"), url.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(next.fetch.is_empty(), "{next:?}");
    assert!(next.new_token.is_some_and(|t| t != token));
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_calendar_multiget_batches_of_one_hundred() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for i in 0..150 {
        let uid = format!("tb-{i:03}");
        let ics = event("-//other//EN", &uid, &format!("E{i}"), "20260701T100000Z", "20260701T110000Z");
        put_item(&a, &format!("{CAL}{uid}.ics"), None, &ics).await.assert_status(201);
    }
    let sync = webdav_sync(&a, CAL, None).await.unwrap();
    assert_eq!(sync.fetch.len(), 150);
    let batches = multiget_all(&a, CAL, sync.fetch.iter().map(|f| f.0.clone()).collect()).await;
    assert_eq!(batches.iter().map(|b| b.0).collect::<Vec<_>>(), [100, 50]);
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_calendar_ctag_refresh_without_webdav_sync() {
    // The ctag path (`safeRefresh` + `getUpdatedItems` without webdav sync), kept for servers
    // without sync-collection: each member needs getetag and a text/calendar getcontenttype.
    let server = start().await;
    let a = Agent::new(&server, UA);
    let r = cal_propfind(&a, CAL, "0", &["CS:getctag"]).await;
    let doc = r.xml();
    let ctag = doc.responses()[0].ok(CS, "getctag").text();
    put_item(
        &a,
        &format!("{CAL}x.ics"),
        None,
        &event(PRODID, "x", "X", "20260801T100000Z", "20260801T110000Z"),
    )
    .await
    .assert_status(201);
    let r = cal_propfind(&a, CAL, "0", &["CS:getctag"]).await;
    let doc = r.xml();
    assert_ne!(doc.responses()[0].ok(CS, "getctag").text(), ctag, "ctag mismatch ⇒ fetch");

    let body = format!(
        "{XML_HEADER}<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getcontenttype/><D:resourcetype/><D:getetag/></D:prop></D:propfind>"
    );
    let r = a.send("PROPFIND", CAL, &[("Depth", "1"), ("Content-Type", TEXT_XML_UTF8)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let mut items = Vec::new();
    for resp in doc.responses() {
        if resp.ok(DAV, "resourcetype").child(DAV, "collection").is_some() {
            continue;
        }
        let ct = resp.ok(DAV, "getcontenttype").text();
        assert!(ct.starts_with("text/calendar"), "{ct}: the item would be ignored");
        assert!(!resp.ok(DAV, "getetag").text().is_empty());
        items.push(resp.href());
    }
    assert_eq!(items, [format!("{CAL}x.ics")]);
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_calendar_invalid_token_resets_the_sync() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let (status, body) = webdav_sync(&a, CAL, Some("urn:x-davit:sync:1:424242")).await.expect_err("refused");
    // A 4xx with a stored token ⇒ token dropped, full refresh. It must not look like the
    // rate-limit answer (403 with exactly `<D:error xmlns:D="DAV:"/>`), which stops syncing.
    assert!((400..500).contains(&status), "{status}");
    assert_ne!(body.trim(), "<D:error xmlns:D=\"DAV:\"/>");
    assert_ne!(status, 429);
    webdav_sync(&a, CAL, None).await.expect("refresh from an empty token");
    server.stop().await;
}

// --- address book ---------------------------------------------------------------------------

/// `CardDAVUtils.makeRequest` for PROPFIND/REPORT, following redirects like necko.
async fn card_request(a: &Agent, method: &str, path: &str, depth: &str, body: &str) -> Reply {
    let mut path = path.to_owned();
    for _ in 0..5 {
        let r = a.send(method, &path, &[("Depth", depth), ("Content-Type", TEXT_XML)], Some(body)).await;
        match r.status.as_u16() {
            301 | 302 | 307 | 308 => path = r.header("location").expect("Location").to_owned(),
            _ => return r,
        }
    }
    panic!("redirect loop");
}

/// `CardDAVDirectory._readResponse`: (href, notFound, the 200 `<prop>` if any).
fn read_response(doc: &Doc) -> Vec<(String, bool, Option<davit::dav::xml::Element>)> {
    assert!(doc.root.is(DAV, "multistatus"), "Expected a multistatus response");
    let mut out = Vec::new();
    for r in doc.responses() {
        let href = first_named(r.el, "href").map(|h| h.text()).unwrap_or_default();
        if r.status().is_some_and(|s| s.starts_with("HTTP/1.1 404")) {
            out.push((href, true, None));
            continue;
        }
        let mut props = None;
        for ps in r.el.elements().filter(|e| e.is(DAV, "propstat")) {
            if ps.child(DAV, "status").map(|s| s.text()).as_deref() == Some("HTTP/1.1 200 OK") {
                props = ps.child(DAV, "prop").cloned();
            }
        }
        out.push((href, false, props));
    }
    out
}

fn card_multiget_body(hrefs: &[String]) -> String {
    let hrefs: Vec<String> = hrefs.iter().map(|h| format!("      <d:href>{h}</d:href>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n    <card:addressbook-multiget xmlns:card=\"{CARDDAV}\" \
         xmlns:cs=\"{CS}\" xmlns:d=\"DAV:\">\n      <d:prop>\n        <d:getetag/>\n        <card:address-data/>\n      \
         </d:prop>\n      {}\n    </card:addressbook-multiget>",
        hrefs.join("\n")
    )
}

/// `_multigetRequest`: `REPORT Depth: 1` on the book; returns (href, etag, vCard) of each.
async fn card_multiget(a: &Agent, hrefs: &[String]) -> Vec<(String, String, String)> {
    let r = card_request(a, "REPORT", BOOK, "1", &card_multiget_body(hrefs)).await;
    r.assert_status(207);
    let doc = r.xml();
    read_response(&doc)
        .into_iter()
        .filter_map(|(href, _, props)| {
            let p = props?;
            let etag = first_named(&p, "getetag").map(|e| e.text()).unwrap_or_default();
            let card = first_named(&p, "address-data").map(|e| e.text()).unwrap_or_default();
            Some((href, etag, card))
        })
        .collect()
}

#[tokio::test]
async fn thunderbird_address_book_detection_needs_an_exact_first_status() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // Location http://host/: the given URL is "/" so it goes to /.well-known/carddav first.
    let r = card_request(
        &a,
        "PROPFIND",
        "/.well-known/carddav",
        "0",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n      <propfind xmlns=\"DAV:\">\n        <prop>\n          \
         <current-user-principal/>\n        </prop>\n      </propfind>",
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    // `dom.querySelector("current-user-principal href")`
    let principal = first_named(&doc.root, "current-user-principal")
        .and_then(|c| first_named(c, "href"))
        .map(|h| h.text())
        .expect("current-user-principal href");
    assert_eq!(principal, PRINCIPAL);

    let r = card_request(
        &a,
        "PROPFIND",
        &principal,
        "0",
        &format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n      <propfind xmlns=\"DAV:\" xmlns:card=\"{CARDDAV}\">\n        \
             <prop>\n          <card:addressbook-home-set/>\n        </prop>\n      </propfind>"
        ),
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let home =
        first_named(&doc.root, "addressbook-home-set").and_then(|s| first_named(s, "href")).unwrap().text();
    assert_eq!(home, BOOK_HOME);

    let r = card_request(
        &a,
        "PROPFIND",
        &home,
        "1",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n      <propfind xmlns=\"DAV:\">\n        <prop>\n          \
         <resourcetype/>\n          <displayname/>\n          <current-user-privilege-set/>\n        </prop>\n      \
         </propfind>",
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let mut books = Vec::new();
    for resp in doc.responses() {
        // `r.querySelector("status")?.textContent != "HTTP/1.1 200 OK"` ⇒ skipped.
        let first_status = first_named(resp.el, "status").map(|s| s.text());
        assert_eq!(first_status.as_deref(), Some("HTTP/1.1 200 OK"), "{} would be skipped", resp.href());
        let rt = resp.ok(DAV, "resourcetype");
        if rt.child(CARDDAV, "addressbook").is_none() {
            continue;
        }
        let privs = resp.ok(DAV, "current-user-privilege-set");
        let writable =
            ["write", "write-properties", "write-content", "all"].iter().any(|p| has_privilege(privs, p));
        let readable = ["read", "all"].iter().any(|p| has_privilege(privs, p));
        assert!(writable && readable, "{} must be a writable book", resp.href());
        books.push((resp.href(), resp.ok(DAV, "displayname").text()));
    }
    assert_eq!(books, [(BOOK.to_owned(), "Contacts".to_owned())]);
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_address_book_fetch_put_delete_and_sync() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let other = Agent::new(&server, UA);
    let theirs = vcard4("-//other//EN", "theirs", "Grace Hopper");
    other
        .send("PUT", &format!("{BOOK}theirs.vcf"), &[("Content-Type", "text/vcard")], Some(&theirs))
        .await
        .assert_status(201);

    // fetchAllFromServer: PROPFIND Depth 1 {resourcetype, getetag, cs:getctag}.
    let propfind = format!(
        "<propfind xmlns=\"DAV:\" xmlns:card=\"{CARDDAV}\" xmlns:cs=\"{CS}\" xmlns:d=\"DAV:\">\n      <prop>\n        \
         <resourcetype/>\n        <getetag/>\n        <cs:getctag/>\n      </prop>\n    </propfind>"
    );
    let r = card_request(&a, "PROPFIND", BOOK, "1", &propfind).await;
    r.assert_status(207);
    let doc = r.xml();
    let mut to_fetch = Vec::new();
    for (href, _, props) in read_response(&doc) {
        let props = props.expect("a 200 propstat");
        // updateAllFromServerV1 skips members without resourcetype.
        let rt = first_named(&props, "resourcetype").expect("resourcetype on every member");
        if first_named(rt, "collection").is_some() {
            continue;
        }
        assert!(first_named(&props, "getetag").is_some_and(|e| !e.text().is_empty()));
        to_fetch.push(href);
    }
    assert_eq!(to_fetch, [format!("{BOOK}theirs.vcf")]);
    let got = card_multiget(&a, &to_fetch).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, theirs);

    // _getSyncToken: PROPFIND Depth 0 {displayname, cs:getctag, sync-token}.
    let body = format!(
        "<propfind xmlns=\"DAV:\" xmlns:card=\"{CARDDAV}\" xmlns:cs=\"{CS}\" xmlns:d=\"DAV:\">\n      <prop>\n         \
         <displayname/>\n         <cs:getctag/>\n         <sync-token/>\n      </prop>\n    </propfind>"
    );
    let r = card_request(&a, "PROPFIND", BOOK, "0", &body).await;
    r.assert_status(207);
    let doc = r.xml();
    let token = read_response(&doc)
        .into_iter()
        .find_map(|(_, _, p)| p.and_then(|p| first_named(&p, "sync-token").map(|t| t.text())))
        .expect("sync-token");

    // New card: PUT <UID>.vcf, Content-Type text/vcard, no If-Match, no If-None-Match.
    let uid = "9a3c2d1e-6f5b-4c3a-8e7d-1f2a3b4c5d6e";
    let url = format!("{BOOK}{uid}.vcf");
    let card = vcard4(PRODID, uid, "Ada Lovelace");
    let r = a.send("PUT", &url, &[("Content-Type", "text/vcard")], Some(&card)).await;
    assert!(r.status.as_u16() < 400, "{}", r.status);
    // …then a one-href multiget to read back ETag and the server's copy.
    let got = card_multiget(&a, std::slice::from_ref(&url)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, url);
    assert_strong_etag(&got[0].1);
    assert_eq!(got[0].2, card);

    // Modify: again no precondition (last writer wins).
    let card2 = vcard4(PRODID, uid, "Ada King");
    let r = a.send("PUT", &url, &[("Content-Type", "text/vcard")], Some(&card2)).await;
    assert!(r.status.as_u16() < 400, "{}", r.status);

    // Delete without If-Match.
    let r = a.send("DELETE", &format!("{BOOK}theirs.vcf"), &[], None).await;
    assert!(r.status.as_u16() < 400, "{}", r.status);

    // updateAllFromServerV2: REPORT Depth 1 sync-collection with address-data inline.
    let body = format!(
        "<sync-collection xmlns=\"DAV:\" xmlns:card=\"{CARDDAV}\" xmlns:cs=\"{CS}\" xmlns:d=\"DAV:\">\n      \
         <sync-token>{token}</sync-token>\n      <sync-level>1</sync-level>\n      <prop>\n        <getetag/>\n        \
         <card:address-data/>\n      </prop>\n    </sync-collection>"
    );
    let r = card_request(&a, "REPORT", BOOK, "1", &body).await;
    assert_eq!(r.status.as_u16(), 207, "only 207 (or 400 for a full refetch) is accepted: {}", r.body);
    let doc = r.xml();
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for (href, not_found, props) in read_response(&doc) {
        if not_found {
            removed.push(href);
            continue;
        }
        let props = props.expect("200 propstat");
        assert!(first_named(&props, "getetag").is_some_and(|e| !e.text().is_empty()));
        let data = first_named(&props, "address-data").map(|d| d.text()).unwrap_or_default();
        assert!(!data.is_empty(), "address-data inline, no extra multiget");
        changed.push((href, data));
    }
    assert_eq!(changed, [(url.clone(), card2)]);
    assert_eq!(removed, [format!("{BOOK}theirs.vcf")]);
    // `dom.querySelector("sync-token")`: the first one in the document is the new token.
    let new_token = first_named(&doc.root, "sync-token").map(|t| t.text()).unwrap();
    assert_ne!(new_token, token);
    for resp in doc.responses() {
        for line in status_lines(&resp) {
            assert!(line == "HTTP/1.1 200 OK" || line == "HTTP/1.1 404 Not Found", "status line {line:?}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_address_book_invalid_token_is_the_rfc_403() {
    // Thunderbird CardDAV refetches everything only on 400 and reports any other non-207 as a
    // sync error. davit keeps the RFC 6578 answer (403 + DAV:valid-sync-token) that DAVx5, OCS
    // and Evolution recover from; Thunderbird recovers on its next full refresh.
    let server = start().await;
    let a = Agent::new(&server, UA);
    let body = format!(
        "<sync-collection xmlns=\"DAV:\" xmlns:card=\"{CARDDAV}\" xmlns:cs=\"{CS}\" xmlns:d=\"DAV:\">\n      \
         <sync-token>urn:x-davit:sync:3:999999</sync-token>\n      <sync-level>1</sync-level>\n      <prop>\n        \
         <getetag/>\n        <card:address-data/>\n      </prop>\n    </sync-collection>"
    );
    let r = card_request(&a, "REPORT", BOOK, "1", &body).await;
    r.assert_status(403);
    let doc = r.xml();
    assert!(doc.root.child(DAV, "valid-sync-token").is_some(), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_read_only_credential_gives_read_only_calendars_and_books() {
    // A read-only app password is davit's read-only view until sharing exists.
    let server = start().await;
    let secret = super::read_only_app_password(&server);
    let a = super::Agent::with_password(&server, UA, &secret);
    let r = cal_propfind(
        &a,
        CAL_HOME,
        "1",
        &["D:resourcetype", "D:displayname", "D:current-user-privilege-set", "A:calendar-color"],
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let calendars: Vec<_> = doc
        .responses()
        .into_iter()
        .filter(|m| names(m.ok(DAV, "resourcetype")).contains(&"C:calendar".to_owned()))
        .collect();
    assert_eq!(calendars.len(), 2);
    for resp in &calendars {
        assert!(tb_calendar_read_only(resp), "{} should be read-only", resp.href());
    }
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n      <propfind xmlns=\"DAV:\">\n        <prop>\n          \
                <resourcetype/>\n          <displayname/>\n          <current-user-privilege-set/>\n        </prop>\n      \
                </propfind>";
    let r = card_request(&a, "PROPFIND", BOOK_HOME, "1", body).await;
    r.assert_status(207);
    let doc = r.xml();
    let book = doc.response(BOOK);
    assert_eq!(first_named(book.el, "status").map(|s| s.text()).as_deref(), Some("HTTP/1.1 200 OK"));
    let privs = book.ok(DAV, "current-user-privilege-set");
    let writable =
        ["write", "write-properties", "write-content", "all"].iter().any(|p| has_privilege(privs, p));
    let readable = ["read", "all"].iter().any(|p| has_privilege(privs, p));
    assert!(readable && !writable, "the book is listed, read-only");
    server.stop().await;
}

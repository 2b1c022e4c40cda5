//! Outlook CalDav Synchronizer (OCS), replayed request by request.
//!
//! Based on CLIENTS.md §4 and the sources it cites, re-read at
//! `aluxnimm/outlookcaldavsynchronizer@554ecb9f`:
//! - CalDavSynchronizer/Ui/ConnectionTests/ConnectionTester.cs ("Test or discover settings":
//!   a URL ending in `/` that is not the root is tested as a collection, otherwise discovery
//!   starts at `/.well-known/caldav`),
//! - CalDavSynchronizer/DataAccess/CalDavDataAccess.cs (`GetUserResources`: a calendar is
//!   listed only with a `displayname` element and a `supported-calendar-component-set` whose XML
//!   contains VEVENT, a task list when it contains VTODO; `GetVersions` calendar-query with a
//!   `yyyyMMddTHHmmssZ` time-range, `Depth: 1`; `GetEntities` calendar-multiget `Depth: 1`;
//!   `CreateNewEntity` PUT `<name>.ics` with `If-None-Match: *`, ETag from the response or an
//!   extra GET; `TryUpdateEntity` with `If-Match`; 404/412 ⇒ conflict),
//! - CalDavSynchronizer/Contracts/Options.cs (`IsChunkedSynchronizationEnabled`, `ChunkSize` =
//!   100: multigets in chunks, or all changed items at once),
//! - CalDavSynchronizer/DataAccess/WebDavDataAccess.cs (principal and owner hrefs glued to
//!   `scheme://host` by concatenation, `GetPrivileges`, `CollectionSync` needing a top-level
//!   `/D:multistatus/D:sync-token` and failing on any member status but 404, `TryDeleteEntity`
//!   and `X-Dav-Error`),
//! - CalDavSynchronizer/DataAccess/CardDavDataAccess.cs (PROPFIND Depth 1 listing, multiget
//!   `Depth: 0`),
//! - CalDavSynchronizer/DataAccess/HttpClientBasedClient/WebDavClient.cs (`User-Agent`
//!   `CalDavSynchronizer/<major>.<minor>`, `StringContent` ⇒ `; charset=utf-8`, follows
//!   301/302/303/307 re-sending method and body, not 308),
//! - CalDavSynchronizer/Implementation/CalDavRepository.cs (file name = UID when ≤ 255 chars),
//!   Implementation/Events/EventEntityMapper.cs (`UseGlobalAppointmentID` ⇒ UID = Outlook's
//!   GlobalAppointmentID, 112 hex characters), Implementation/Events/InitialEventEntityMatcher.cs
//!   (a repeated initial sync pairs items by SUMMARY + DTSTART/DTEND, so the server must give
//!   them back unchanged or Outlook gets duplicates).

use super::{
    Agent, BOOK, CAL, CALDAV, CARDDAV, PRINCIPAL, TASKS, assert_strong_etag, code_of, has_privilege, select,
    start, todo, top_sync_token, utc_days_from_now, vcard3,
};
use crate::harness::roxml::{DAV, Doc};
use crate::harness::{Reply, TestServer};

const UA: &str = "CalDavSynchronizer/4.4";
const XML: &str = "application/xml; charset=utf-8";
const CS_NS: &str = super::CS;
const E_NS: &str = super::ICAL;

/// Outlook's GlobalAppointmentID as OCS writes it into the UID with `UseGlobalAppointmentID`.
const GLOBAL_APPOINTMENT_ID: &str = concat!(
    "040000008200E00074C5B7101A82E008",
    "00000000",
    "B0A5C9F1D7A3DA01",
    "0000000000000000",
    "10000000",
    "3F2504E04F8941D39A0C0305E82C3301"
);

/// OCS's `WebDavClient`: follows 301/302/303/307 by re-sending the same request; not 308.
async fn ocs(a: &Agent, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut path = path.to_owned();
    for _ in 0..5 {
        let r = a.send(method, &path, headers, body).await;
        match r.status.as_u16() {
            301 | 302 | 303 | 307 => path = r.header("location").expect("Location").to_owned(),
            308 => panic!("OCS does not follow 308 ({method} {path})"),
            _ => return r,
        }
    }
    panic!("redirect loop");
}

async fn propfind(a: &Agent, path: &str, depth: &str, body: &str) -> Doc {
    let r = ocs(a, "PROPFIND", path, &[("Depth", depth), ("Content-Type", XML)], Some(body)).await;
    r.assert_status(207);
    r.xml()
}

fn propfind_xml(ns: &str, props: &str) -> String {
    format!(
        "<?xml version='1.0'?>\n                        <D:propfind xmlns:D=\"DAV:\"{ns}>\n                          \
         <D:prop>\n                            {props}\n                          </D:prop>\n                        \
         </D:propfind>\n                 "
    )
}

/// `GetCurrentUserPrincipalUrlOrNull`: `scheme://host` + the href text, so the href must be
/// an absolute path.
fn glued(href: &str) -> String {
    assert!(href.starts_with('/') && !href.starts_with("//"), "href {href:?} is not an absolute path");
    format!("http://host{href}")
}

/// `SelectSingleNode("/D:multistatus/D:response/D:propstat/D:prop/…")`: the first match in any
/// response and any propstat.
fn first_prop<'a>(doc: &'a Doc, ns: &str, name: &str) -> Option<&'a davit::dav::xml::Element> {
    doc.root
        .elements()
        .filter(|r| r.is(DAV, "response"))
        .find_map(|r| select(r, &[(DAV, "propstat"), (DAV, "prop"), (ns, name)]))
}

/// `GetPrivileges`: `DAV:write` ⇒ all; else write-content ⇒ modify, bind ⇒ create, unbind ⇒ delete.
async fn privileges(a: &Agent, url: &str) -> (bool, bool, bool) {
    let doc = propfind(a, url, "0", &propfind_xml("", "<D:current-user-privilege-set/>")).await;
    let set = first_prop(&doc, DAV, "current-user-privilege-set").expect("current-user-privilege-set");
    if has_privilege(set, "write") {
        return (true, true, true);
    }
    (has_privilege(set, "write-content"), has_privilege(set, "bind"), has_privilege(set, "unbind"))
}

/// `GetCalendarOwnerPropertiesOrNull`: owner (or CS:organizer), current-user-principal, then the
/// owner's `calendar-user-address-set` for the organizer e-mail.
async fn owner_email(a: &Agent, url: &str) -> Option<String> {
    let body = propfind_xml(
        &format!(" xmlns:CS=\"{CS_NS}\""),
        "<D:owner/>\n                            <CS:organizer/>",
    );
    let doc = propfind(a, url, "0", &body).await;
    let owner = first_prop(&doc, DAV, "owner").and_then(|o| o.child(DAV, "href")).map(|h| h.text())?;
    let owner_url = glued(&owner);
    let doc = propfind(
        a,
        url,
        "0",
        &propfind_xml("", "<D:current-user-principal/>\n<D:principal-URL/>\n<D:resourcetype/>"),
    )
    .await;
    let cup =
        first_prop(&doc, DAV, "current-user-principal").and_then(|c| c.child(DAV, "href")).map(|h| h.text());
    assert_eq!(cup.as_deref().map(glued), Some(owner_url.clone()), "own calendar, not shared");
    let path = owner_url.strip_prefix("http://host").unwrap();
    let doc = propfind(
        a,
        path,
        "0",
        &propfind_xml(&format!(" xmlns:C=\"{CALDAV}\""), "<C:calendar-user-address-set/>"),
    )
    .await;
    let set = first_prop(&doc, CALDAV, "calendar-user-address-set")?;
    set.elements().map(|h| h.text()).find_map(|a| a.strip_prefix("mailto:").map(str::to_owned))
}

#[tokio::test]
async fn ocs_discover_settings_from_the_server_root_lists_calendars_and_task_lists() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // URL http://host/ ⇒ RequiresAutoDiscovery ⇒ /.well-known/caldav (301 followed, not 308).
    let r = a
        .send(
            "PROPFIND",
            "/.well-known/caldav",
            &[("Depth", "0"), ("Content-Type", XML)],
            Some(&propfind_xml("", "<D:current-user-principal/>\n<D:principal-URL/>\n<D:resourcetype/>")),
        )
        .await;
    assert!(matches!(r.status.as_u16(), 301 | 302 | 303 | 307 | 207), "well-known answered {}", r.status);
    let doc = propfind(
        &a,
        "/.well-known/caldav",
        "0",
        &propfind_xml("", "<D:current-user-principal/>\n<D:principal-URL/>\n<D:resourcetype/>"),
    )
    .await;
    let principal = first_prop(&doc, DAV, "current-user-principal")
        .or_else(|| first_prop(&doc, DAV, "principal-URL"))
        .and_then(|p| p.child(DAV, "href"))
        .map(|h| h.text())
        .expect("principal");
    assert_eq!(glued(&principal), format!("http://host{PRINCIPAL}"));

    // GetCalendarHomeSet on the principal.
    let doc = propfind(
        &a,
        &principal,
        "0",
        &propfind_xml(&format!(" xmlns:C=\"{CALDAV}\""), "<C:calendar-home-set/>"),
    )
    .await;
    let home =
        first_prop(&doc, CALDAV, "calendar-home-set").and_then(|h| h.child(DAV, "href")).unwrap().text();
    let home_path = home.strip_prefix("http://host").unwrap_or(&home).to_owned();

    // ListCalendars: Depth 1 {resourcetype, displayname, E:calendar-color, C:supported-calendar-component-set}.
    let body = propfind_xml(
        &format!(" xmlns:C=\"{CALDAV}\" xmlns:E=\"{E_NS}\""),
        "<D:resourcetype />\n<D:displayname />\n<E:calendar-color />\n<C:supported-calendar-component-set />",
    );
    let doc = propfind(&a, &home_path, "1", &body).await;
    let mut calendars = Vec::new();
    let mut task_lists = Vec::new();
    for resp in doc.root.elements().filter(|r| r.is(DAV, "response")) {
        let href = resp.child(DAV, "href").map(|h| h.text());
        let display = select(resp, &[(DAV, "propstat"), (DAV, "prop"), (DAV, "displayname")]);
        let (Some(href), Some(display)) = (href, display) else { continue };
        if select(resp, &[(DAV, "propstat"), (DAV, "prop"), (DAV, "resourcetype"), (CALDAV, "calendar")])
            .is_none()
        {
            continue;
        }
        let Some(comps) =
            select(resp, &[(DAV, "propstat"), (DAV, "prop"), (CALDAV, "supported-calendar-component-set")])
        else {
            continue;
        };
        let inner = comps.elements().map(|c| c.to_xml()).collect::<String>();
        let path = if href.ends_with('/') { href.clone() } else { format!("{href}/") };
        if inner.contains("VEVENT") {
            calendars.push((path.clone(), display.text()));
        }
        if inner.contains("VTODO") {
            task_lists.push((path, display.text()));
        }
    }
    assert_eq!(calendars, [(CAL.to_owned(), "Calendar".to_owned())], "the calendar is visible in OCS");
    assert_eq!(task_lists, [(TASKS.to_owned(), "Tasks".to_owned())], "the task list is visible in OCS");

    // Per resource: privileges and the owner's e-mail (organizer).
    for path in [CAL, TASKS] {
        assert_eq!(privileges(&a, path).await, (true, true, true), "{path}");
        assert_eq!(owner_email(&a, path).await.as_deref(), Some("alice@example.org"));
    }

    // IsCalendarProxySupported: OPTIONS on the principal (no calendar-proxy ⇒ skipped).
    let r = ocs(&a, "OPTIONS", &principal, &[], None).await;
    r.assert_status(200);
    assert!(r.header("dav").is_some());
    server.stop().await;
}

#[tokio::test]
async fn ocs_test_settings_on_a_calendar_url() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // IsResourceCalender / IsResourceAddressBook.
    let doc = propfind(&a, CAL, "0", &propfind_xml("", "<D:resourcetype/>")).await;
    let rt = first_prop(&doc, DAV, "resourcetype").unwrap();
    assert!(rt.child(CALDAV, "calendar").is_some());
    assert!(rt.child(CARDDAV, "addressbook").is_none());
    // IsCalendarAccessSupported: OPTIONS; the DAV header lists calendar-access.
    let r = ocs(&a, "OPTIONS", CAL, &[], None).await;
    r.assert_status(200);
    let dav = r.header("dav").unwrap();
    assert!(dav.split(',').map(str::trim).any(|o| o.eq_ignore_ascii_case("calendar-access")), "{dav}");
    // DoesSupportCalendarQuery and DoesSupportWebDavCollectionSync.
    let doc = propfind(&a, CAL, "0", &propfind_xml("", "<D:supported-report-set/>")).await;
    let reports = first_prop(&doc, DAV, "supported-report-set").unwrap();
    let has = |ns: &str, name: &str| {
        reports
            .elements()
            .filter(|s| s.is(DAV, "supported-report"))
            .any(|s| select(s, &[(DAV, "report"), (ns, name)]).is_some())
    };
    assert!(has(CALDAV, "calendar-query"));
    assert!(has(DAV, "sync-collection"));
    assert_eq!(privileges(&a, CAL).await, (true, true, true));
    assert_eq!(owner_email(&a, CAL).await.as_deref(), Some("alice@example.org"));
    server.stop().await;
}

/// `GetVersions(range, entityType)`: calendar-query with a time-range, Depth 1.
async fn get_versions(a: &Agent, url: &str, entity: &str) -> Vec<(String, String)> {
    let range =
        format!("<C:time-range start=\"{}\" end=\"{}\"/>", utc_days_from_now(-3650), utc_days_from_now(3650));
    let body = format!(
        "<?xml version=\"1.0\"?>\n                    <C:calendar-query xmlns:C=\"{CALDAV}\">\n                        \
         <D:prop xmlns:D=\"DAV:\">\n                            <D:getetag/>\n                        </D:prop>\n                        \
         <C:filter>\n                            <C:comp-filter name=\"VCALENDAR\">\n                                \
         <C:comp-filter name=\"{entity}\">\n                                  {range}\n                                \
         </C:comp-filter>\n                            </C:comp-filter>\n                        </C:filter>\n                    \
         </C:calendar-query>\n                    "
    );
    let r = ocs(a, "REPORT", url, &[("Depth", "1"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    extract_versions(&r.xml(), url)
}

/// `ExtractVersions`: (href, quoted etag) of each response that is not the collection itself.
fn extract_versions(doc: &Doc, url: &str) -> Vec<(String, String)> {
    doc.root
        .elements()
        .filter(|r| r.is(DAV, "response"))
        .filter_map(|r| {
            let href = r.child(DAV, "href")?.text();
            let etag = select(r, &[(DAV, "propstat"), (DAV, "prop"), (DAV, "getetag")])?.text();
            (href != url).then_some((href, etag))
        })
        .collect()
}

/// `GetEntities`: calendar-multiget `Depth: 1` {getetag, displayname, C:calendar-data}.
async fn get_entities(a: &Agent, url: &str, hrefs: &[String]) -> Vec<(String, String)> {
    let hrefs: Vec<String> = hrefs.iter().map(|h| format!("<D:href>{}</D:href>", escape(h))).collect();
    let body = format!(
        "<?xml version=\"1.0\"?>\n\t\t\t                    <C:calendar-multiget xmlns:C=\"{CALDAV}\" xmlns:D=\"DAV:\">\n\t\t\t\
         \t                        <D:prop>\n\t\t\t                            <D:getetag/>\n\t\t\t                            \
         <D:displayname/>\n\t\t\t                            <C:calendar-data/>\n\t\t\t                        </D:prop>\n\
         {}\n                                    </C:calendar-multiget>",
        hrefs.join("\r\n")
    );
    let r = ocs(a, "REPORT", url, &[("Depth", "1"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    doc.root
        .elements()
        .filter(|r| r.is(DAV, "response"))
        .filter_map(|r| {
            let href = r.child(DAV, "href")?.text();
            let data = select(r, &[(DAV, "propstat"), (DAV, "prop"), (CALDAV, "calendar-data")])?.text();
            (!data.is_empty()).then_some((href, data))
        })
        .collect()
}

/// `SecurityElement.Escape`.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An appointment as OCS serialises it (DDay.iCal, Windows time zone with its VTIMEZONE).
fn appointment(uid: &str, summary: &str, start: &str, end: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//ddaysoftware.com//NONSGML DDay.iCal 1.0//EN\r\nVERSION:2.0\r\n\
         BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16011028T030000\r\n\
         RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
         BEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\n\
         TZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nCLASS:PUBLIC\r\n\
         CREATED:20260301T080000Z\r\nDTEND;TZID=W. Europe Standard Time:{end}\r\nDTSTAMP:20260301T080000Z\r\n\
         DTSTART;TZID=W. Europe Standard Time:{start}\r\nLAST-MODIFIED:20260301T080000Z\r\nLOCATION:Room 1\r\n\
         PRIORITY:5\r\nSEQUENCE:0\r\nSUMMARY:{summary}\r\nTRANSP:OPAQUE\r\nUID:{uid}\r\n\
         X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The properties InitialEventEntityMatcher pairs items by.
fn match_data(ics: &str) -> Vec<String> {
    ics.lines()
        .filter(|l| l.starts_with("SUMMARY") || l.starts_with("DTSTART;") || l.starts_with("DTEND;"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn ocs_event_sync_with_global_appointment_id_uids() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    assert_eq!(GLOBAL_APPOINTMENT_ID.len(), 112);
    assert!(GLOBAL_APPOINTMENT_ID.bytes().all(|b| b.is_ascii_hexdigit()));

    // First run: nothing on the server yet.
    assert!(get_versions(&a, CAL, "VEVENT").await.is_empty());

    // Create: PUT <UID>.ics, If-None-Match: *, text/calendar; the ETag should come with the
    // 201 so that OCS needs no extra GET / PROPFIND.
    let name = format!("{GLOBAL_APPOINTMENT_ID}.ics");
    let url = format!("{CAL}{name}");
    let ics = appointment(GLOBAL_APPOINTMENT_ID, "Budget review", "20260415T100000", "20260415T110000");
    let r = ocs(
        &a,
        "PUT",
        &url,
        &[("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")],
        Some(&ics),
    )
    .await;
    r.assert_status(201);
    let location = r.header("location").map(str::to_owned);
    let effective = location.unwrap_or_else(|| url.clone());
    assert_eq!(effective, url, "a Location header, if any, must name the same resource");
    let etag = r.header("etag").expect("ETag on the 201 (else OCS spends a GET per item)").to_owned();
    assert_strong_etag(&etag);

    // Next run: the version listing has it with the same ETag.
    let versions = get_versions(&a, CAL, "VEVENT").await;
    assert_eq!(versions, [(url.clone(), etag.clone())]);
    let entities = get_entities(&a, CAL, std::slice::from_ref(&url)).await;
    assert_eq!(entities.len(), 1);
    assert!(entities[0].1.contains(&format!("UID:{GLOBAL_APPOINTMENT_ID}")));

    // Update with If-Match: "<etag>".
    let ics2 = appointment(GLOBAL_APPOINTMENT_ID, "Budget review", "20260415T100000", "20260415T120000");
    let r = ocs(
        &a,
        "PUT",
        &url,
        &[("If-Match", &etag), ("Content-Type", "text/calendar; charset=utf-8")],
        Some(&ics2),
    )
    .await;
    r.assert_status(204);
    let etag2 = r.header("etag").expect("ETag on the update").to_owned();
    assert_strong_etag(&etag2);
    // A stale ETag is a conflict (412), resolved on the next run.
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-Match", &etag), ("Content-Type", "text/calendar; charset=utf-8")],
            Some(&ics),
        )
        .await;
    r.assert_status(412);

    // A second "initial sync" (OCS cache reset): the listing still has exactly one item, and
    // SUMMARY / DTSTART / DTEND come back as sent, so the matcher pairs it instead of creating
    // a duplicate; re-creating it with If-None-Match: * is refused instead of duplicated.
    let versions = get_versions(&a, CAL, "VEVENT").await;
    assert_eq!(versions, [(url.clone(), etag2.clone())]);
    let entities = get_entities(&a, CAL, std::slice::from_ref(&url)).await;
    assert_eq!(match_data(&entities[0].1), match_data(&ics2));
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")],
            Some(&ics2),
        )
        .await;
    r.assert_status(412);
    assert_eq!(get_versions(&a, CAL, "VEVENT").await.len(), 1);

    // Delete with If-Match; no X-Dav-Error other than "200 No error".
    let r = ocs(&a, "DELETE", &url, &[("If-Match", &etag2)], None).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert!(r.header("x-dav-error").is_none_or(|v| v == "200 No error"));
    // Deleting again: 404 ⇒ TryDeleteEntity returns false, no error.
    let r = a.send("DELETE", &url, &[("If-Match", &etag2)], None).await;
    assert!(matches!(r.status.as_u16(), 404 | 412), "{}", r.status);
    server.stop().await;
}

#[tokio::test]
async fn ocs_task_list_sync_uses_vtodo_queries() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let uid = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    let url = format!("{TASKS}{uid}.ics");
    let r = ocs(
        &a,
        "PUT",
        &url,
        &[("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")],
        Some(&todo("-//ddaysoftware.com//NONSGML DDay.iCal 1.0//EN", uid, "Write report")),
    )
    .await;
    r.assert_status(201);
    let etag = r.etag();
    // Tasks without a DUE are listed without a time range (OCS passes no range for them).
    let body = format!(
        "<?xml version=\"1.0\"?>\n<C:calendar-query xmlns:C=\"{CALDAV}\"><D:prop xmlns:D=\"DAV:\"><D:getetag/></D:prop>\
         <C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VTODO\">\n</C:comp-filter></C:comp-filter>\
         </C:filter></C:calendar-query>"
    );
    let r = ocs(&a, "REPORT", TASKS, &[("Depth", "1"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    assert_eq!(extract_versions(&r.xml(), TASKS), [(url.clone(), etag)]);
    let entities = get_entities(&a, TASKS, &[url]).await;
    assert!(entities[0].1.contains("BEGIN:VTODO"));
    server.stop().await;
}

/// `CollectionSync`: sync-collection `Depth: 0` {getetag}; (token, changed, deleted).
async fn collection_sync(
    a: &Agent,
    url: &str,
    token: Option<&str>,
) -> Result<(String, Vec<String>, Vec<String>), (u16, String)> {
    let token_xml = match token {
        Some(t) => format!("<D:sync-token>{t}</D:sync-token>"),
        None => "<D:sync-token/>".to_owned(),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n           <D:sync-collection xmlns:D=\"DAV:\">\n             \
         {token_xml}\n             <D:sync-level>1</D:sync-level>\n             <D:prop>\n               <D:getetag/>\n             \
         </D:prop>\n           </D:sync-collection>\n                 "
    );
    let r = ocs(a, "REPORT", url, &[("Depth", "0"), ("Content-Type", XML)], Some(&body)).await;
    if r.status.as_u16() != 207 {
        return Err((r.status.as_u16(), r.body));
    }
    let doc = r.xml();
    let token = top_sync_token(&doc).expect("Sync token missing");
    let (mut changed, mut deleted) = (Vec::new(), Vec::new());
    for resp in doc.root.elements().filter(|r| r.is(DAV, "response")) {
        let href = resp.child(DAV, "href").unwrap().text();
        if href == url {
            continue;
        }
        if select(resp, &[(DAV, "propstat"), (DAV, "prop"), (DAV, "getetag")]).is_some() {
            changed.push(href);
        } else if let Some(status) = resp.child(DAV, "status") {
            match code_of(&status.text()) {
                404 => deleted.push(href),
                other => panic!("Invalid status '{other}' in server response: OCS throws"),
            }
        }
    }
    Ok((token, changed, deleted))
}

#[tokio::test]
async fn ocs_webdav_collection_sync_option() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let (token, changed, deleted) = collection_sync(&a, CAL, None).await.unwrap();
    assert!(changed.is_empty() && deleted.is_empty());
    let url = format!("{CAL}{GLOBAL_APPOINTMENT_ID}.ics");
    let ics = appointment(GLOBAL_APPOINTMENT_ID, "Sync", "20260416T100000", "20260416T110000");
    let r = a
        .send(
            "PUT",
            &url,
            &[("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")],
            Some(&ics),
        )
        .await;
    r.assert_status(201);
    let (token2, changed, _) = collection_sync(&a, CAL, Some(&token)).await.unwrap();
    assert_eq!(changed, std::slice::from_ref(&url));
    a.send("DELETE", &url, &[("If-Match", &r.etag())], None).await.assert_status(204);
    let (_, changed, deleted) = collection_sync(&a, CAL, Some(&token2)).await.unwrap();
    assert!(changed.is_empty());
    assert_eq!(deleted, [url]);

    // 403 with /D:error/D:valid-sync-token ⇒ retry with an empty token.
    let (status, body) =
        collection_sync(&a, CAL, Some("urn:x-davit:sync:1:31337")).await.expect_err("refused");
    assert_eq!(status, 403);
    let doc = Doc::parse(&body);
    assert!(doc.root.is(DAV, "error") && doc.root.child(DAV, "valid-sync-token").is_some(), "{body}");
    collection_sync(&a, CAL, None).await.expect("retry");
    server.stop().await;
}

#[tokio::test]
async fn ocs_contacts_sync() {
    let server: TestServer = start().await;
    let a = Agent::new(&server, UA);
    let uid = "0b3f7c9e-2d4a-4c8b-9f1e-5a6b7c8d9e0f";
    let url = format!("{BOOK}{uid}.vcf");
    let r = ocs(
        &a,
        "PUT",
        &url,
        &[("If-None-Match", "*"), ("Content-Type", "text/vcard; charset=utf-8")],
        Some(&vcard3("-//CalDavSynchronizer//EN", uid, "Ada Lovelace")),
    )
    .await;
    r.assert_status(201);
    let etag = r.etag();
    // GetAllVersions: PROPFIND Depth 1 {getetag, getcontenttype}; the book itself is skipped.
    let doc = propfind(&a, BOOK, "1", &propfind_xml("", "<D:getetag/>\n<D:getcontenttype/>")).await;
    assert_eq!(extract_versions(&doc, BOOK), [(url.clone(), etag.clone())]);
    // GetEntities: addressbook-multiget Depth 0.
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n   <A:addressbook-multiget xmlns:D=\"DAV:\" xmlns:A=\"{CARDDAV}\">\n     \
         <D:prop>\n       <D:getetag/>\n       <D:getcontenttype/>\n       <A:address-data/>\n     </D:prop>\n     \
         <D:href>{url}</D:href>\n   </A:addressbook-multiget>\n "
    );
    let r = ocs(&a, "REPORT", BOOK, &[("Depth", "0"), ("Content-Type", XML)], Some(&body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&url);
    assert_eq!(resp.ok(DAV, "getetag").text(), etag);
    assert!(resp.ok(CARDDAV, "address-data").text().contains("FN:Ada Lovelace"));
    server.stop().await;
}

#[tokio::test]
async fn ocs_calendar_multiget_batches() {
    // Contracts/Options.cs: without "chunked synchronization" every changed item goes into one
    // calendar-multiget; with it, chunks of ChunkSize (default 100).
    let server = start().await;
    let a = Agent::new(&server, UA);
    let mut urls = Vec::new();
    for i in 0..120 {
        let uid = format!("{}{i:03}", &GLOBAL_APPOINTMENT_ID[..109]);
        let url = format!("{CAL}{uid}.ics");
        let ics = appointment(&uid, &format!("Meeting {i}"), "20260420T100000", "20260420T110000");
        let r = a
            .send(
                "PUT",
                &url,
                &[("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")],
                Some(&ics),
            )
            .await;
        r.assert_status(201);
        urls.push(url);
    }
    let versions = get_versions(&a, CAL, "VEVENT").await;
    assert_eq!(versions.len(), 120);
    let hrefs: Vec<String> = versions.into_iter().map(|v| v.0).collect();
    // One multiget with all of them.
    let all = get_entities(&a, CAL, &hrefs).await;
    assert_eq!(all.len(), 120);
    // Chunks of 100.
    let mut got = 0;
    for chunk in hrefs.chunks(100) {
        let entities = get_entities(&a, CAL, chunk).await;
        assert_eq!(entities.len(), chunk.len());
        got += entities.len();
    }
    assert_eq!(got, 120);
    let mut returned: Vec<String> = all.into_iter().map(|e| e.0).collect();
    returned.sort();
    urls.sort();
    assert_eq!(returned, urls, "every href comes back as requested");
    server.stop().await;
}

//! Principal search (RFC 3744 §9.3–9.5) through the protocol: the bodies Apple Calendar and
//! Evolution send for attendee lookup, share-dialog searches by name, e-mail and calendar
//! user type, rooms, organization boundaries, limits and malformed requests.
//!
//! Request bodies: Apple's are CalendarServer's recordings of OS X clients
//! (`apple/ccs-calendarserver` contrib/performance/loadtest/request-data/OS_X_10_7/
//! user_list_principal_property_search.request, iOS_5/startup_principals_report.request);
//! Evolution's is built by `e_webdav_session_principal_property_search_sync`
//! (evolution-data-server src/libedataserver/e-webdav-session.c), which the CalDAV backend
//! calls with the attendee's bare e-mail to find their principal for free/busy
//! (`ecb_caldav_get_free_busy_from_principal_sync`).

use crate::harness::roxml::{DAV, Doc};
use crate::harness::{Client, Reply, TestServer};
use davit::store::{NewUser, PrincipalKind, Role};

const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CS: &str = "http://calendarserver.org/ns/";
const PRINCIPALS: &str = "/dav/principals/";

/// Acme (the first organization, with its `admin`): alice (who searches), Bob Müller, the
/// meeting room "Salle Étoile" and the team "Ops"; Globex: mallory and the room "Boardroom".
/// Rooms and teams are made through the store, as the management API makes them.
async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let acme = server.store().organizations().unwrap()[0].id;
    add_person(&server, "bob", "Bob Müller", acme);
    add_group(&server, PrincipalKind::Room, "etoile", "Salle Étoile", None, acme);
    add_group(&server, PrincipalKind::Team, "ops", "Ops", Some("ops@example.org"), acme);
    let globex = server.store().create_organization("Globex").unwrap();
    add_person(&server, "mallory", "Mallory Bobson", globex);
    add_group(&server, PrincipalKind::Room, "boardroom", "Boardroom", None, globex);
    let c = server.client("alice");
    (server, c)
}

/// A user who never logs in (no password hashing: fast).
fn add_person(server: &TestServer, slug: &str, name: &str, org: i64) {
    server
        .store()
        .create_user(&NewUser {
            slug: slug.into(),
            display_name: name.into(),
            email: Some(format!("{slug}@example.org")),
            password_hash: "unused".into(),
            org_id: org,
            role: Role::Collaborator,
        })
        .unwrap();
}

fn add_group(
    server: &TestServer,
    kind: PrincipalKind,
    slug: &str,
    name: &str,
    email: Option<&str>,
    org: i64,
) {
    server.store().create_group_principal(org, kind, slug, name, email).unwrap();
}

async fn report(c: &Client, path: &str, depth: Option<&str>, body: &str) -> Reply {
    let mut rb = c.request("REPORT", path).header("Content-Type", "text/xml; charset=utf-8");
    if let Some(d) = depth {
        rb = rb.header("Depth", d);
    }
    c.send(rb.body(body.to_owned())).await
}

/// A search of one property (`D:`, `C:` or `CS:` prefixed), returning displayname and
/// calendar-user-type.
fn search(test: &str, criteria: &[(&str, &str)]) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:principal-property-search xmlns:D=\"DAV:\" \
         xmlns:C=\"{CALDAV}\" xmlns:CS=\"{CS}\" test=\"{test}\">"
    );
    for (prop, text) in criteria {
        body.push_str(&format!(
            "<D:property-search><D:prop><{prop}/></D:prop><D:match>{text}</D:match></D:property-search>"
        ));
    }
    body.push_str("<D:prop><D:displayname/><C:calendar-user-type/></D:prop></D:principal-property-search>");
    body
}

/// The hrefs of a 207 answer, sorted.
#[track_caller]
fn found(r: &Reply) -> Vec<String> {
    r.assert_status(207);
    let mut hrefs = r.xml().hrefs();
    hrefs.sort();
    hrefs
}

fn principal(slug: &str) -> String {
    format!("{PRINCIPALS}{slug}/")
}

/// OS X 10.7 attendee auto-complete: anyof over display name, e-mail, first and last name,
/// each a `starts-with` match, sent without a Depth header.
fn apple_body(prefix: &str) -> String {
    let search = |prop: &str| {
        format!(
            "<x0:property-search><x0:prop>{prop}</x0:prop><x0:match match-type=\"starts-with\">{prefix}\
             </x0:match></x0:property-search>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<x0:principal-property-search \
         xmlns:x2=\"urn:ietf:params:xml:ns:caldav\" xmlns:x0=\"DAV:\" \
         xmlns:x1=\"http://calendarserver.org/ns/\" test=\"anyof\">{}{}{}{}<x0:prop><x1:email-address-set/>\
         <x2:calendar-user-address-set/>\
         <x2:calendar-user-type/><x0:displayname/><x1:last-name/><x1:first-name/><x1:record-type/>\
         <x0:principal-URL/></x0:prop></x0:principal-property-search>",
        search("<x0:displayname/>"),
        search("<x1:email-address-set/>"),
        search("<x1:first-name/>"),
        search("<x1:last-name/>"),
    )
}

#[tokio::test]
async fn apple_attendee_autocomplete_finds_people_by_name_or_email_prefix() {
    let (server, c) = setup().await;
    let r = report(&c, PRINCIPALS, None, &apple_body("bo")).await;
    // Mallory Bobson is in another organization: never found.
    assert_eq!(found(&r), [principal("bob")]);
    let doc = r.xml();
    let bob = doc.response(&principal("bob"));
    assert_eq!(bob.ok(DAV, "displayname").text(), "Bob Müller");
    assert_eq!(bob.ok(CALDAV, "calendar-user-type").text(), "INDIVIDUAL");
    assert_eq!(bob.ok(CS, "email-address-set").text(), "bob@example.org");
    let addresses: Vec<String> =
        bob.ok(CALDAV, "calendar-user-address-set").elements().map(|h| h.text()).collect();
    assert_eq!(addresses, ["mailto:bob@example.org", "/dav/principals/bob/"]);
    assert_eq!(bob.href_prop(DAV, "principal-URL"), principal("bob"));
    // Properties davit does not have are 404 in the answer and match nobody in the search.
    assert_eq!(bob.status_of(CS, "first-name").as_deref(), Some("HTTP/1.1 404 Not Found"));
    // The e-mail prefix finds the team; first-name and last-name alone find nobody.
    assert_eq!(found(&report(&c, PRINCIPALS, None, &apple_body("OPS@")).await), [principal("ops")]);
    let names_only = search("anyof", &[("CS:first-name", "Bob"), ("CS:last-name", "Müller")]);
    assert!(found(&report(&c, PRINCIPALS, Some("0"), &names_only).await).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn search_property_set_lists_the_searchable_properties() {
    let (server, c) = setup().await;
    let body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A:principal-search-property-set xmlns:A=\"DAV:\"/>\n";
    for path in [PRINCIPALS, "/dav/", "/dav/principals/alice/"] {
        let r = report(&c, path, Some("0"), body).await;
        r.assert_status(200);
        assert!(r.header("content-type").unwrap().contains("xml"));
        let doc = Doc::parse(&r.body);
        assert!(doc.root.is(DAV, "principal-search-property-set"), "{}", r.body);
        let mut props = Vec::new();
        for p in doc.root.elements() {
            assert!(p.is(DAV, "principal-search-property"));
            let name = p.child(DAV, "prop").unwrap().elements().next().unwrap();
            props.push((name.ns.clone(), name.name.clone()));
            let description = p.child(DAV, "description").unwrap();
            assert!(!description.text().is_empty());
            // RFC 3744 §9.5: the description says its language.
            assert!(description.attrs.iter().any(|a| a.name == "lang" && a.value == "en"), "{}", r.body);
        }
        let expected = [
            (DAV, "displayname"),
            (CALDAV, "calendar-user-address-set"),
            (CS, "email-address-set"),
            (CALDAV, "calendar-user-type"),
        ];
        assert_eq!(props, expected.map(|(ns, n)| (ns.to_owned(), n.to_owned())));
    }
    server.stop().await;
}

#[tokio::test]
async fn evolution_finds_an_attendee_principal_by_email_for_free_busy() {
    let (server, c) = setup().await;
    // Sent to the calendar being edited, with apply-to-principal-collection-set and Depth 0.
    let evolution = |email: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-property-search xmlns:D=\"DAV:\" \
             xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:apply-to-principal-collection-set/>\
             <D:property-search>\
             <D:prop><C:calendar-user-address-set/></D:prop><D:match>{email}</D:match></D:property-search>\
             <D:prop><D:displayname/></D:prop></D:principal-property-search>\n"
        )
    };
    let cal = "/dav/calendars/alice/calendar/";
    let r = report(&c, cal, Some("0"), &evolution("bob@example.org")).await;
    // Evolution goes on only with exactly one principal.
    assert_eq!(found(&r), [principal("bob")]);
    assert_eq!(r.xml().response(&principal("bob")).ok(DAV, "displayname").text(), "Bob Müller");
    // The address as a calendar user address, in any case.
    assert_eq!(
        found(&report(&c, cal, Some("0"), &evolution("MAILTO:Bob@Example.org")).await),
        [principal("bob")]
    );
    // Without apply-to-principal-collection-set a calendar holds no principals (RFC 3744 §9.4).
    let own_scope = evolution("bob@example.org").replace("<D:apply-to-principal-collection-set/>", "");
    assert!(found(&report(&c, cal, Some("0"), &own_scope).await).is_empty());
    // Someone of another organization is not found, even by their exact address.
    assert!(found(&report(&c, cal, Some("0"), &evolution("mallory@example.org")).await).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn display_name_search_is_caseless_under_unicode_casemap() {
    let (server, c) = setup().await;
    // RFC 3744 §9.4.2's example searches "doE"; davit compares folded substrings.
    for text in ["MÜLLER", "bob m", "üll"] {
        let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &[("D:displayname", text)])).await;
        assert_eq!(found(&r), [principal("bob")], "{text}");
    }
    // Folding keeps accents: "muller" is another name.
    let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &[("D:displayname", "muller")])).await;
    assert!(found(&r).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn rooms_are_found_by_name_and_by_calendar_user_type() {
    let (server, c) = setup().await;
    let room = principal("etoile");
    for criteria in [
        [("D:displayname", "étoile")],
        [("C:calendar-user-type", "ROOM")],
        [("C:calendar-user-type", "room")],
    ] {
        let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &criteria)).await;
        assert_eq!(found(&r), std::slice::from_ref(&room), "{criteria:?}");
        assert_eq!(r.xml().response(&room).ok(CALDAV, "calendar-user-type").text(), "ROOM");
    }
    let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &[("C:calendar-user-type", "GROUP")])).await;
    assert_eq!(found(&r), [principal("ops")]);
    let r =
        report(&c, PRINCIPALS, Some("0"), &search("allof", &[("C:calendar-user-type", "INDIVIDUAL")])).await;
    assert_eq!(found(&r), [principal("admin"), principal("alice"), principal("bob")]);
    // The room's principal answers PROPFIND like any other.
    let r = c
        .propfind(&room, "0", &crate::harness::propfind_body(&["C:calendar-user-type", "D:displayname"]))
        .await;
    r.assert_status(207);
    assert_eq!(r.xml().response(&room).ok(CALDAV, "calendar-user-type").text(), "ROOM");
    server.stop().await;
}

#[tokio::test]
async fn allof_needs_every_criterion_and_anyof_one() {
    let (server, c) = setup().await;
    let criteria = [("D:displayname", "bob"), ("C:calendar-user-type", "ROOM")];
    assert!(found(&report(&c, PRINCIPALS, Some("0"), &search("allof", &criteria)).await).is_empty());
    let r = report(&c, PRINCIPALS, Some("0"), &search("anyof", &criteria)).await;
    assert_eq!(found(&r), [principal("bob"), principal("etoile")]);
    // No test attribute: allof (RFC 3744 §9.4, "a logical AND").
    let both = search("allof", &[("D:displayname", "o"), ("C:calendar-user-type", "INDIVIDUAL")])
        .replace(" test=\"allof\"", "");
    assert_eq!(found(&report(&c, PRINCIPALS, Some("0"), &both).await), [principal("bob")]);
    server.stop().await;
}

#[tokio::test]
async fn no_match_is_an_empty_multistatus() {
    let (server, c) = setup().await;
    let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &[("D:displayname", "nobody by that name")]))
        .await;
    r.assert_status(207);
    let doc = r.xml();
    assert!(doc.root.is(DAV, "multistatus"));
    assert!(doc.responses().is_empty(), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn python_caldav_finds_the_user_by_name_and_lists_the_organization() {
    // caldav 3.6 DAVClient.search_principals(), as caldav-server-tester sends it to the client
    // URL: the properties stand beside an empty DAV:prop, and without a name there is no
    // property-search at all. Its parser needs displayname and calendar-home-set.
    let (server, c) = setup().await;
    let by_name = "<D:principal-property-search xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
                   <D:property-search><D:prop><D:displayname/></D:prop><D:match>alice</D:match>\
                   </D:property-search>\
                   <D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>";
    let r = report(&c, "/dav/", Some("0"), by_name).await;
    assert_eq!(found(&r), [principal("alice")]);
    let doc = r.xml();
    let alice = doc.response(&principal("alice"));
    assert_eq!(alice.href_prop(CALDAV, "calendar-home-set"), "/dav/calendars/alice/");
    assert_eq!(alice.ok(DAV, "displayname").text(), "alice");
    let list_all = "<D:principal-property-search xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
                    <D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>";
    let r = report(&c, "/dav/", Some("0"), list_all).await;
    assert_eq!(found(&r), ["admin", "alice", "bob", "etoile", "ops"].map(principal));
    assert_eq!(
        r.xml().response(&principal("bob")).href_prop(CALDAV, "calendar-home-set"),
        "/dav/calendars/bob/"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let (server, c) = setup().await;
    let good = search("allof", &[("D:displayname", "bob")]);
    let bad_bodies = [
        "this is not XML".to_owned(),
        "<D:principal-property-search xmlns:D=\"DAV:\"><D:property-search><D:prop><D:displayname/></D:prop>\
         </D:property-search></D:principal-property-search>"
            .to_owned(),
        "<D:principal-property-search xmlns:D=\"DAV:\"><D:property-search><D:match>x</D:match>\
         </D:property-search></D:principal-property-search>"
            .to_owned(),
        good.replace("test=\"allof\"", "test=\"sometimes\""),
        good.replace("<D:match>", "<D:match match-type=\"regex\">"),
    ];
    for body in &bad_bodies {
        report(&c, PRINCIPALS, Some("0"), body).await.assert_status(400);
    }
    // RFC 3744 §9.4: only Depth 0 is defined.
    for depth in ["1", "infinity"] {
        report(&c, PRINCIPALS, Some(depth), &good).await.assert_status(400);
    }
    let set = "<D:principal-search-property-set xmlns:D=\"DAV:\"/>";
    report(&c, PRINCIPALS, Some("1"), set).await.assert_status(400);
    server.stop().await;
}

#[tokio::test]
async fn other_organizations_stay_invisible() {
    let (server, c) = setup().await;
    for criteria in
        [[("D:displayname", "mallory")], [("C:calendar-user-type", "ROOM")], [("D:displayname", "")]]
    {
        let hrefs = found(&report(&c, PRINCIPALS, Some("0"), &search("allof", &criteria)).await);
        assert!(
            !hrefs.contains(&principal("mallory")) && !hrefs.contains(&principal("boardroom")),
            "{hrefs:?}"
        );
    }
    // The principal itself is not readable either.
    let body = crate::harness::propfind_body(&["D:displayname"]);
    c.propfind(&principal("mallory"), "0", &body).await.assert_status(403);
    c.propfind(&principal("boardroom"), "0", &body).await.assert_status(403);
    c.propfind(&principal("etoile"), "0", &body).await.assert_status(207);
    // And the other side sees only its own organization.
    let globex = server.store().organization_by_name("Globex").unwrap().unwrap().id;
    server
        .store()
        .create_user(&NewUser {
            slug: "trent".into(),
            display_name: "Trent".into(),
            email: None,
            password_hash: davit::auth::hash_password(crate::harness::PASSWORD).unwrap(),
            org_id: globex,
            role: Role::Owner,
        })
        .unwrap();
    let trent = server.client("trent");
    let everyone = search("allof", &[("D:displayname", "")]);
    let hrefs = found(&report(&trent, PRINCIPALS, Some("0"), &everyone).await);
    assert_eq!(hrefs, [principal("boardroom"), principal("mallory"), principal("trent")]);
    trent.propfind(&principal("alice"), "0", &body).await.assert_status(403);
    server.stop().await;
}

#[tokio::test]
async fn many_matches_are_cut_at_fifty_with_507() {
    let (server, c) = setup().await;
    let acme = server.store().organizations().unwrap()[0].id;
    for i in 0..55 {
        add_person(&server, &format!("member{i:02}"), &format!("Member {i:02}"), acme);
    }
    let r = report(&c, PRINCIPALS, Some("0"), &search("allof", &[("D:displayname", "member")])).await;
    r.assert_status(207);
    let doc = r.xml();
    let responses = doc.responses();
    assert_eq!(responses.len(), 51, "50 principals and the 507");
    let last = responses.last().unwrap();
    assert_eq!(last.href(), PRINCIPALS);
    assert_eq!(last.status().as_deref(), Some("HTTP/1.1 507 Insufficient Storage"));
    assert!(r.body.contains("number-of-matches-within-limits"), "{}", r.body);
    // Ordered by display name: the first fifty.
    assert_eq!(responses[0].href(), principal("member00"));
    assert_eq!(responses[49].href(), principal("member49"));
    server.stop().await;
}

#[tokio::test]
async fn principal_match_self_and_owner() {
    let (server, c) = setup().await;
    let me =
        "<D:principal-match xmlns:D=\"DAV:\"><D:self/><D:prop><D:displayname/></D:prop></D:principal-match>";
    for path in [PRINCIPALS, "/dav/"] {
        let r = report(&c, path, Some("0"), me).await;
        assert_eq!(found(&r), [principal("alice")]);
    }
    // A team matches when the user is one of its members (RFC 3744 §9.3).
    let by_slug = |slug: &str| server.store().principal_by_slug(slug).unwrap().unwrap().id;
    server.store().set_team_member(by_slug("ops"), by_slug("alice"), true).unwrap();
    let r = report(&c, PRINCIPALS, Some("0"), me).await;
    assert_eq!(found(&r), [principal("alice"), principal("ops")]);
    assert_eq!(r.xml().response(&principal("ops")).ok(DAV, "displayname").text(), "Ops");
    // No principals below a home.
    assert!(found(&report(&c, "/dav/calendars/alice/", Some("0"), me).await).is_empty());

    // RFC 3744 §9.3.1: the members the current user owns, each with a bare 200 without prop.
    let owner = "<D:principal-match xmlns:D=\"DAV:\"><D:principal-property><D:owner/>\
                 </D:principal-property></D:principal-match>";
    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:pm-1\r\n\
                 DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n\
                 END:VCALENDAR\r\n";
    c.put("/dav/calendars/alice/calendar/pm-1.ics", "text/calendar", event).await.assert_status(201);
    let r = report(&c, "/dav/calendars/alice/", Some("0"), owner).await;
    let hrefs = found(&r);
    for href in [
        "/dav/calendars/alice/calendar/",
        "/dav/calendars/alice/tasks/",
        "/dav/calendars/alice/calendar/pm-1.ics",
    ] {
        assert!(hrefs.iter().any(|h| h == href), "{href} missing from {hrefs:?}");
    }
    assert!(!hrefs.iter().any(|h| h == "/dav/calendars/alice/"), "not the request-URI itself");
    assert!(r.xml().responses().iter().all(|resp| resp.status().as_deref() == Some("HTTP/1.1 200 OK")));
    // Someone else's home is not readable at all.
    report(&c, "/dav/calendars/bob/", Some("0"), owner).await.assert_status(403);
    // Other properties, and DAV:owner outside the homes, are not implemented.
    let group = owner.replace("<D:owner/>", "<D:group-member-set/>");
    report(&c, "/dav/calendars/alice/", Some("0"), &group).await.assert_status(501);
    report(&c, PRINCIPALS, Some("0"), owner).await.assert_status(501);
    report(&c, PRINCIPALS, Some("1"), me).await.assert_status(400);
    server.stop().await;
}

#[tokio::test]
async fn supported_report_sets_list_the_principal_reports() {
    let (server, c) = setup().await;
    let reports_of = |r: &Reply, href: &str| -> Vec<String> {
        r.assert_status(207);
        let doc = r.xml();
        let set = doc.response(href).ok(DAV, "supported-report-set");
        set.elements()
            .filter_map(|s| s.child(DAV, "report"))
            .flat_map(|r| r.elements().map(|e| e.name.clone()).collect::<Vec<_>>())
            .collect()
    };
    let body = crate::harness::propfind_body(&["D:supported-report-set"]);
    for path in ["/dav/", PRINCIPALS, "/dav/principals/alice/"] {
        let reports = reports_of(&c.propfind(path, "0", &body).await, path);
        for report in ["principal-property-search", "principal-search-property-set", "principal-match"] {
            assert!(reports.iter().any(|r| r == report), "{path}: {reports:?} lacks {report}");
        }
    }
    let cal = "/dav/calendars/alice/calendar/";
    let reports = reports_of(&c.propfind(cal, "0", &body).await, cal);
    assert!(reports.iter().any(|r| r == "principal-property-search"), "{reports:?}");
    assert!(reports.iter().any(|r| r == "calendar-query"), "{reports:?}");
    server.stop().await;
}

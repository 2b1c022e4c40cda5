//! The cross-client requirements: one test per row of the table in CLIENTS.md §8 ("the short
//! list for davit"), named after the row. The clients named in each row are the ones that break
//! without it (see the client modules for their flows and sources).

use super::{
    Agent, BOOK, BOOK_HOME, CAL, CAL_HOME, CALDAV, CARDDAV, PRINCIPAL, TASKS, assert_strong_etag, code_of,
    descendants, event, has_privilege, raw_chunked_request, start, status_lines, top_sync_token, vcard3,
};
use crate::harness::roxml::{DAV, Doc};
use crate::harness::{Reply, TestServer, propfind_body};

const UA: &str = "davit-cross-client-test";
const XML: &str = "application/xml; charset=utf-8";

fn ics(uid: &str) -> String {
    event("-//davit tests//EN", uid, uid, "20260901T100000Z", "20260901T110000Z")
}

async fn propfind(a: &Agent, path: &str, depth: &str, props: &[&str]) -> Reply {
    a.send("PROPFIND", path, &[("Depth", depth), ("Content-Type", XML)], Some(&propfind_body(props))).await
}

fn sync_body(token: &str, limit: Option<usize>) -> String {
    let limit = limit.map(|n| format!("<D:limit><D:nresults>{n}</D:nresults></D:limit>")).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token>\
         <D:sync-level>1</D:sync-level>{limit}<D:prop><D:getetag/><D:getcontenttype/></D:prop></D:sync-collection>"
    )
}

async fn sync(a: &Agent, path: &str, depth: Option<&str>, token: &str, limit: Option<usize>) -> Reply {
    let mut headers = vec![("Content-Type", XML)];
    if let Some(d) = depth {
        headers.push(("Depth", d));
    }
    a.send("REPORT", path, &headers, Some(&sync_body(token, limit))).await
}

/// Every collection alice has, homes included.
const COLLECTIONS: [&str; 5] = [CAL_HOME, CAL, TASKS, BOOK_HOME, BOOK];

fn dav_tokens(r: &Reply) -> Vec<String> {
    r.header("dav").unwrap_or_default().split(',').map(|t| t.trim().to_owned()).collect()
}

async fn with_objects(server: &TestServer) -> Agent {
    let a = Agent::new(server, UA);
    a.send("PUT", &format!("{CAL}e1.ics"), &[("Content-Type", "text/calendar")], Some(&ics("e1")))
        .await
        .assert_status(201);
    let t = super::todo("-//davit tests//EN", "t1", "Task");
    a.send("PUT", &format!("{TASKS}t1.ics"), &[("Content-Type", "text/calendar")], Some(&t))
        .await
        .assert_status(201);
    let card = vcard3("-//davit tests//EN", "c1", "Card One");
    a.send("PUT", &format!("{BOOK}c1.vcf"), &[("Content-Type", "text/vcard")], Some(&card))
        .await
        .assert_status(201);
    a
}

/// Row: `OPTIONS` DAV header with `calendar-access` / `addressbook` on principal and
/// collections — DAVx5 (principal rejected), OCS test.
#[tokio::test]
async fn options_dav_header_with_calendar_access_and_addressbook_on_principal_and_collections() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for path in std::iter::once(PRINCIPAL).chain(COLLECTIONS) {
        let r = a.send("OPTIONS", path, &[], None).await;
        r.assert_status(200);
        let tokens = dav_tokens(&r);
        assert!(tokens.iter().any(|t| t == "calendar-access"), "OPTIONS {path}: DAV {tokens:?}");
        assert!(tokens.iter().any(|t| t == "addressbook"), "OPTIONS {path}: DAV {tokens:?}");
        assert_eq!(
            tokens.first().map(String::as_str),
            Some("1"),
            "class 1 first (Thunderbird drops the first token)"
        );
    }
    server.stop().await;
}

/// Row: `DAV:` header also on PROPFIND responses — Apple.
#[tokio::test]
async fn dav_header_also_on_propfind_responses() {
    let server = start().await;
    let a = with_objects(&server).await;
    for path in ["/", "/dav/", PRINCIPAL, CAL_HOME, CAL, BOOK, &format!("{CAL}e1.ics")] {
        for depth in ["0", "1"] {
            let r = propfind(&a, path, depth, &["D:resourcetype"]).await;
            r.assert_status(207);
            let tokens = dav_tokens(&r);
            assert!(
                tokens.iter().any(|t| t == "calendar-access") && tokens.iter().any(|t| t == "addressbook"),
                "PROPFIND {path} Depth {depth}: DAV {tokens:?}"
            );
        }
    }
    server.stop().await;
}

/// Row: 401 + `WWW-Authenticate: Basic` for unauthenticated requests incl. current-user-principal
/// PROPFIND — Apple, DAVx5.
#[tokio::test]
async fn unauthenticated_requests_get_401_with_basic_challenge_incl_current_user_principal_propfind() {
    let server = start().await;
    let anon = Agent::anonymous(&server, UA);
    let cup = propfind_body(&["D:current-user-principal"]);
    let sync = sync_body("", None);
    let event = ics("anon");
    for path in ["/", "/dav/", "/dav/principals/", PRINCIPAL, CAL_HOME, CAL, BOOK] {
        // (An anonymous OPTIONS may be answered: it reveals only the DAV header.)
        for (method, body) in [
            ("PROPFIND", Some(cup.as_str())),
            ("REPORT", Some(sync.as_str())),
            ("GET", None),
            ("PUT", Some(event.as_str())),
        ] {
            if method == "PUT" && !path.ends_with("calendar/") {
                continue;
            }
            let path = &if method == "PUT" { format!("{path}anon.ics") } else { path.to_owned() };
            let r = anon.send(method, path, &[("Depth", "0"), ("Content-Type", XML)], body).await;
            assert_eq!(
                r.status.as_u16(),
                401,
                "{method} {path}: anything but 401 (e.g. a 207 with DAV:unauthenticated) breaks DAVx5"
            );
            let challenge = r.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Basic ") && challenge.contains("realm=\""),
                "{method} {path}: {challenge}"
            );
        }
    }
    // Wrong credentials are challenged the same way.
    let r = anon
        .c
        .http
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("{}/dav/", anon.c.base))
        .basic_auth("alice", Some("wrong password"))
        .header("Depth", "0")
        .body(cup.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some_and(|v| v.to_str().unwrap().starts_with("Basic ")));
    server.stop().await;
}

/// Row: well-known → 301/302 (not 308) to the context root; PROPFIND on well-known may also be
/// answered directly — OCS (no 308), Apple.
#[tokio::test]
async fn well_known_redirects_301_or_302_not_308_to_the_context_root() {
    let server = start().await;
    for a in [Agent::anonymous(&server, UA), Agent::new(&server, UA)] {
        for path in
            ["/.well-known/caldav", "/.well-known/carddav", "/.well-known/caldav/", "/.well-known/carddav/"]
        {
            for method in ["PROPFIND", "GET", "OPTIONS", "REPORT"] {
                let body = (method == "PROPFIND").then(|| propfind_body(&["D:current-user-principal"]));
                let r = a.send(method, path, &[("Depth", "0")], body.as_deref()).await;
                let status = r.status.as_u16();
                if status == 207 && method == "PROPFIND" && a.c.user.is_some() {
                    continue; // answered directly: allowed
                }
                assert!(matches!(status, 301 | 302), "{method} {path}: {status} (OCS does not follow 308)");
                assert_eq!(r.header("location"), Some("/dav/"), "{method} {path}");
            }
        }
    }
    // The context root answers the discovery PROPFIND.
    let a = Agent::new(&server, UA);
    let r = propfind(&a, "/dav/", "0", &["D:current-user-principal"]).await;
    r.assert_status(207);
    assert_eq!(r.xml().responses()[0].href_prop(DAV, "current-user-principal"), PRINCIPAL);
    server.stop().await;
}

/// Row: principal/owner hrefs as **absolute paths**, trailing `/` on collections and principals —
/// OCS, Apple.
#[tokio::test]
async fn principal_and_owner_hrefs_are_absolute_paths_with_trailing_slash() {
    let server = start().await;
    let a = with_objects(&server).await;
    let props = [
        "D:current-user-principal",
        "D:principal-URL",
        "D:owner",
        "D:principal-collection-set",
        "C:calendar-home-set",
        "CR:addressbook-home-set",
        "C:calendar-user-address-set",
        "D:resourcetype",
    ];
    for path in ["/", "/dav/", "/dav/principals/", PRINCIPAL, CAL_HOME, CAL, TASKS, BOOK_HOME, BOOK] {
        for depth in ["0", "1"] {
            let r = propfind(&a, path, depth, &props).await;
            r.assert_status(207);
            let doc = r.xml();
            for resp in doc.responses() {
                let href = resp.href();
                assert!(href.starts_with('/') && !href.starts_with("//"), "response href {href:?}");
                let is_collection = resp
                    .prop(DAV, "resourcetype")
                    .is_some_and(|(rt, _)| rt.child(DAV, "collection").is_some());
                if is_collection {
                    assert!(href.ends_with('/'), "collection href {href:?} needs a trailing slash");
                }
                for (ns, name) in [
                    (DAV, "current-user-principal"),
                    (DAV, "principal-URL"),
                    (DAV, "owner"),
                    (DAV, "principal-collection-set"),
                    (CALDAV, "calendar-home-set"),
                    (CARDDAV, "addressbook-home-set"),
                ] {
                    let Some((p, status)) = resp.prop(ns, name) else { continue };
                    if code_of(&status) != 200 {
                        continue;
                    }
                    for h in p.elements().filter(|e| e.is(DAV, "href")) {
                        let h = h.text();
                        assert!(
                            h.starts_with('/') && !h.contains("://"),
                            "{name} on {href}: {h:?} is not an absolute path"
                        );
                        assert!(h.ends_with('/'), "{name} on {href}: {h:?} lacks the trailing slash");
                    }
                }
                if let Some((set, status)) = resp.prop(CALDAV, "calendar-user-address-set")
                    && code_of(&status) == 200
                {
                    for h in set.elements().map(|e| e.text()).filter(|h| !h.starts_with("mailto:")) {
                        assert!(h.starts_with('/') && h.ends_with('/'), "address {h:?}");
                    }
                }
            }
        }
    }
    server.stop().await;
}

/// Row: `current-user-privilege-set` on every collection (absent = writable for DAVx5/TB) —
/// read-only shares in all clients.
#[tokio::test]
async fn current_user_privilege_set_on_every_collection() {
    let server = start().await;
    let a = with_objects(&server).await;
    // A collection alice made herself, too.
    a.send("MKCALENDAR", &format!("{CAL_HOME}made/"), &[], None).await.assert_status(201);
    for home in [CAL_HOME, BOOK_HOME] {
        let r = propfind(&a, home, "1", &["D:current-user-privilege-set", "D:resourcetype"]).await;
        r.assert_status(207);
        let doc = r.xml();
        let mut seen = 0;
        for resp in doc.responses() {
            let set = resp.ok(DAV, "current-user-privilege-set");
            seen += 1;
            if resp.href() != home {
                assert!(has_privilege(set, "write-content"), "owner lacks write-content on {}", resp.href());
                assert!(has_privilege(set, "read"));
            }
        }
        assert!(seen >= 2, "{}", r.body);
    }
    // A read-only credential (read-only app password) sees every collection without write
    // privileges, and says so.
    let secret = super::read_only_app_password(&server);
    let ro = Agent::with_password(&server, UA, &secret);
    for home in [CAL_HOME, BOOK_HOME] {
        let r = propfind(&ro, home, "1", &["D:current-user-privilege-set"]).await;
        r.assert_status(207);
        let doc = r.xml();
        for resp in doc.responses() {
            let set = resp.ok(DAV, "current-user-privilege-set");
            assert!(has_privilege(set, "read"), "{}", resp.href());
            for w in ["write", "write-content", "bind", "all"] {
                assert!(!has_privilege(set, w), "read-only credential has {w} on {}", resp.href());
            }
        }
    }
    // What alice may only read says so: no write privileges at all.
    for path in ["/", "/dav/", "/dav/principals/", PRINCIPAL] {
        let r = propfind(&a, path, "0", &["D:current-user-privilege-set"]).await;
        let doc = r.xml();
        let set = doc.responses()[0].ok(DAV, "current-user-privilege-set");
        assert!(has_privilege(set, "read"), "{path}");
        for w in ["write", "write-content", "write-properties", "bind", "all"] {
            assert!(!has_privilege(set, w), "{path} grants {w}");
        }
    }
    server.stop().await;
}

/// Row: `supported-calendar-component-set` on every calendar — OCS (calendar invisible), TB item
/// types.
#[tokio::test]
async fn supported_calendar_component_set_on_every_calendar() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    // Calendars made by MKCALENDAR without the property and by extended MKCOL.
    a.send("MKCALENDAR", &format!("{CAL_HOME}plain/"), &[], None).await.assert_status(201);
    let mkcol = format!(
        "<D:mkcol xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/>\
         </D:resourcetype><D:displayname>Ext</D:displayname></D:prop></D:set></D:mkcol>"
    );
    a.send("MKCOL", &format!("{CAL_HOME}ext/"), &[("Content-Type", XML)], Some(&mkcol))
        .await
        .assert_status(201);
    let r = propfind(&a, CAL_HOME, "1", &["D:resourcetype", "C:supported-calendar-component-set"]).await;
    r.assert_status(207);
    let doc = r.xml();
    let mut calendars = 0;
    for resp in doc.responses() {
        if resp.ok(DAV, "resourcetype").child(CALDAV, "calendar").is_none() {
            continue;
        }
        calendars += 1;
        let comps: Vec<String> = resp
            .ok(CALDAV, "supported-calendar-component-set")
            .elements()
            .filter(|c| c.is(CALDAV, "comp"))
            .filter_map(|c| c.attr("name").map(str::to_owned))
            .collect();
        assert!(!comps.is_empty(), "{}", resp.href());
        assert!(comps.iter().any(|c| c == "VEVENT" || c == "VTODO"), "{}: {comps:?}", resp.href());
    }
    assert_eq!(calendars, 4);
    server.stop().await;
}

fn lists_sync_collection(resp: &crate::harness::roxml::ResponseView<'_>) -> bool {
    resp.ok(DAV, "supported-report-set")
        .elements()
        .filter(|s| s.is(DAV, "supported-report"))
        .filter_map(|s| s.child(DAV, "report"))
        .any(|r| r.child(DAV, "sync-collection").is_some())
}

/// Row: `supported-report-set` incl. `sync-collection` on collections **and calendar home** —
/// TB/DAVx5/Evolution sync mode, Apple.
#[tokio::test]
async fn supported_report_set_lists_sync_collection_on_collections_and_calendar_home() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    for path in COLLECTIONS {
        let r = propfind(&a, path, "0", &["D:supported-report-set"]).await;
        r.assert_status(207);
        assert!(lists_sync_collection(&r.xml().responses()[0]), "{path} lacks sync-collection");
    }
    // And the sync-collection it advertises on the home works there.
    let r = sync(&a, CAL_HOME, Some("0"), "", None).await;
    r.assert_status(207);
    assert!(top_sync_token(&r.xml()).is_some());
    server.stop().await;
}

/// Row: sync-collection accepts `Depth: 1` as well as `Depth: 0` — a deliberate deviation
/// (RFC 6578 §3.2 gives other Depth values a 400) — Thunderbird. The accommodation is narrow:
/// Depth 0, 1 and no Depth header are answered alike; `infinity` keeps the RFC's 400.
#[tokio::test]
async fn sync_collection_accepts_depth_1_as_well_as_depth_0() {
    let server = start().await;
    let a = with_objects(&server).await;
    for coll in [CAL, BOOK] {
        let mut answers = Vec::new();
        for depth in [Some("0"), Some("1"), None] {
            let r = sync(&a, coll, depth, "", None).await;
            assert_eq!(r.status.as_u16(), 207, "{coll} Depth {depth:?}: {}", r.body);
            let doc = r.xml();
            answers.push((doc.hrefs(), top_sync_token(&doc)));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{coll}: {answers:?}");
        let r = sync(&a, coll, Some("infinity"), "", None).await;
        assert_eq!(r.status.as_u16(), 400, "{coll}: Depth infinity is outside the accommodation: {}", r.body);
    }
    server.stop().await;
}

/// Row: sync-token is a URI (contains `:`), top-level `<sync-token>` in every sync report —
/// Evolution, DAVx5, OCS.
#[tokio::test]
async fn sync_token_is_a_uri_and_top_level_in_every_sync_report() {
    let server = start().await;
    let a = with_objects(&server).await;
    for coll in [CAL, TASKS, BOOK, CAL_HOME] {
        let mut token = String::new();
        // Initial, paged (limit 1 ⇒ 507 + token), empty delta after a change and a deletion.
        for round in 0..4 {
            let limit = (round == 0).then_some(1);
            let r = sync(&a, coll, Some("0"), &token, limit).await;
            r.assert_status(207);
            let doc = r.xml();
            let t = top_sync_token(&doc)
                .unwrap_or_else(|| panic!("{coll}: no top-level sync-token:\n{}", r.body));
            let (scheme, rest) = t.split_once(':').unwrap_or_else(|| panic!("token {t:?} is not a URI"));
            assert!(
                !scheme.is_empty()
                    && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty(),
                "token {t:?} is not a URI"
            );
            assert!(!t.contains(char::is_whitespace), "{t:?}");
            // The property on the collection is the same URI form.
            token = t;
        }
        let r = propfind(&a, coll, "0", &["D:sync-token"]).await;
        let doc = r.xml();
        assert!(doc.responses()[0].ok(DAV, "sync-token").text().contains(':'));
    }
    server.stop().await;
}

/// Row: getetag **and** getcontenttype (`text/calendar…`) for every member in
/// sync-collection/PROPFIND — TB calendar (items dropped), DAVx5.
#[tokio::test]
async fn getetag_and_getcontenttype_for_every_member_in_sync_collection_and_propfind() {
    let server = start().await;
    let a = with_objects(&server).await;
    // Uploads without a Content-Type, or with a wrong one, still list as text/calendar.
    a.send("PUT", &format!("{CAL}no-type.ics"), &[], Some(&ics("no-type"))).await.assert_status(201);
    let r = a
        .send(
            "PUT",
            &format!("{CAL}odd-type.ics"),
            &[("Content-Type", "application/octet-stream")],
            Some(&ics("odd-type")),
        )
        .await;
    assert!(r.status.is_success() || matches!(r.status.as_u16(), 403 | 415), "{}", r.status);
    for (coll, prefix) in [(CAL, "text/calendar"), (TASKS, "text/calendar"), (BOOK, "text/vcard")] {
        let r = sync(&a, coll, Some("0"), "", None).await;
        r.assert_status(207);
        let sync_doc = r.xml();
        let r = propfind(&a, coll, "1", &["D:getetag", "D:getcontenttype", "D:resourcetype"]).await;
        r.assert_status(207);
        let pf_doc = r.xml();
        for (what, doc) in [("sync-collection", &sync_doc), ("PROPFIND", &pf_doc)] {
            let mut members = 0;
            for resp in doc.responses() {
                if resp.href() == coll {
                    continue;
                }
                members += 1;
                let etag = resp.ok(DAV, "getetag").text();
                assert_strong_etag(&etag);
                let ct = resp.ok(DAV, "getcontenttype").text();
                assert!(ct.starts_with(prefix), "{what} {}: getcontenttype {ct:?}", resp.href());
            }
            assert!(members >= 1, "{what} on {coll}");
        }
    }
    server.stop().await;
}

/// Row: invalid token: 403 + `<D:valid-sync-token/>`; (TB CardDAV only falls back on 400) —
/// DAVx5/OCS/Evolution vs TB CardDAV. RFC 6578 §3.2 is the default for every client.
#[tokio::test]
async fn invalid_sync_token_is_403_with_valid_sync_token() {
    let server = start().await;
    let a = with_objects(&server).await;
    let tb =
        Agent::new(&server, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0");
    let cal_token = top_sync_token(&sync(&a, CAL, Some("0"), "", None).await.xml()).unwrap();
    for agent in [&a, &tb] {
        for (coll, bad) in [
            (CAL, "urn:x-davit:sync:1:999999".to_owned()),
            (BOOK, "garbage".to_owned()),
            (BOOK, cal_token.clone()),
            (TASKS, "http://example.org/not-ours".to_owned()),
        ] {
            let r = sync(agent, coll, Some("1"), &bad, None).await;
            assert_eq!(r.status.as_u16(), 403, "{coll} token {bad:?}: {}", r.body);
            let ct = r.header("content-type").unwrap_or_default();
            assert!(ct.contains("xml"), "{ct}");
            let doc = r.xml();
            assert!(doc.root.is(DAV, "error"), "{}", r.body);
            assert!(doc.root.child(DAV, "valid-sync-token").is_some(), "{}", r.body);
        }
    }
    server.stop().await;
}

/// Row: multistatus status lines exactly `HTTP/1.1 200 OK` / `HTTP/1.1 404 Not Found`, 200
/// propstat first — TB CardDAV.
#[tokio::test]
async fn multistatus_status_lines_are_exact_and_the_200_propstat_comes_first() {
    let server = start().await;
    let a = with_objects(&server).await;
    let token = top_sync_token(&sync(&a, BOOK, Some("0"), "", None).await.xml()).unwrap();
    a.send("DELETE", &format!("{BOOK}c1.vcf"), &[], None).await.assert_status(204);
    let card = vcard3("-//davit tests//EN", "c2", "Card Two");
    a.send("PUT", &format!("{BOOK}c2.vcf"), &[("Content-Type", "text/vcard")], Some(&card))
        .await
        .assert_status(201);

    let mut docs: Vec<(String, Doc)> = Vec::new();
    // Known and unknown properties mixed (a 404 propstat must come after the 200 one).
    let props =
        ["CS:nonexistent", "D:resourcetype", "D:displayname", "D:current-user-privilege-set", "D:getetag"];
    for path in [BOOK_HOME, BOOK, CAL] {
        let r = propfind(&a, path, "1", &props).await;
        r.assert_status(207);
        docs.push((format!("PROPFIND {path}"), r.xml()));
    }
    let r = sync(&a, BOOK, Some("1"), &token, None).await;
    r.assert_status(207);
    docs.push(("sync-collection".into(), r.xml()));
    let mg = format!(
        "<C:addressbook-multiget xmlns:D=\"DAV:\" xmlns:C=\"{CARDDAV}\"><D:prop><D:getetag/><C:address-data/>\
         <D:displayname/></D:prop><D:href>{BOOK}c2.vcf</D:href><D:href>{BOOK}missing.vcf</D:href></C:addressbook-multiget>"
    );
    let r = a.send("REPORT", BOOK, &[("Depth", "1"), ("Content-Type", XML)], Some(&mg)).await;
    r.assert_status(207);
    docs.push(("addressbook-multiget".into(), r.xml()));

    let mut saw_404 = false;
    for (what, doc) in &docs {
        for resp in doc.responses() {
            for line in status_lines(&resp) {
                assert!(
                    ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"].contains(&line.as_str()),
                    "{what} {}: status line {line:?}",
                    resp.href()
                );
                saw_404 |= line == "HTTP/1.1 404 Not Found";
            }
            let first = descendants(resp.el).into_iter().find(|e| e.is(DAV, "status")).map(|s| s.text());
            let has_200 = status_lines(&resp).iter().any(|l| l == "HTTP/1.1 200 OK");
            if has_200 {
                assert_eq!(
                    first.as_deref(),
                    Some("HTTP/1.1 200 OK"),
                    "{what} {}: 200 propstat first",
                    resp.href()
                );
            }
        }
    }
    assert!(saw_404, "the cases above include 404s");
    server.stop().await;
}

/// Row: strong `ETag` on PUT responses (201 create / 204 update) — OCS (extra GET), Evolution
/// (re-read), DAVx5.
#[tokio::test]
async fn strong_etag_on_put_responses_201_create_204_update() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let card1 = vcard3("-//davit tests//EN", "s1", "S One");
    let card2 = vcard3("-//davit tests//EN", "s1", "S Two");
    let cases = [
        (
            format!("{CAL}s1.ics"),
            "text/calendar; charset=utf-8",
            ics("s1"),
            ics("s1").replace("SUMMARY:s1", "SUMMARY:s1b"),
        ),
        (
            format!("{TASKS}s2.ics"),
            "text/calendar",
            super::todo("-//t//EN", "s2", "A"),
            super::todo("-//t//EN", "s2", "B"),
        ),
        (format!("{BOOK}s1.vcf"), "text/vcard", card1, card2),
    ];
    for (url, ct, first, second) in cases {
        let r = a.send("PUT", &url, &[("Content-Type", ct), ("If-None-Match", "*")], Some(&first)).await;
        r.assert_status(201);
        let e1 = r.etag();
        assert_strong_etag(&e1);
        let r = a.send("PUT", &url, &[("Content-Type", ct), ("If-Match", &e1)], Some(&second)).await;
        r.assert_status(204);
        let e2 = r.etag();
        assert_strong_etag(&e2);
        assert_ne!(e1, e2);
        let g = a.send("GET", &url, &[], None).await;
        assert_eq!(g.etag(), e2, "{url}: the PUT ETag is the GET ETag");
        assert_eq!(g.body, second);
        let r = propfind(&a, &url, "0", &["D:getetag"]).await;
        assert_eq!(r.xml().responses()[0].ok(DAV, "getetag").text(), e2);
    }
    server.stop().await;
}

/// Row: `If-None-Match: *` ⇒ 412 if exists; `If-Match` mismatch ⇒ 412 — all.
#[tokio::test]
async fn if_none_match_star_and_if_match_mismatch_give_412() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let url = format!("{CAL}p.ics");
    let e1 = a
        .send("PUT", &url, &[("Content-Type", "text/calendar"), ("If-None-Match", "*")], Some(&ics("p")))
        .await;
    e1.assert_status(201);
    let e1 = e1.etag();
    let changed = ics("p").replace("SUMMARY:p", "SUMMARY:q");
    a.send("PUT", &url, &[("Content-Type", "text/calendar"), ("If-None-Match", "*")], Some(&changed))
        .await
        .assert_status(412);
    for stale in ["\"nope\"", "W/\"nope\"", "\"nope\", \"other\""] {
        a.send("PUT", &url, &[("Content-Type", "text/calendar"), ("If-Match", stale)], Some(&changed))
            .await
            .assert_status(412);
        a.send("DELETE", &url, &[("If-Match", stale)], None).await.assert_status(412);
    }
    // If-Match on a resource that does not exist.
    a.send(
        "PUT",
        &format!("{CAL}gone.ics"),
        &[("Content-Type", "text/calendar"), ("If-Match", &e1)],
        Some(&ics("gone")),
    )
    .await
    .assert_status(412);
    // Nothing changed.
    let g = a.send("GET", &url, &[], None).await;
    assert_eq!(g.etag(), e1);
    assert_eq!(g.body, ics("p"));
    server.stop().await;
}

/// Row: PUT without any precondition accepted (last writer wins) — TB CardDAV.
#[tokio::test]
async fn put_without_any_precondition_is_accepted() {
    let server = start().await;
    let a = Agent::new(&server, UA);
    let b = Agent::new(&server, UA);
    let v1 = vcard3("-//davit tests//EN", "lw", "First");
    let v2 = vcard3("-//davit tests//EN", "lw", "Second");
    let url = format!("{BOOK}lw.vcf");
    a.send("PUT", &url, &[("Content-Type", "text/vcard")], Some(&v1)).await.assert_status(201);
    b.send("PUT", &url, &[("Content-Type", "text/vcard")], Some(&v2)).await.assert_status(204);
    assert_eq!(a.send("GET", &url, &[], None).await.body, v2);
    let url = format!("{CAL}lw.ics");
    a.send("PUT", &url, &[("Content-Type", "text/calendar")], Some(&ics("lw"))).await.assert_status(201);
    let edited = ics("lw").replace("SUMMARY:lw", "SUMMARY:lw2");
    b.send("PUT", &url, &[("Content-Type", "text/calendar")], Some(&edited)).await.assert_status(204);
    a.send("DELETE", &url, &[], None).await.assert_status(204);
    server.stop().await;
}

/// Row: chunked PUT bodies — Evolution.
#[tokio::test]
async fn chunked_put_bodies_are_accepted() {
    let server = start().await;
    let body = ics("chunked");
    let parts: Vec<&[u8]> = body.as_bytes().chunks(23).collect();
    let line = format!("PUT {CAL}chunked.ics HTTP/1.1");
    let r = raw_chunked_request(server.addr, &[line.as_str(), "Content-Type: text/calendar"], &parts).await;
    assert_eq!(r.status(), 201, "{}", r.status_line);
    assert!(r.header("etag").is_some());
    let card = vcard3("-//davit tests//EN", "chunk", "Chunky");
    let line = format!("PUT {BOOK}chunk.vcf HTTP/1.1");
    let r =
        raw_chunked_request(server.addr, &[line.as_str(), "Content-Type: text/vcard"], &[card.as_bytes()])
            .await;
    assert_eq!(r.status(), 201, "{}", r.status_line);
    // The same through a client library's streaming body.
    let a = Agent::new(&server, UA);
    let r = a
        .send_chunked(
            "PUT",
            &format!("{CAL}chunked2.ics"),
            &[("Content-Type", "text/calendar")],
            &ics("chunked2").as_bytes().chunks(40).collect::<Vec<_>>(),
        )
        .await;
    r.assert_status(201);
    assert_eq!(a.send("GET", &format!("{CAL}chunked.ics"), &[], None).await.body, body);
    assert_eq!(a.send("GET", &format!("{BOOK}chunk.vcf"), &[], None).await.body, card);
    server.stop().await;
}

/// Row: calendar-multiget without Depth / with Depth 1; addressbook-multiget with Depth 0 / 1 —
/// DAVx5 / TB / OCS.
#[tokio::test]
async fn calendar_multiget_without_depth_or_depth_1_and_addressbook_multiget_depth_0_or_1() {
    let server = start().await;
    let a = with_objects(&server).await;
    let cal_mg = format!(
        "<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\"><D:prop><D:getetag/><C:calendar-data/></D:prop>\
         <D:href>{CAL}e1.ics</D:href></C:calendar-multiget>"
    );
    let card_mg = format!(
        "<C:addressbook-multiget xmlns:D=\"DAV:\" xmlns:C=\"{CARDDAV}\"><D:prop><D:getetag/><C:address-data/></D:prop>\
         <D:href>{BOOK}c1.vcf</D:href></C:addressbook-multiget>"
    );
    for (coll, body, depths, data) in [
        (CAL, &cal_mg, [None, Some("1"), Some("0")], (CALDAV, "calendar-data")),
        (BOOK, &card_mg, [Some("0"), Some("1"), None], (CARDDAV, "address-data")),
    ] {
        for depth in depths {
            let mut headers = vec![("Content-Type", XML)];
            if let Some(d) = depth {
                headers.push(("Depth", d));
            }
            let r = a.send("REPORT", coll, &headers, Some(body)).await;
            assert_eq!(r.status.as_u16(), 207, "{coll} Depth {depth:?}: {}", r.body);
            let doc = r.xml();
            assert_eq!(doc.responses().len(), 1, "{}", r.body);
            let resp = &doc.responses()[0];
            assert!(!resp.ok(DAV, "getetag").text().is_empty());
            assert!(resp.ok(data.0, data.1).text().starts_with("BEGIN:"));
        }
    }
    server.stop().await;
}

/// Row: public feed: text/calendar without Accept, ETag/304 — Google.
#[tokio::test]
async fn public_feed_text_calendar_without_accept_with_etag_and_304() {
    let server = start().await;
    let a = with_objects(&server).await;
    let token = davit::feeds::token::generate().unwrap();
    {
        let store = server.store();
        let alice = store.principal_by_slug("alice").unwrap().unwrap();
        let home = store.home(alice.id, davit::store::HomeKind::Calendar).unwrap().unwrap();
        let cal = store.child_collection(home.id, "calendar").unwrap().unwrap();
        store
            .set_feed(
                cal.id,
                &davit::feeds::token::token_hash(&token),
                &davit::store::FeedSettings { busy_only: false, show_attendees: false },
            )
            .unwrap();
    }
    let url = format!("/feeds/{token}.ics");
    // Google: plain GET, no credentials, no Accept header at all.
    let google = Agent::anonymous(&server, "Google-Calendar-Importer");
    let r = google.send("GET", &url, &[], None).await;
    r.assert_status(200);
    let ct = r.header("content-type").unwrap_or_default().to_ascii_lowercase().replace(' ', "");
    assert_eq!(ct, "text/calendar;charset=utf-8");
    assert!(r.body.starts_with("BEGIN:VCALENDAR") && r.body.contains("UID:e1"), "{}", r.body);
    let etag = r.etag();
    assert_strong_etag(&etag);
    let last_modified = r.header("last-modified").expect("Last-Modified").to_owned();
    // Whatever Accept says, the same calendar.
    for accept in ["text/html", "application/json", "*/*"] {
        let r = google.send("GET", &url, &[("Accept", accept)], None).await;
        r.assert_status(200);
        assert_eq!(r.etag(), etag, "Accept: {accept}");
    }
    // Conditional refreshes.
    let r = google.send("GET", &url, &[("If-None-Match", &etag)], None).await;
    r.assert_status(304);
    assert!(r.body.is_empty());
    let r = google.send("GET", &url, &[("If-Modified-Since", &last_modified)], None).await;
    r.assert_status(304);
    let r = google.send("HEAD", &url, &[], None).await;
    r.assert_status(200);
    assert_eq!(r.etag(), etag);
    assert!(r.body.is_empty());
    // A change to the calendar changes the ETag.
    a.send("PUT", &format!("{CAL}e2.ics"), &[("Content-Type", "text/calendar")], Some(&ics("e2")))
        .await
        .assert_status(201);
    let r = google.send("GET", &url, &[("If-None-Match", &etag)], None).await;
    r.assert_status(200);
    assert!(r.body.contains("UID:e2"));
    // A wrong token is a plain 404, with no challenge.
    let r = google.send("GET", "/feeds/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", &[], None).await;
    r.assert_status(404);
    server.stop().await;
}

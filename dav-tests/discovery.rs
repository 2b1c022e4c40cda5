//! Client discovery (RFC 6764, RFC 5397), walked the way DAVx5 does it
//! (davx5-ose DavResourceFinder / HomeSetRefresher, see ../shared/CLIENTS.md §1).

use crate::harness::roxml::DAV;
use crate::harness::{TestServer, propfind_body};
use davit::store::Role;

const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";

#[tokio::test]
async fn unauthenticated_requests_get_a_basic_challenge() {
    let server = TestServer::start().await;
    let r = server.anonymous().propfind("/dav/", "0", &propfind_body(&["D:current-user-principal"])).await;
    r.assert_status(401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Basic realm=\"davit\""), "{challenge}");
    server.stop().await;
}

#[tokio::test]
async fn well_known_redirects_with_301_to_the_dav_root() {
    let server = TestServer::start().await;
    for path in ["/.well-known/caldav", "/.well-known/carddav"] {
        // Unauthenticated: Apple and DAVx5 follow the redirect before sending credentials.
        let r = server.anonymous().go("PROPFIND", path).await;
        r.assert_status(301);
        assert_eq!(r.header("location"), Some("/dav/"));
    }
    server.stop().await;
}

/// Follows DAVx5's CalDAV or CardDAV discovery and returns the hrefs listed in the home.
async fn davx5_walk(server: &TestServer, home_set: (&str, &str), service: &str) -> Vec<String> {
    let c = server.client("alice");
    // 1. PROPFIND the well-known URL; follow the redirect (dav4jvm does, any method).
    let r = c.go("PROPFIND", &format!("/.well-known/{service}")).await;
    r.assert_status(301);
    let root = r.header("location").unwrap().to_owned();
    // 2. current-user-principal on the context path.
    let r = c.propfind(&root, "0", &propfind_body(&["D:current-user-principal", "D:resourcetype"])).await;
    r.assert_status(207);
    let principal = r.xml().responses()[0].href_prop(DAV, "current-user-principal");
    assert_eq!(principal, "/dav/principals/alice/");
    // 3. OPTIONS on the principal must advertise the service, or DAVx5 rejects it.
    let r = c.go("OPTIONS", &principal).await;
    r.assert_status(200);
    let dav = r.header("dav").unwrap();
    let token = if service == "caldav" { "calendar-access" } else { "addressbook" };
    assert!(dav.split(',').any(|t| t.trim() == token), "DAV header {dav:?} lacks {token}");
    // 4. The principal's home set (and, for CalDAV, its address set).
    let r = c
        .propfind(
            &principal,
            "0",
            &propfind_body(&[
                "C:calendar-home-set",
                "CR:addressbook-home-set",
                "C:calendar-user-address-set",
                "D:displayname",
                "D:resourcetype",
            ]),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&principal);
    assert!(resp.ok(DAV, "resourcetype").child(DAV, "principal").is_some());
    let addresses: Vec<String> =
        resp.ok(CALDAV, "calendar-user-address-set").elements().map(|h| h.text()).collect();
    assert!(addresses.contains(&"mailto:alice@example.org".to_owned()), "{addresses:?}");
    let home = resp.href_prop(home_set.0, home_set.1);
    // 5. Depth 1 on the home with what DAVx5 asks for.
    let r = c
        .propfind(
            &home,
            "1",
            &propfind_body(&[
                "D:current-user-privilege-set",
                "D:displayname",
                "D:owner",
                "D:resourcetype",
                "A:calendar-color",
                "C:calendar-description",
                "C:calendar-timezone",
                "C:supported-calendar-component-set",
                "CR:addressbook-description",
            ]),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    for member in doc.responses().iter().filter(|m| m.href() != home) {
        // Read-only detection: absent privileges would make DAVx5 assume writable.
        let privs = member.ok(DAV, "current-user-privilege-set");
        assert!(privs.elements().any(|p| p.child(DAV, "write-content").is_some()), "owner can write");
        assert_eq!(member.href_prop(DAV, "owner"), "/dav/principals/alice/");
        assert!(member.href().ends_with('/'), "collection hrefs end in a slash");
    }
    doc.hrefs()
}

#[tokio::test]
async fn davx5_caldav_discovery_finds_default_calendar_and_task_list() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let hrefs = davx5_walk(&server, (CALDAV, "calendar-home-set"), "caldav").await;
    assert!(hrefs.contains(&"/dav/calendars/alice/calendar/".to_owned()), "{hrefs:?}");
    assert!(hrefs.contains(&"/dav/calendars/alice/tasks/".to_owned()), "{hrefs:?}");
    // The task list is a calendar of VTODO, the calendar one of VEVENT.
    let c = server.client("alice");
    let r = c
        .propfind("/dav/calendars/alice/", "1", &propfind_body(&["C:supported-calendar-component-set"]))
        .await;
    let doc = r.xml();
    let comps = |href: &str| -> Vec<String> {
        let resp = doc.response(href);
        let set = resp.ok(CALDAV, "supported-calendar-component-set");
        set.elements().filter_map(|c| c.attr("name").map(str::to_owned)).collect()
    };
    assert_eq!(comps("/dav/calendars/alice/tasks/"), ["VTODO"]);
    assert_eq!(comps("/dav/calendars/alice/calendar/"), ["VEVENT"]);
    server.stop().await;
}

#[tokio::test]
async fn davx5_carddav_discovery_finds_default_address_book() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let hrefs = davx5_walk(&server, (CARDDAV, "addressbook-home-set"), "carddav").await;
    assert!(hrefs.contains(&"/dav/addressbooks/alice/contacts/".to_owned()), "{hrefs:?}");
    let r = server
        .client("alice")
        .propfind("/dav/addressbooks/alice/contacts/", "0", &propfind_body(&["D:resourcetype"]))
        .await;
    assert!(r.xml().responses()[0].ok(DAV, "resourcetype").child(CARDDAV, "addressbook").is_some());
    server.stop().await;
}

#[tokio::test]
async fn discovery_properties_answer_everywhere() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let props = [
        "D:current-user-principal",
        "D:principal-URL",
        "D:principal-collection-set",
        "C:calendar-home-set",
        "CR:addressbook-home-set",
        "C:calendar-user-address-set",
        "D:displayname",
        "D:supported-report-set",
        "D:current-user-privilege-set",
        "D:resourcetype",
    ];
    for path in [
        "/",
        "/dav/",
        "/dav/principals/alice/",
        "/dav/calendars/alice/",
        "/dav/calendars/alice/calendar/",
        "/dav/addressbooks/alice/contacts/",
    ] {
        let r = c.propfind(path, "0", &propfind_body(&props)).await;
        r.assert_status(207);
        let doc = r.xml();
        let resp = &doc.responses()[0];
        assert_eq!(resp.href_prop(DAV, "current-user-principal"), "/dav/principals/alice/", "{path}");
        assert_eq!(resp.href_prop(CALDAV, "calendar-home-set"), "/dav/calendars/alice/", "{path}");
        assert_eq!(resp.href_prop(CARDDAV, "addressbook-home-set"), "/dav/addressbooks/alice/", "{path}");
        assert_eq!(resp.href_prop(DAV, "principal-collection-set"), "/dav/principals/", "{path}");
        resp.ok(DAV, "current-user-privilege-set");
        resp.ok(DAV, "resourcetype");
        resp.ok(DAV, "supported-report-set");
        assert!(r.header("dav").is_some(), "DAV header on PROPFIND (Apple)");
    }
    server.stop().await;
}

#[tokio::test]
async fn base_path_prefixes_every_href() {
    let server = TestServer::start_with(|c| c.base_path = "/groupware".into()).await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let r = c.go("PROPFIND", "/.well-known/caldav").await;
    assert_eq!(r.header("location"), Some("/groupware/dav/"));
    let r = c
        .propfind(
            "/groupware/dav/",
            "0",
            &propfind_body(&["D:current-user-principal", "C:calendar-home-set"]),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    assert_eq!(doc.responses()[0].href(), "/groupware/dav/");
    assert_eq!(
        doc.responses()[0].href_prop(DAV, "current-user-principal"),
        "/groupware/dav/principals/alice/"
    );
    c.go("PROPFIND", "/dav/").await.assert_status(404);
    server.stop().await;
}

#[tokio::test]
async fn unauthenticated_options_advertises_dav_without_describing_resources() {
    let server = TestServer::start().await;
    for path in ["/dav/", "/dav/calendars/nobody/secret/", "/"] {
        let r = server.anonymous().go("OPTIONS", path).await;
        r.assert_status(200);
        assert!(r.header("dav").unwrap().contains("calendar-access"), "RFC 4918 §10.1 on {path}");
        assert_eq!(
            r.header("allow"),
            server.anonymous().go("OPTIONS", "/dav/").await.header("allow"),
            "same for every path"
        );
    }
    // Any other method without credentials is challenged, and the challenge names DAV too.
    let r = server.anonymous().go("PROPFIND", "/dav/").await;
    r.assert_status(401);
    assert!(r.header("dav").is_some());
    server.stop().await;
}

/// python-caldav (niquests) sends headers and body separately and reuses the connection for
/// its retry with credentials: a 401 must not silently kill the connection.
#[tokio::test]
async fn a_401_keeps_the_connection_usable_for_the_retry() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let body =
        "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>";
    let head =
        format!("PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: {}\r\n\r\n", body.len());
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tcp.write_all(body.as_bytes()).await.unwrap();
    let first = read_response(&mut tcp).await;
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    let auth = base64_basic("alice", crate::harness::PASSWORD);
    let retry = format!(
        "PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(retry.as_bytes()).await.unwrap();
    let second = read_response(&mut tcp).await;
    assert!(second.starts_with("HTTP/1.1 207"), "retry on the same connection: {second}");

    async fn read_response(tcp: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return text;
                }
            }
        }
    }
    server.stop().await;
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test]
async fn options_asterisk_describes_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\ndav: 1, 3"), "{answer}");
    server.stop().await;
}

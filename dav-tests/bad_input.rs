//! Hostile and malformed input. Every case must get a clear 4xx, a human message where the
//! server sends one, and must change nothing: each test snapshots what the users can see
//! (Depth-1 PROPFIND of every collection, GET of every object) before and after.
//!
//! Requests whose path `reqwest` would normalise (`..`, `%2e%2e`, `//`) are written by hand
//! on a raw TCP connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use davit::dav::names::DAVIT;
use davit::store::{HomeKind, Role};
use hyper::body::Frame;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::roxml::DAV;
use crate::harness::{Client, PASSWORD, Reply, TestServer, propfind_body};

const HOME: &str = "/dav/calendars/alice/";
const CAL: &str = "/dav/calendars/alice/calendar/";
const ALICE_OBJECT: &str = "/dav/calendars/alice/calendar/a.ics";
const BOB_OBJECT: &str = "/dav/calendars/bob/calendar/bob.ics";
/// Only in bob's object: no answer to alice may ever contain it.
const BOB_SECRET: &str = "BOB-SECRET-4711";

// --- fixtures and helpers ---------------------------------------------------------------

fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         DTEND:20240102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// alice with `a.ics` in her calendar; bob with `bob.ics` in his.
async fn server_with_alice_and_bob() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    server
        .client("alice")
        .put(ALICE_OBJECT, "text/calendar", &ics("alice-1", "Alice"))
        .await
        .assert_status(201);
    server.client("bob").put(BOB_OBJECT, "text/calendar", &ics("bob-1", BOB_SECRET)).await.assert_status(201);
    server
}

/// Every "changes nothing" check relies on `snapshot`: it must notice each kind of change.
#[tokio::test]
async fn snapshot_notices_every_kind_of_change() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let mut last = server.snapshot("alice").await;
    let dead_prop = "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><t:mark xmlns:t=\"urn:test\">1\
                     </t:mark></D:prop></D:set></D:propertyupdate>";
    for step in 0..4 {
        let (what, r) = match step {
            0 => ("a dead property", c.body("PROPPATCH", CAL, dead_prop).await),
            // Same length, one letter different.
            1 => ("a rewritten object", c.put(ALICE_OBJECT, "text/calendar", &ics("alice-1", "Alicf")).await),
            2 => ("an empty collection", c.go("MKCOL", "/dav/addressbooks/alice/empty/").await),
            _ => ("a deleted object", c.go("DELETE", ALICE_OBJECT).await),
        };
        assert!(r.status.is_success(), "{what}: {}\n{}", r.status, r.body);
        let now = server.snapshot("alice").await;
        assert_ne!(last, now, "the snapshot missed {what}");
        last = now;
    }
    server.stop().await;
}

/// Asserts a `DAV:error` answer: the status, the precondition element if one is expected,
/// and a non-empty human message in davit's namespace.
#[track_caller]
fn assert_dav_error(r: &Reply, status: u16, condition: Option<&str>, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: unexpected status; body:\n{}", r.body);
    let doc = r.xml();
    assert!(doc.root.is(DAV, "error"), "{what}: expected a DAV:error body:\n{}", r.body);
    if let Some(c) = condition {
        assert!(doc.root.child(DAV, c).is_some(), "{what}: DAV:error lacks DAV:{c}:\n{}", r.body);
    }
    let message = doc.root.child(DAVIT, "message").map(|m| m.text()).unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: DAV:error without a human message:\n{}", r.body);
}

/// A refusal of the request itself: 4xx, but not an authentication problem (which would mean
/// the request was never really judged).
#[track_caller]
fn assert_refused(r: &Reply, what: &str) {
    assert!(
        r.status.is_client_error() && ![401, 429].contains(&r.status.as_u16()),
        "{what}: expected a 4xx refusal, got {}; body:\n{}",
        r.status,
        r.body
    );
}

/// Sends a hand-written HTTP/1.1 request as alice, so the request target reaches the
/// server byte for byte.
async fn raw(
    server: &TestServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let credentials = STANDARD.encode(format!("alice:{PASSWORD}"));
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\n\
         Connection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{method} {target}: no answer within 30 s"))
        .expect("read");
    parse_raw_response(&buf, &format!("{method} {target}"))
}

fn parse_raw_response(buf: &[u8], what: &str) -> Reply {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let code: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no HTTP status line in {text:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(n), Ok(v)) =
                (HeaderName::from_bytes(name.trim().as_bytes()), HeaderValue::from_str(value.trim()))
        {
            headers.append(n, v);
        }
    }
    Reply { status: StatusCode::from_u16(code).expect("status code"), headers, body: body.to_owned() }
}

/// A request body of known chunks and unknown length, so it is sent chunked.
struct Chunked(VecDeque<Bytes>);

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

async fn send_xml(c: &Client, method: &str, path: &str, body: Vec<u8>) -> Reply {
    let mut rb = c.request(method, path).header("Content-Type", "application/xml; charset=utf-8");
    if method == "PROPFIND" {
        rb = rb.header("Depth", "0");
    }
    c.send(rb.body(body)).await
}

// --- XML bodies ---------------------------------------------------------------------------

/// Where each XML-taking method is tried: PROPFIND and PROPPATCH on an existing calendar,
/// extended MKCOL on a new URL (which must stay 404).
const XML_TARGETS: [(&str, &str); 3] =
    [("PROPFIND", CAL), ("PROPPATCH", CAL), ("MKCOL", "/dav/calendars/alice/new-collection/")];

#[tokio::test]
async fn malformed_xml_bodies_are_400_and_change_nothing() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("mismatched tags", include_bytes!("../fixtures/hostile/mismatched.xml").to_vec()),
        ("truncated", b"<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>".to_vec()),
        ("not XML at all", b"hello, this is not XML".to_vec()),
        (
            "two roots",
            b"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind><D:propfind xmlns:D=\"DAV:\"/>".to_vec(),
        ),
        ("text after the root", b"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>trailing".to_vec()),
        ("unquoted attribute", b"<D:propfind xmlns:D=DAV:><D:allprop/></D:propfind>".to_vec()),
        (
            "invalid UTF-8",
            b"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:display\xff\xfename/></D:prop></D:propfind>".to_vec(),
        ),
        ("control character", b"<D:propfind xmlns:D=\"DAV:\"><D:prop>\x01</D:prop></D:propfind>".to_vec()),
    ];
    for (method, path) in XML_TARGETS {
        for (what, body) in &bodies {
            let r = send_xml(&c, method, path, body.clone()).await;
            // RFC 4918 §8.2: XML that is not well-formed is rejected with 400, MKCOL included.
            assert_dav_error(&r, 400, None, &format!("{method} with a {what} body"));
        }
    }
    // PROPPATCH with no body at all is malformed too (it has no default meaning).
    let r = send_xml(&c, "PROPPATCH", CAL, Vec::new()).await;
    assert_dav_error(&r, 400, None, "PROPPATCH with an empty body");
    c.go("GET", "/dav/calendars/alice/new-collection/").await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn doctype_and_entities_are_refused_with_no_external_entities() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let cases: [(&str, &str, &str); 8] = [
        ("PROPFIND", CAL, include_str!("../fixtures/hostile/xxe.xml")),
        ("PROPFIND", CAL, include_str!("../fixtures/hostile/xxe-parameter.xml")),
        ("PROPFIND", CAL, include_str!("../fixtures/hostile/undeclared-entity.xml")),
        ("PROPPATCH", CAL, include_str!("../fixtures/hostile/xxe-proppatch.xml")),
        ("PROPPATCH", CAL, include_str!("../fixtures/hostile/internal-entity.xml")),
        ("PROPPATCH", CAL, include_str!("../fixtures/hostile/billion-laughs.xml")),
        ("PROPPATCH", ALICE_OBJECT, include_str!("../fixtures/hostile/xxe-proppatch.xml")),
        ("MKCOL", "/dav/calendars/alice/xxe/", include_str!("../fixtures/hostile/xxe-mkcol.xml")),
    ];
    for (method, path, body) in cases {
        let r = send_xml(&c, method, path, body.as_bytes().to_vec()).await;
        // RFC 4918 §16: DAV:no-external-entities is "use with 403 Forbidden".
        assert_dav_error(&r, 403, Some("no-external-entities"), &format!("{method} {path}"));
        for leak in ["root:", "/bin/", "nologin", "lollol"] {
            assert!(!r.body.contains(leak), "{method} {path}: answer contains {leak:?}:\n{}", r.body);
        }
    }
    c.go("GET", "/dav/calendars/alice/xxe/").await.assert_status(404);
    let after = server.snapshot("alice").await;
    assert!(!after.contains("root:"), "{after}");
    assert_eq!(before, after);
    server.stop().await;
}

#[tokio::test]
async fn namespace_and_root_element_errors_are_400() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let cases: [(&str, &str, &str, &str); 10] = [
        ("undeclared prefix", "PROPFIND", CAL, include_str!("../fixtures/hostile/unknown-prefix.xml")),
        ("undeclared prefix on the root", "PROPFIND", CAL, "<D:propfind><D:allprop/></D:propfind>"),
        (
            "root in the wrong namespace",
            "PROPFIND",
            CAL,
            "<propfind xmlns=\"urn:other\"><allprop/></propfind>",
        ),
        ("root without namespace", "PROPFIND", CAL, "<propfind><allprop/></propfind>"),
        ("propfind with no child", "PROPFIND", CAL, "<D:propfind xmlns:D=\"DAV:\"/>"),
        (
            "undeclared prefix",
            "PROPPATCH",
            CAL,
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><X:color>red</X:color>\
             </D:prop></D:set></D:propertyupdate>",
        ),
        (
            "PROPPATCH root is propfind",
            "PROPPATCH",
            CAL,
            "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname/></D:prop></D:propfind>",
        ),
        (
            "propertyupdate in the wrong namespace",
            "PROPPATCH",
            CAL,
            "<propertyupdate xmlns=\"urn:other\"><set><prop><displayname xmlns=\"DAV:\">x\
             </displayname></prop></set></propertyupdate>",
        ),
        ("propertyupdate that changes nothing", "PROPPATCH", CAL, "<D:propertyupdate xmlns:D=\"DAV:\"/>"),
        (
            "propertyupdate with a foreign instruction",
            "PROPPATCH",
            CAL,
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:delete><D:prop><D:displayname/></D:prop>\
             </D:delete></D:propertyupdate>",
        ),
    ];
    for (what, method, path, body) in cases {
        let r = send_xml(&c, method, path, body.as_bytes().to_vec()).await;
        assert_dav_error(&r, 400, None, &format!("{method} with {what}"));
    }
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

fn nested(levels: usize, root_open: &str, root_close: &str) -> String {
    format!("{root_open}{}{}{root_close}", "<D:prop>".repeat(levels), "</D:prop>".repeat(levels))
}

fn flood(elements: usize, root_open: &str, root_close: &str) -> String {
    format!("{root_open}{}{root_close}", "<D:getetag/>".repeat(elements))
}

#[tokio::test]
async fn deep_nesting_and_element_floods_are_400_and_the_server_survives() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let propfind = ("<D:propfind xmlns:D=\"DAV:\">", "</D:propfind>");
    let proppatch = (
        "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><D:displayname>",
        "</D:displayname></D:prop></D:set></D:propertyupdate>",
    );
    let mkcol = (
        "<D:mkcol xmlns:D=\"DAV:\"><D:set><D:prop><D:displayname>",
        "</D:displayname></D:prop></D:set></D:mkcol>",
    );
    let cases: Vec<(&str, &str, String)> = vec![
        ("PROPFIND", CAL, include_str!("../fixtures/hostile/deep-nesting.xml").to_owned()),
        ("PROPFIND", CAL, nested(1000, propfind.0, propfind.1)),
        ("PROPPATCH", CAL, nested(1000, proppatch.0, proppatch.1)),
        ("MKCOL", "/dav/calendars/alice/deep/", nested(1000, mkcol.0, mkcol.1)),
        ("PROPFIND", CAL, flood(25_000, "<D:propfind xmlns:D=\"DAV:\"><D:prop>", "</D:prop></D:propfind>")),
        ("PROPPATCH", CAL, flood(25_000, proppatch.0, proppatch.1)),
        ("MKCOL", "/dav/calendars/alice/deep/", flood(25_000, mkcol.0, mkcol.1)),
    ];
    for (method, path, body) in cases {
        let r = send_xml(&c, method, path, body.into_bytes()).await;
        assert_dav_error(&r, 400, None, &format!("{method} {path}"));
        // Still answering, and normally.
        c.propfind(HOME, "0", &propfind_body(&["D:resourcetype"])).await.assert_status(207);
    }
    c.go("GET", "/dav/calendars/alice/deep/").await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

// --- body size ------------------------------------------------------------------------------

fn big_ics(bytes: usize) -> String {
    let base = ics("big-1", "Big");
    let filler = "x".repeat(bytes.saturating_sub(base.len()));
    base.replace("SUMMARY:Big", &format!("SUMMARY:Big\r\nDESCRIPTION:{filler}"))
}

async fn small_limit_server() -> TestServer {
    let server = TestServer::start_with(|config| config.max_body_bytes = 4096).await;
    server.add_user("alice", Role::Collaborator);
    server
}

#[track_caller]
fn assert_too_large(r: &Reply) {
    r.assert_status(413);
    r.assert_contains("4096");
}

#[tokio::test]
async fn body_over_the_limit_with_content_length_is_413_and_not_stored() {
    let server = small_limit_server().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let body = big_ics(8 * 1024);
    assert!(body.len() >= 8 * 1024);
    let path = "/dav/calendars/alice/calendar/big.ics";
    let r = c.put(path, "text/calendar", &body).await;
    assert_too_large(&r);
    c.go("GET", path).await.assert_status(404);
    // An XML body over the limit is refused before parsing.
    let r = c
        .propfind(
            CAL,
            "0",
            &format!(
                "<D:propfind xmlns:D=\"DAV:\"><D:prop>{}</D:prop></D:propfind>",
                "<D:getetag/>".repeat(700)
            ),
        )
        .await;
    assert_too_large(&r);
    assert_eq!(before, server.snapshot("alice").await);
    // The limit is what refused it: a body under it is stored.
    c.put(path, "text/calendar", &big_ics(2048)).await.assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_and_not_stored() {
    let server = small_limit_server().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let body = big_ics(8 * 1024);
    let chunks: VecDeque<Bytes> = body.as_bytes().chunks(1024).map(Bytes::copy_from_slice).collect();
    let path = "/dav/calendars/alice/calendar/big-chunked.ics";
    let r = c
        .send(
            c.request("PUT", path)
                .header("Content-Type", "text/calendar")
                .body(reqwest::Body::wrap(Chunked(chunks))),
        )
        .await;
    assert_too_large(&r);
    c.go("GET", path).await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

// --- paths ------------------------------------------------------------------------------------

/// Every spelling of "somewhere else" we know: dot segments raw and encoded, encoded slashes,
/// NUL, empty segments, invalid and overlong UTF-8, too many segments, an oversized segment.
fn hostile_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/dav/calendars/alice/../bob/calendar/bob.ics",
        "/dav/calendars/alice/../bob/calendar/",
        "/dav/calendars/alice/calendar/../../bob/calendar/bob.ics",
        "/dav/calendars/alice/%2e%2e/bob/calendar/bob.ics",
        "/dav/calendars/alice/%2E%2E/bob/calendar/bob.ics",
        "/dav/calendars/alice/%2e%2e/bob/calendar/",
        "/dav/calendars/alice/calendar/%2e%2e%2f%2e%2e%2fbob%2fcalendar%2fbob.ics",
        "/dav/calendars/alice/calendar/..%2f..%2fbob%2fcalendar%2fbob.ics",
        "/dav/calendars/alice/calendar/..%2F..%2Fbob%2Fcalendar%2Fbob.ics",
        "/dav/calendars/alice%2f..%2fbob/calendar/bob.ics",
        "/dav/calendars/alice/calendar%2Fevil.ics",
        "/dav/calendars/alice/calendar/evil%00.ics",
        "/dav/calendars/alice/calendar/%00",
        "/dav/calendars/alice/./calendar/evil.ics",
        "/dav/calendars/alice/calendar/./evil.ics",
        "/dav/calendars/alice/calendar/%2e/evil.ics",
        "/dav/calendars/./bob/calendar/bob.ics",
        "/dav/calendars/alice//calendar/evil.ics",
        "/dav/calendars//bob/calendar/bob.ics",
        "/dav/calendars/alice/calendar//evil.ics",
        "/dav/calendars/alice/calendar/%ff.ics",
        "/dav/calendars/alice/calendar/evil%c0%ae%c0%ae.ics",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.push(format!("/dav/calendars/alice/{}evil.ics", "a/".repeat(40)));
    paths.push(format!("/dav/calendars/alice/{}", "a/".repeat(40)));
    paths.push(format!("/dav/calendars/alice/calendar/{}.ics", "a".repeat(300)));
    paths.push(format!("/dav/calendars/alice/{}/", "a".repeat(300)));
    paths
}

/// Method, extra headers and body of one raw request.
type RawAttempt<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8]);

#[tokio::test]
async fn path_traversal_in_every_form_stays_inside_alices_space() {
    let server = server_with_alice_and_bob().await;
    let alice_before = server.snapshot("alice").await;
    let bob_before = server.snapshot("bob").await;
    let evil = ics("evil-1", "EVIL");
    // Control: the raw client is authenticated and reaches alice's data.
    let r = raw(&server, "GET", ALICE_OBJECT, &[], b"").await;
    r.assert_status(200).assert_contains("SUMMARY:Alice");
    for path in hostile_paths() {
        let attempts: [RawAttempt<'_>; 5] = [
            ("GET", &[], b""),
            ("PUT", &[("Content-Type", "text/calendar")], evil.as_bytes()),
            ("PROPFIND", &[("Depth", "1"), ("Content-Type", "application/xml")], b""),
            ("MKCOL", &[], b""),
            ("DELETE", &[], b""),
        ];
        for (method, headers, body) in attempts {
            let r = raw(&server, method, &path, headers, body).await;
            assert_refused(&r, &format!("{method} {path}"));
            assert!(!r.body.contains(BOB_SECRET), "{method} {path} leaked bob's data:\n{}", r.body);
        }
        // The same paths as a COPY or MOVE Destination, as a path and as a URL.
        for dest in [path.clone(), format!("http://{}{path}", server.addr)] {
            for method in ["COPY", "MOVE"] {
                let r =
                    raw(&server, method, ALICE_OBJECT, &[("Destination", &dest), ("Overwrite", "T")], b"")
                        .await;
                assert_refused(&r, &format!("{method} {ALICE_OBJECT} → {dest}"));
            }
        }
    }
    // A plain Destination in bob's space is refused too (no traversal needed to try).
    for dest in [
        BOB_OBJECT.to_owned(),
        "/dav/calendars/bob/calendar/stolen.ics".to_owned(),
        format!("http://{}/dav/calendars/bob/calendar/stolen.ics", server.addr),
    ] {
        for method in ["COPY", "MOVE"] {
            let r = raw(&server, method, ALICE_OBJECT, &[("Destination", &dest)], b"").await;
            assert_refused(&r, &format!("{method} → {dest}"));
        }
    }
    // Nothing changed for bob, and alice has nothing new (and lost nothing).
    assert_eq!(bob_before, server.snapshot("bob").await);
    assert_eq!(alice_before, server.snapshot("alice").await);
    let bob = server.store().principal_by_slug("bob").unwrap().unwrap();
    let home = server.store().home(bob.id, HomeKind::Calendar).unwrap().unwrap();
    let cal = server.store().child_collection(home.id, "calendar").unwrap().unwrap();
    let obj = server.store().object(cal.id, "bob.ics").unwrap().unwrap();
    let stored = server.store().object_body(obj.id).unwrap().unwrap();
    assert_eq!(stored, ics("bob-1", BOB_SECRET).into_bytes());
    assert_eq!(server.store().members(cal.id).unwrap().len(), 1);
    server.stop().await;
}

// --- methods and headers ----------------------------------------------------------------------

#[tokio::test]
async fn put_or_mkcol_under_a_missing_parent_is_409() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let path = "/dav/calendars/alice/no-such-collection/x.ics";
    let r = c.put(path, "text/calendar", &ics("orphan", "Orphan")).await;
    assert_dav_error(&r, 409, None, "PUT under a missing parent");
    let r = c.go("MKCOL", "/dav/calendars/alice/no-such-collection/sub/").await;
    assert_dav_error(&r, 409, None, "MKCOL under a missing parent");
    c.go("GET", path).await.assert_status(404);
    c.go("GET", "/dav/calendars/alice/no-such-collection/").await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn mkcol_with_a_body_of_unknown_type_is_415() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let path = "/dav/calendars/alice/typed/";
    let r = c.send(c.request("MKCOL", path).header("Content-Type", "text/plain").body("hello")).await;
    assert_dav_error(&r, 415, None, "MKCOL with a text/plain body");
    c.go("GET", path).await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn garbage_depth_header_is_400() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    for depth in ["2", "banana", "", "-1", "1 1", "infinityx"] {
        let r = c.propfind(HOME, depth, &propfind_body(&["D:resourcetype"])).await;
        assert_dav_error(&r, 400, None, &format!("PROPFIND with Depth {depth:?}"));
        // COPY and DELETE read Depth too; a bad one must not half-run them.
        let r = c
            .send(
                c.request("COPY", ALICE_OBJECT)
                    .header("Depth", depth)
                    .header("Destination", "/dav/calendars/alice/calendar/copy.ics"),
            )
            .await;
        assert_dav_error(&r, 400, None, &format!("COPY with Depth {depth:?}"));
        let r = c.send(c.request("DELETE", ALICE_OBJECT).header("Depth", depth)).await;
        assert_dav_error(&r, 400, None, &format!("DELETE with Depth {depth:?}"));
    }
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn garbage_overwrite_header_is_400() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    for overwrite in ["maybe", "", "TRUE", "1", "T F"] {
        for method in ["COPY", "MOVE"] {
            let r = c
                .send(
                    c.request(method, ALICE_OBJECT)
                        .header("Overwrite", overwrite)
                        .header("Destination", "/dav/calendars/alice/calendar/b.ics"),
                )
                .await;
            assert_dav_error(&r, 400, None, &format!("{method} with Overwrite {overwrite:?}"));
        }
    }
    c.go("GET", "/dav/calendars/alice/calendar/b.ics").await.assert_status(404);
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn destination_on_another_host_is_502() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    let port = server.addr.port();
    for dest in [
        "http://evil.example/dav/calendars/alice/calendar/b.ics".to_owned(),
        format!("http://evil.example:{port}/dav/calendars/alice/calendar/b.ics"),
        // Same host, other port: another server.
        format!(
            "http://127.0.0.1:{}/dav/calendars/alice/calendar/b.ics",
            if port == 1 { 2 } else { port - 1 }
        ),
    ] {
        for method in ["COPY", "MOVE"] {
            let r = c.send(c.request(method, ALICE_OBJECT).header("Destination", &dest)).await;
            assert_dav_error(&r, 502, None, &format!("{method} to {dest}"));
        }
    }
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn destination_that_is_not_a_uri_is_400() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    let before = server.snapshot("alice").await;
    for dest in ["not a uri", "http://[::1", "http://exa mple.org/x", "", "::::"] {
        for method in ["COPY", "MOVE"] {
            let r = c.send(c.request(method, ALICE_OBJECT).header("Destination", dest)).await;
            assert_dav_error(&r, 400, None, &format!("{method} to {dest:?}"));
        }
    }
    // And a missing Destination.
    let r = c.go("COPY", ALICE_OBJECT).await;
    assert_dav_error(&r, 400, None, "COPY without Destination");
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

#[tokio::test]
async fn names_with_spaces_unicode_and_reserved_characters_round_trip() {
    let server = server_with_alice_and_bob().await;
    let c = server.client("alice");
    c.go("MKCOL", "/dav/calendars/alice/files/").await.assert_status(201);
    let encoded = "/dav/calendars/alice/files/a%20b%25c%23d%3Fe%C3%BC.txt";
    let name = "a b%c#d?eü.txt";
    c.put(encoded, "text/plain", "round trip").await.assert_status(201);
    // The listing names it in exactly the same encoded form.
    let r = c.propfind("/dav/calendars/alice/files/", "1", &propfind_body(&["D:getetag"])).await;
    r.assert_status(207);
    let hrefs = r.xml().hrefs();
    assert!(hrefs.contains(&encoded.to_owned()), "{hrefs:?}");
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap();
    assert_eq!(decoded, format!("/dav/calendars/alice/files/{name}"));
    // GET by that href returns the body; the store holds the decoded name.
    let g = c.go("GET", encoded).await;
    g.assert_status(200);
    assert_eq!(g.body, "round trip");
    let alice = server.store().principal_by_slug("alice").unwrap().unwrap();
    let home = server.store().home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let files = server.store().child_collection(home.id, "files").unwrap().unwrap();
    assert!(server.store().object(files.id, name).unwrap().is_some());
    // A lower-case spelling of the same escapes is the same resource, not a new one.
    let g = c.go("GET", "/dav/calendars/alice/files/a%20b%25c%23d%3fe%c3%bc.txt").await;
    g.assert_status(200);
    assert_eq!(server.store().members(files.id).unwrap().len(), 1);
    server.stop().await;
}

// --- authentication ---------------------------------------------------------------------------

/// The login attempts allowed before a login is locked (brief: "after 5 wrong passwords
/// the next attempt gets 429") and the failures allowed per client address.
const ACCOUNT_LIMIT: usize = 5;
const ADDRESS_LIMIT: usize = 20;

async fn login(server: &TestServer, user: &str, password: &str) -> Reply {
    let c = server.anonymous();
    c.send(c.request("PROPFIND", "/dav/").header("Depth", "0").basic_auth(user, Some(password))).await
}

async fn with_authorization(server: &TestServer, value: &str) -> Reply {
    let c = server.anonymous();
    c.send(c.request("PROPFIND", "/dav/").header("Depth", "0").header("Authorization", value)).await
}

#[track_caller]
fn assert_challenge(r: &Reply) {
    r.assert_status(401);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic realm="), "{challenge:?}");
    assert!(!r.body.trim().is_empty(), "401 without a message");
}

fn comparable_headers(r: &Reply) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    h.sort();
    h
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_identical_401s() {
    let server = server_with_alice_and_bob().await;
    let wrong = login(&server, "alice", "not the password").await;
    let unknown = login(&server, "mallory", "not the password").await;
    assert_challenge(&wrong);
    assert_challenge(&unknown);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(comparable_headers(&wrong), comparable_headers(&unknown));
    // No credentials at all: the same challenge.
    let none = server.anonymous().go("PROPFIND", "/dav/").await;
    assert_challenge(&none);
    assert_eq!(comparable_headers(&wrong), comparable_headers(&none));
    server.stop().await;
}

#[tokio::test]
async fn malformed_authorization_headers_get_401() {
    let server = server_with_alice_and_bob().await;
    let no_colon = format!("Basic {}", STANDARD.encode(format!("alice{PASSWORD}")));
    let nul = format!("Basic {}", STANDARD.encode(format!("alice\0:{PASSWORD}")));
    let empty_login = format!("Basic {}", STANDARD.encode(format!(":{PASSWORD}")));
    let huge = format!("Basic {}", "A".repeat(8000));
    for value in [
        "Basic !!!not-base64!!!",
        "Basic",
        "Basic ",
        &no_colon,
        &nul,
        &empty_login,
        "Bearer x",
        "Digest username=\"alice\"",
        &huge,
    ] {
        let r = with_authorization(&server, value).await;
        assert_challenge(&r);
    }
    // None of that locked alice out.
    login(&server, "alice", PASSWORD).await.assert_status(207);
    server.stop().await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_with_429() {
    let server = server_with_alice_and_bob().await;
    for i in 0..ACCOUNT_LIMIT {
        let r = login(&server, "alice", &format!("wrong {i}")).await;
        assert_challenge(&r);
    }
    // Even the right password is refused now.
    let r = login(&server, "alice", PASSWORD).await;
    assert_eq!(
        r.status.as_u16(),
        429,
        "after {ACCOUNT_LIMIT} wrong passwords the next attempt must be throttled; body:\n{}",
        r.body
    );
    let retry: u64 =
        r.header("retry-after").expect("Retry-After on 429").parse().expect("Retry-After in seconds");
    assert!(retry >= 1);
    assert!(!r.body.trim().is_empty(), "429 without a message");
    // Another user from the same address is not affected by alice's lock.
    login(&server, "bob", PASSWORD).await.assert_status(207);
    server.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_throttle_everyone_there_after_the_limit() {
    let server = server_with_alice_and_bob().await;
    // alice's typos count against her login and against the address.
    for i in 0..ACCOUNT_LIMIT - 1 {
        assert_challenge(&login(&server, "alice", &format!("wrong {i}")).await);
    }
    // A different, correct user still works…
    login(&server, "bob", PASSWORD).await.assert_status(207);
    // …and keeps working while the address stays under its limit (distinct logins, so no
    // account lock). bob's success must not reset the address count, or one valid account
    // would let an attacker launder any number of guesses.
    let mut failures = ACCOUNT_LIMIT - 1;
    while failures < ADDRESS_LIMIT - 1 {
        assert_challenge(&login(&server, &format!("guess{failures}"), "wrong").await);
        failures += 1;
    }
    login(&server, "bob", PASSWORD).await.assert_status(207);
    // The limit-th failure locks the address for everyone behind it.
    assert_challenge(&login(&server, "last-guess", "wrong").await);
    let r = login(&server, "bob", PASSWORD).await;
    assert_eq!(
        r.status.as_u16(),
        429,
        "after {ADDRESS_LIMIT} failures from one address the next login must be throttled; body:\n{}",
        r.body
    );
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)));
    server.stop().await;
}

#[tokio::test]
async fn login_by_email_is_case_insensitive() {
    let server = server_with_alice_and_bob().await;
    for login_name in ["alice@example.org", "ALICE@Example.ORG"] {
        let c = server.anonymous();
        let r = c
            .send(
                c.request("PROPFIND", "/dav/")
                    .header("Depth", "0")
                    .header("Content-Type", "application/xml")
                    .basic_auth(login_name, Some(PASSWORD))
                    .body(propfind_body(&["D:current-user-principal"])),
            )
            .await;
        r.assert_status(207);
        assert_eq!(
            r.xml().responses()[0].href_prop(DAV, "current-user-principal"),
            "/dav/principals/alice/",
            "{login_name}"
        );
    }
    // A wrong password by e-mail is still a 401.
    assert_challenge(&login(&server, "alice@example.org", "nope").await);
    server.stop().await;
}

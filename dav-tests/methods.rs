//! Every WebDAV class-1 method (RFC 4918 §9) with its preconditions and statuses, checked on
//! the wire: status, headers and XML of each answer, and for every refused request that the
//! refusal changed nothing (the resource is read back afterwards).

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use davit::dav::xml::Element;
use davit::store::Role;
use hyper::body::Frame;
use reqwest::header::HeaderMap;

use crate::harness::roxml::{DAV, ResponseView};
use crate::harness::{Client, Reply, TestServer};

const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
const APPLE: &str = "http://apple.com/ns/ical/";
const DAVIT: &str = "https://davit.dev/ns/";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of the dead properties the tests invent (prefix `T:` in bodies).
const T: &str = "urn:x-davit-test:";

const OK: &str = "HTTP/1.1 200 OK";
const NOT_FOUND: &str = "HTTP/1.1 404 Not Found";

const HOME: &str = "/dav/calendars/alice/";
const CAL: &str = "/dav/calendars/alice/calendar/";
/// A plain WebDAV collection in alice's calendar home (any bytes may be stored in it).
const FILES: &str = "/dav/calendars/alice/files/";

const NS_DECL: &str = "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" \
     xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:A=\"http://apple.com/ns/ical/\" \
     xmlns:T=\"urn:x-davit-test:\"";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn alice() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    (server, c)
}

/// alice, with the plain collection `FILES` created.
async fn alice_with_files() -> (TestServer, Client) {
    let (server, c) = alice().await;
    c.go("MKCOL", FILES).await.assert_status(201);
    (server, c)
}

fn f(name: &str) -> String {
    format!("{FILES}{name}")
}

/// A PROPFIND body for `D:`, `C:`, `CR:`, `A:` or `T:` prefixed property names.
fn pf(props: &[&str]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind {NS_DECL}><D:prop>");
    for p in props {
        s.push_str(&format!("<{p}/>"));
    }
    s.push_str("</D:prop></D:propfind>");
    s
}

fn patch_body(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propertyupdate {NS_DECL}>{inner}</D:propertyupdate>"
    )
}

async fn proppatch(c: &Client, path: &str, inner: &str) -> Reply {
    c.body("PROPPATCH", path, &patch_body(inner)).await
}

fn set(props: &str) -> String {
    format!("<D:set><D:prop>{props}</D:prop></D:set>")
}

fn remove(props: &str) -> String {
    format!("<D:remove><D:prop>{props}</D:prop></D:remove>")
}

async fn put_text(c: &Client, path: &str, body: &str) -> Reply {
    c.put(path, "text/plain; charset=utf-8", body).await
}

async fn put_bytes(c: &Client, path: &str, content_type: &str, body: &[u8]) -> Reply {
    c.send(c.request("PUT", path).header("Content-Type", content_type).body(body.to_vec())).await
}

/// An answer whose body is kept as bytes.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn raw(rb: reqwest::RequestBuilder) -> Raw {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Raw { status, headers, body }
}

async fn get_raw(c: &Client, path: &str) -> Raw {
    raw(c.request("GET", path)).await
}

/// Asserts a GET answer is 200 with exactly `body`.
#[track_caller]
fn assert_body(r: &Raw, body: &[u8]) {
    assert_eq!(r.status, 200, "GET status");
    assert_eq!(
        r.body,
        body,
        "stored bytes differ:\n got {:?}\nwant {:?}",
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(body)
    );
}

async fn assert_stored(c: &Client, path: &str, body: &[u8]) {
    let r = get_raw(c, path).await;
    assert_eq!(r.status, 200, "GET {path}");
    assert_eq!(
        r.body,
        body,
        "{path}: got {:?}, want {:?}",
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(body)
    );
}

async fn assert_missing(c: &Client, path: &str) {
    let r = c.go("GET", path).await;
    assert_eq!(r.status.as_u16(), 404, "{path} should not exist; body:\n{}", r.body);
    let r = c.propfind(path, "0", &pf(&["D:resourcetype"])).await;
    assert_eq!(r.status.as_u16(), 404, "PROPFIND {path}; body:\n{}", r.body);
}

/// The hrefs a Depth 1 PROPFIND lists for `path`.
async fn listing(c: &Client, path: &str) -> BTreeSet<String> {
    let r = c.propfind(path, "1", &pf(&["D:resourcetype"])).await;
    r.assert_status(207);
    r.xml().hrefs().into_iter().collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The comma-separated tokens of every instance of a header.
fn header_tokens(headers: &HeaderMap, name: &str) -> BTreeSet<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn find<'a>(el: &'a Element, ns: &str, name: &str) -> Option<&'a Element> {
    if el.is(ns, name) {
        return Some(el);
    }
    el.elements().find_map(|c| find(c, ns, name))
}

/// The xml:lang in scope at the first element named (ns, name): `Some(None)` when none is.
fn lang_in_scope(el: &Element, ns: &str, name: &str, inherited: Option<&str>) -> Option<Option<String>> {
    let lang =
        el.attrs.iter().find(|a| a.ns == XML_NS && a.name == "lang").map(|a| a.value.as_str()).or(inherited);
    if el.is(ns, name) {
        return Some(lang.map(str::to_owned));
    }
    el.elements().find_map(|c| lang_in_scope(c, ns, name, lang))
}

/// The propstats of a response in document order: status line and property names.
fn propstats(resp: &ResponseView<'_>) -> Vec<(String, Vec<(String, String)>)> {
    resp.el
        .elements()
        .filter(|e| e.is(DAV, "propstat"))
        .map(|ps| {
            let status = ps.child(DAV, "status").map(|s| s.text()).unwrap_or_default();
            let names = ps
                .child(DAV, "prop")
                .map(|p| p.elements().map(|e| (e.ns.clone(), e.name.clone())).collect())
                .unwrap_or_default();
            (status, names)
        })
        .collect()
}

fn names_with(resp: &ResponseView<'_>, status: &str) -> BTreeSet<(String, String)> {
    propstats(resp).into_iter().filter(|(s, _)| s == status).flat_map(|(_, n)| n).collect()
}

fn q(ns: &str, name: &str) -> (String, String) {
    (ns.to_owned(), name.to_owned())
}

/// Asserts an error answer: status, a `DAV:error` body holding the condition element and
/// a human message in davit's namespace. Returns the `DAV:error` element.
#[track_caller]
fn assert_dav_error(r: &Reply, status: u16, ns: &str, name: &str) -> Element {
    r.assert_status(status);
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.contains("xml"), "error body content type {ct:?}");
    let doc = r.xml();
    assert!(doc.root.is(DAV, "error"), "root is not DAV:error:\n{}", r.body);
    assert!(doc.root.child(ns, name).is_some(), "DAV:error lacks {{{ns}}}{name}:\n{}", r.body);
    let message = doc.root.child(DAVIT, "message").map(|m| m.text()).unwrap_or_default();
    assert!(!message.trim().is_empty(), "no x:message:\n{}", r.body);
    doc.root
}

/// RFC 3744 §7.1.1: 403 with `DAV:need-privileges` naming `href` and `privilege`.
#[track_caller]
fn assert_need_privileges(r: &Reply, href: &str, privilege: &str) {
    let root = assert_dav_error(r, 403, DAV, "need-privileges");
    let np = root.child(DAV, "need-privileges").unwrap();
    let listed: Vec<(String, Vec<String>)> = np
        .elements()
        .filter(|e| e.is(DAV, "resource"))
        .map(|res| {
            let h = res.child(DAV, "href").map(|h| h.text()).unwrap_or_default();
            let privs = res
                .child(DAV, "privilege")
                .map(|p| p.elements().filter(|e| e.ns == DAV).map(|e| e.name.clone()).collect())
                .unwrap_or_default();
            (h, privs)
        })
        .collect();
    assert!(
        listed.iter().any(|(h, p)| h == href && p.iter().any(|p| p == privilege)),
        "need-privileges should name {href} / DAV:{privilege}, lists {listed:?}"
    );
}

#[track_caller]
fn assert_strong_etag(etag: &str) {
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "ETag {etag:?} is not a quoted strong entity tag"
    );
    assert!(!etag[1..etag.len() - 1].contains('"'), "ETag {etag:?}");
}

/// A minimal iCalendar object with CRLF line ends and non-ASCII text.
fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\n\
         DTEND:20250102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn tomorrow() -> String {
    http_date(SystemTime::now() + Duration::from_secs(86_400))
}

const LONG_AGO: &str = "Mon, 01 Jan 1990 00:00:00 GMT";

fn destination(c: &Client, path: &str) -> String {
    format!("{}{}", c.base, path)
}

async fn copy_move(c: &Client, method: &str, from: &str, to: &str, extra: &[(&str, &str)]) -> Reply {
    let mut rb = c.request(method, from).header("Destination", destination(c, to));
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    c.send(rb).await
}

/// The text of a dead `T:` property on `path`, or None when PROPFIND answers 404 for it.
async fn dead_prop(c: &Client, path: &str, name: &str) -> Option<String> {
    let r = c.propfind(path, "0", &pf(&[&format!("T:{name}")])).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = &doc.responses()[0];
    match resp.prop(T, name) {
        Some((el, status)) if status == OK => Some(el.text()),
        Some((_, status)) => {
            assert_eq!(status, NOT_FOUND, "{}", r.body);
            None
        }
        None => panic!("T:{name} not reported at all:\n{}", r.body),
    }
}

/// A request body made of separate chunks with no known length, so that it is sent with
/// `Transfer-Encoding: chunked` (Evolution does this).
struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

// ---------------------------------------------------------------------------------------
// OPTIONS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn options_dav_header_advertises_class_1_and_3_without_locking() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "x").await.assert_status(201);
    for path in [
        "/",
        "/dav/",
        "/dav/principals/alice/",
        HOME,
        CAL,
        FILES,
        "/dav/calendars/alice/files/a.txt",
        "/dav/addressbooks/alice/contacts/",
        "/dav/calendars/alice/nothing-here",
    ] {
        let r = c.go("OPTIONS", path).await;
        r.assert_status(200);
        let dav = header_tokens(&r.headers, "dav");
        for token in ["1", "3", "extended-mkcol", "calendar-access", "addressbook"] {
            assert!(dav.contains(token), "{path}: DAV {dav:?} lacks {token}");
        }
        // RFC 4918 §18.2: class 2 means LOCK support, which davit does not have.
        assert!(!dav.contains("2"), "{path}: DAV {dav:?} claims class 2");
        assert!(r.body.is_empty(), "{path}: OPTIONS body {:?}", r.body);
        let allow = header_tokens(&r.headers, "allow");
        assert!(allow.contains("OPTIONS"), "{path}: Allow {allow:?}");
        assert!(!allow.contains("LOCK") && !allow.contains("UNLOCK"), "{path}: {allow:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn options_allow_depends_on_resource_kind() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "x").await.assert_status(201);
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "/dav/calendars/alice/files/a.txt",
            &["OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "COPY", "MOVE"],
            &["MKCOL", "MKCALENDAR", "LOCK", "UNLOCK"],
        ),
        // MKCOL and MKCALENDAR on a mapped URL are 405 (RFC 4918 §9.3.1), PUT on a
        // collection too (§9.7.2 allows it), so Allow does not offer them there.
        (
            FILES,
            &["OPTIONS", "GET", "HEAD", "DELETE", "PROPFIND", "PROPPATCH", "COPY", "MOVE"],
            &["PUT", "MKCOL", "MKCALENDAR", "LOCK", "UNLOCK"],
        ),
        (
            CAL,
            &["OPTIONS", "GET", "HEAD", "DELETE", "PROPFIND", "PROPPATCH", "COPY", "MOVE"],
            &["PUT", "MKCOL", "MKCALENDAR", "LOCK", "UNLOCK"],
        ),
        // A home cannot be deleted, copied or moved.
        (
            HOME,
            &["OPTIONS", "GET", "HEAD", "PROPFIND", "PROPPATCH"],
            &["DELETE", "COPY", "MOVE", "PUT", "MKCOL", "MKCALENDAR", "LOCK", "UNLOCK"],
        ),
        (
            "/dav/calendars/alice/files/missing.txt",
            &["OPTIONS", "PUT", "MKCOL"],
            &["GET", "HEAD", "DELETE", "PROPFIND", "PROPPATCH", "COPY", "MOVE", "LOCK"],
        ),
    ];
    for (path, must, must_not) in cases {
        let r = c.go("OPTIONS", path).await;
        r.assert_status(200);
        let allow = header_tokens(&r.headers, "allow");
        for m in must {
            assert!(allow.contains(*m), "{path}: Allow {allow:?} lacks {m}");
        }
        for m in must_not {
            assert!(!allow.contains(*m), "{path}: Allow {allow:?} has {m}");
        }
    }
    server.stop().await;
}

/// RFC 9110 §15.5.6: a 405 MUST carry an Allow header with the methods the resource
/// supports (which therefore cannot include the refused one).
#[tokio::test]
async fn method_not_allowed_answers_carry_allow() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "x").await.assert_status(201);
    let cases =
        [("MKCOL", FILES.to_owned()), ("PUT", FILES.to_owned()), ("MKCOL", f("a.txt")), ("LOCK", f("a.txt"))];
    for (method, path) in cases {
        let r = c.go(method, &path).await;
        r.assert_status(405);
        let allow = header_tokens(&r.headers, "allow");
        assert!(!allow.is_empty(), "{method} {path}: 405 without an Allow header");
        assert!(!allow.contains(method), "{method} {path}: 405 but Allow {allow:?} lists it");
    }
    server.stop().await;
}

#[tokio::test]
async fn dav_header_is_sent_on_propfind_responses() {
    let (server, c) = alice().await;
    for path in ["/dav/", HOME, CAL] {
        let r = c.propfind(path, "0", &pf(&["D:resourcetype"])).await;
        r.assert_status(207);
        let dav = header_tokens(&r.headers, "dav");
        for token in ["1", "3", "calendar-access", "addressbook"] {
            assert!(dav.contains(token), "{path}: DAV {dav:?} lacks {token}");
        }
        assert!(!dav.contains("2"));
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// PROPFIND
// ---------------------------------------------------------------------------------------

const OBJECT_LIVE: [&str; 6] =
    ["resourcetype", "creationdate", "getcontentlength", "getcontenttype", "getetag", "getlastmodified"];

#[tokio::test]
async fn propfind_allprop_with_and_without_body_lists_live_and_dead_properties() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    proppatch(&c, &path, &set("<T:colour>blue</T:colour>")).await.assert_status(207);

    // RFC 4918 §9.1: an empty body is an allprop request.
    let empty = c.send(c.request("PROPFIND", &path).header("Depth", "0")).await;
    let explicit = c
        .propfind(
            &path,
            "0",
            &format!("<?xml version=\"1.0\"?><D:propfind {NS_DECL}><D:allprop/></D:propfind>"),
        )
        .await;
    let mut seen = Vec::new();
    for r in [&empty, &explicit] {
        r.assert_status(207);
        assert!(r.header("content-type").unwrap_or("").contains("xml"), "{:?}", r.header("content-type"));
        let doc = r.xml();
        assert!(doc.root.is(DAV, "multistatus"));
        assert_eq!(doc.hrefs(), std::slice::from_ref(&path));
        let resp = doc.response(&path);
        let ok = names_with(&resp, OK);
        for name in OBJECT_LIVE {
            assert!(ok.contains(&q(DAV, name)), "allprop lacks {name}:\n{}", r.body);
        }
        assert_eq!(resp.ok(T, "colour").text(), "blue", "dead property in allprop");
        assert!(names_with(&resp, NOT_FOUND).is_empty(), "allprop lists nothing as 404:\n{}", r.body);
        seen.push(ok);
    }
    assert_eq!(seen[0], seen[1], "no body and <allprop/> answer alike");
    server.stop().await;
}

#[tokio::test]
async fn propfind_allprop_include_adds_the_named_properties() {
    let (server, c) = alice().await;
    let plain = c.propfind(CAL, "0", &format!("<D:propfind {NS_DECL}><D:allprop/></D:propfind>")).await;
    plain.assert_status(207);
    let doc = plain.xml();
    let resp = doc.response(CAL);
    resp.ok(DAV, "resourcetype");
    assert!(
        resp.prop(DAV, "current-user-privilege-set").is_none(),
        "not an allprop property without include:\n{}",
        plain.body
    );

    let r = c
        .propfind(
            CAL,
            "0",
            &format!(
                "<D:propfind {NS_DECL}><D:allprop/><D:include>\
                 <D:current-user-privilege-set/><D:supported-report-set/>\
                 <C:supported-calendar-component-set/></D:include></D:propfind>"
            ),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(CAL);
    resp.ok(DAV, "resourcetype");
    resp.ok(DAV, "getlastmodified");
    let privs = resp.ok(DAV, "current-user-privilege-set");
    assert!(find(privs, DAV, "read").is_some(), "{}", r.body);
    resp.ok(DAV, "supported-report-set");
    let comps = resp.ok(CALDAV, "supported-calendar-component-set");
    assert!(comps.elements().any(|c| c.attr("name") == Some("VEVENT")));
    server.stop().await;
}

#[tokio::test]
async fn propfind_propname_lists_names_without_values() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    proppatch(&c, &path, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    let r = c.propfind(&path, "0", &format!("<D:propfind {NS_DECL}><D:propname/></D:propfind>")).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&path);
    let ok = names_with(&resp, OK);
    for name in OBJECT_LIVE {
        assert!(ok.contains(&q(DAV, name)), "propname lacks {name}:\n{}", r.body);
    }
    assert!(ok.contains(&q(T, "colour")), "propname lacks the dead property");
    for ps in resp.el.elements().filter(|e| e.is(DAV, "propstat")) {
        for p in ps.child(DAV, "prop").unwrap().elements() {
            assert!(
                p.children.is_empty(),
                "propname must give empty elements, {} has content:\n{}",
                p.name,
                r.body
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn propfind_unknown_properties_are_404_after_the_200_propstat() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    let r = c
        .propfind(&path, "0", &pf(&["T:nope", "D:getetag", "D:displayname-not", "D:getcontentlength"]))
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&path);
    let stats = propstats(&resp);
    assert_eq!(stats.len(), 2, "{}", r.body);
    // Exact status lines, 200 first (Thunderbird reads only the first one).
    assert_eq!(stats[0].0, OK);
    assert_eq!(stats[1].0, NOT_FOUND);
    assert_eq!(
        stats[0].1.iter().cloned().collect::<BTreeSet<_>>(),
        [q(DAV, "getcontentlength"), q(DAV, "getetag")].into_iter().collect()
    );
    assert_eq!(
        stats[1].1.iter().cloned().collect::<BTreeSet<_>>(),
        [q(T, "nope"), q(DAV, "displayname-not")].into_iter().collect()
    );
    // 404 properties are reported empty.
    let (nope, _) = resp.prop(T, "nope").unwrap();
    assert!(nope.children.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn propfind_depth_0_and_1_and_missing_depth() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("sub/deep.txt"), "d").await.assert_status(201);

    let r = c.propfind(FILES, "0", &pf(&["D:resourcetype"])).await;
    r.assert_status(207);
    assert_eq!(r.xml().hrefs(), [FILES]);

    let one = set_of(&[FILES, &f("a.txt"), &f("sub/")]);
    let r = c.propfind(FILES, "1", &pf(&["D:resourcetype"])).await;
    r.assert_status(207);
    let doc = r.xml();
    assert_eq!(doc.hrefs().into_iter().collect::<BTreeSet<_>>(), one, "Depth 1 stops at members");
    let sub = doc.response(&f("sub/"));
    assert!(sub.ok(DAV, "resourcetype").child(DAV, "collection").is_some());
    let a = doc.response(&f("a.txt"));
    assert!(a.ok(DAV, "resourcetype").elements().next().is_none(), "objects have an empty resourcetype");

    // Missing Depth means infinity (§9.1); davit deliberately answers it as Depth 1.
    let r = c
        .send(
            c.request("PROPFIND", FILES)
                .header("Content-Type", "application/xml")
                .body(pf(&["D:resourcetype"])),
        )
        .await;
    r.assert_status(207);
    assert_eq!(r.xml().hrefs().into_iter().collect::<BTreeSet<_>>(), one);
    server.stop().await;
}

#[tokio::test]
async fn propfind_depth_infinity_is_refused_with_propfind_finite_depth() {
    let (server, c) = alice_with_files().await;
    for depth in ["infinity", "Infinity"] {
        let r = c.propfind(FILES, depth, &pf(&["D:resourcetype"])).await;
        assert_dav_error(&r, 403, DAV, "propfind-finite-depth");
    }
    server.stop().await;
}

#[tokio::test]
async fn propfind_on_a_missing_resource_is_404() {
    let (server, c) = alice().await;
    let r = c.propfind("/dav/calendars/alice/nothing/", "0", &pf(&["D:resourcetype"])).await;
    r.assert_status(404);
    server.stop().await;
}

#[tokio::test]
async fn propfind_object_live_properties_agree_with_get() {
    let (server, c) = alice_with_files().await;
    let path = f("doc.bin");
    let body = "caf\u{e9}\r\nline two\r\n".as_bytes();
    let ct = "application/x-davit-test; charset=utf-8";
    put_bytes(&c, &path, ct, body).await.assert_status(201);
    let g = get_raw(&c, &path).await;
    assert_body(&g, body);

    let r = c
        .propfind(
            &path,
            "0",
            &pf(&[
                "D:getetag",
                "D:getcontenttype",
                "D:getcontentlength",
                "D:getlastmodified",
                "D:creationdate",
                "D:resourcetype",
            ]),
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&path);
    assert_eq!(resp.ok(DAV, "getetag").text(), g.header("etag").unwrap());
    assert_eq!(resp.ok(DAV, "getcontenttype").text(), ct);
    assert_eq!(resp.ok(DAV, "getcontentlength").text(), body.len().to_string());
    let modified = resp.ok(DAV, "getlastmodified").text();
    assert!(httpdate::parse_http_date(&modified).is_ok(), "getlastmodified {modified:?}");
    assert_eq!(Some(modified.as_str()), g.header("last-modified"));
    // RFC 4918 §15.1: creationdate is an RFC 3339 date-time.
    let created = resp.ok(DAV, "creationdate").text();
    let b = created.as_bytes();
    assert!(
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && (b[10] == b'T' || b[10] == b't')
            && b[13] == b':'
            && b[16] == b':'
            && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18].iter().all(|i| b[*i].is_ascii_digit())
            && (created.ends_with('Z') || created.ends_with('z') || created[19..].contains(['+', '-'])),
        "creationdate {created:?} is not RFC 3339"
    );
    assert!(created.as_str() >= "2020", "creationdate {created}");
    assert!(resp.ok(DAV, "resourcetype").elements().next().is_none());
    server.stop().await;
}

#[tokio::test]
async fn propfind_return_minimal_drops_404_propstats() {
    let (server, c) = alice().await;
    let body = pf(&["D:resourcetype", "T:nope"]);
    let full = c.propfind(CAL, "0", &body).await;
    full.assert_status(207);
    assert!(full.header("preference-applied").is_none());
    {
        let doc = full.xml();
        let resp = doc.response(CAL);
        assert_eq!(resp.status_of(T, "nope").as_deref(), Some(NOT_FOUND));
    }
    for (name, value) in [("Prefer", "return=minimal"), ("Brief", "t")] {
        let r = c
            .send(
                c.request("PROPFIND", CAL)
                    .header("Depth", "0")
                    .header(name, value)
                    .header("Content-Type", "application/xml")
                    .body(body.clone()),
            )
            .await;
        r.assert_status(207);
        assert_eq!(r.header("preference-applied"), Some("return=minimal"), "{name}: {value}");
        let doc = r.xml();
        let resp = doc.response(CAL);
        resp.ok(DAV, "resourcetype");
        assert!(resp.prop(T, "nope").is_none(), "{name}: 404 kept:\n{}", r.body);
        assert!(propstats(&resp).iter().all(|(s, _)| s == OK), "{name}: only the 200 propstat:\n{}", r.body);
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// PROPPATCH
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn proppatch_dead_property_is_set_read_and_removed() {
    let (server, c) = alice_with_files().await;
    let obj = f("a.txt");
    put_text(&c, &obj, "hello").await.assert_status(201);
    for path in [obj.as_str(), FILES] {
        let r = proppatch(&c, path, &set("<T:colour>blue</T:colour><T:size>3</T:size>")).await;
        r.assert_status(207);
        let doc = r.xml();
        assert_eq!(doc.hrefs(), [path]);
        let resp = doc.response(path);
        assert_eq!(resp.status_of(T, "colour").as_deref(), Some(OK));
        assert_eq!(resp.status_of(T, "size").as_deref(), Some(OK));
        assert!(resp.ok(T, "colour").children.is_empty(), "PROPPATCH answers empty elements");

        // A separate request sees it: it is persisted.
        assert_eq!(dead_prop(&c, path, "colour").await.as_deref(), Some("blue"));
        assert_eq!(dead_prop(&c, path, "size").await.as_deref(), Some("3"));

        // Replace one, remove the other in one request, applied in order.
        let r =
            proppatch(&c, path, &format!("{}{}", set("<T:colour>red</T:colour>"), remove("<T:size/>"))).await;
        r.assert_status(207);
        let doc = r.xml();
        let resp = doc.response(path);
        assert_eq!(resp.status_of(T, "colour").as_deref(), Some(OK));
        assert_eq!(resp.status_of(T, "size").as_deref(), Some(OK));
        assert_eq!(dead_prop(&c, path, "colour").await.as_deref(), Some("red"));
        assert_eq!(dead_prop(&c, path, "size").await, None);

        // Removing a property that does not exist is not an error (§14.23).
        let r = proppatch(&c, path, &remove("<T:never-set/>")).await;
        r.assert_status(207);
        assert_eq!(r.xml().response(path).status_of(T, "never-set").as_deref(), Some(OK));
    }
    // The object's content is untouched by property changes.
    assert_stored(&c, &obj, b"hello").await;
    server.stop().await;
}

/// RFC 4918 §4.3 and its example §4.3.1: namespaces, attributes, mixed content and
/// whitespace of a dead property value are preserved.
#[tokio::test]
async fn proppatch_xml_values_round_trip() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    let notes = "\n    Jane has been working way <h:em>too</h:em> long on the\n    \
                 long-awaited revision of <![CDATA[<RFC2518>]]> &amp; \u{fc}\u{20ac}.\n  ";
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop xmlns:h='urn:unused'>\
         <x:author xmlns:x='http://example.com/ns'>\n  <x:name>Jane Doe</x:name>\n  \
         <!-- Jane's contact info -->\n  \
         <x:uri type='email'\n added='2005-11-26'>mailto:jane.doe@example.com</x:uri>\n  \
         <x:notes xmlns:h='http://www.w3.org/1999/xhtml'>{notes}</x:notes>\n\
         </x:author></D:prop></D:set></D:propertyupdate>"
    );
    let r = c.body("PROPPATCH", &path, &body).await;
    r.assert_status(207);
    assert_eq!(r.xml().response(&path).status_of("http://example.com/ns", "author").as_deref(), Some(OK));

    let r = c
        .propfind(
            &path,
            "0",
            "<D:propfind xmlns:D=\"DAV:\"><D:prop><a:author xmlns:a=\"http://example.com/ns\"/></D:prop></D:propfind>",
        )
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let author = doc.response(&path).ok("http://example.com/ns", "author");
    let ex = "http://example.com/ns";
    assert_eq!(author.child(ex, "name").unwrap().text(), "Jane Doe");
    let uri = author.child(ex, "uri").unwrap();
    assert_eq!(uri.attr("type"), Some("email"));
    assert_eq!(uri.attr("added"), Some("2005-11-26"));
    assert_eq!(uri.text(), "mailto:jane.doe@example.com");
    let notes_el = author.child(ex, "notes").unwrap();
    let em = notes_el.child("http://www.w3.org/1999/xhtml", "em").expect("h:em kept");
    assert_eq!(em.text(), "too");
    assert_eq!(
        notes_el.text(),
        "\n    Jane has been working way too long on the\n    \
         long-awaited revision of <RFC2518> & \u{fc}\u{20ac}.\n  ",
        "whitespace and characters of the value are preserved"
    );
    // Top-level whitespace inside the property element is kept too.
    assert!(author.text().starts_with('\n'), "{:?}", author.text());
    // The resource itself is unchanged.
    assert_stored(&c, &path, b"hello").await;
    server.stop().await;
}

/// RFC 4918 §4.3: xml:lang on the property element, or in scope from an enclosing element of
/// the request, must come back in scope of the property.
#[tokio::test]
async fn proppatch_xml_lang_is_preserved() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    let body = format!(
        "<D:propertyupdate {NS_DECL}><D:set><D:prop>\
         <T:title xml:lang=\"de\">Gr\u{fc}\u{df}e</T:title></D:prop></D:set>\
         <D:set><D:prop xml:lang=\"fr\"><T:motto>Bonjour</T:motto></D:prop></D:set>\
         </D:propertyupdate>"
    );
    c.body("PROPPATCH", &path, &body).await.assert_status(207);
    let r = c.propfind(&path, "0", &pf(&["T:title", "T:motto"])).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(&path);
    assert_eq!(resp.ok(T, "title").text(), "Gr\u{fc}\u{df}e");
    assert_eq!(resp.ok(T, "motto").text(), "Bonjour");
    assert_eq!(
        lang_in_scope(&doc.root, T, "title", None),
        Some(Some("de".into())),
        "xml:lang on the property element:\n{}",
        r.body
    );
    assert_eq!(
        lang_in_scope(&doc.root, T, "motto", None),
        Some(Some("fr".into())),
        "xml:lang in scope from D:prop (§4.3: 'or any such attribute in scope'):\n{}",
        r.body
    );
    server.stop().await;
}

#[tokio::test]
async fn proppatch_protected_property_fails_the_whole_request() {
    let (server, c) = alice_with_files().await;
    let obj = f("a.txt");
    put_text(&c, &obj, "hello").await.assert_status(201);
    let before = get_raw(&c, &obj).await;
    for (path, protected) in [
        (obj.as_str(), "<D:getetag>\"forged\"</D:getetag>"),
        (FILES, "<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"),
    ] {
        let r = proppatch(
            &c,
            path,
            &format!(
                "{}{}",
                set(&format!("<T:colour>blue</T:colour>{protected}<D:displayname>New</D:displayname>")),
                remove("<T:other/>")
            ),
        )
        .await;
        r.assert_status(207);
        let doc = r.xml();
        let resp = doc.response(path);
        let stats = propstats(&resp);
        let prot_name = if path == obj { "getetag" } else { "resourcetype" };
        let forbidden = stats
            .iter()
            .find(|(s, _)| s == "HTTP/1.1 403 Forbidden")
            .unwrap_or_else(|| panic!("no 403 propstat:\n{}", r.body));
        assert_eq!(forbidden.1, [q(DAV, prot_name)]);
        // The 403 propstat names the precondition.
        let ps403 = resp
            .el
            .elements()
            .filter(|e| e.is(DAV, "propstat"))
            .find(|ps| ps.child(DAV, "status").unwrap().text() == "HTTP/1.1 403 Forbidden")
            .unwrap();
        let err = ps403.child(DAV, "error").expect("DAV:error in the 403 propstat");
        assert!(err.child(DAV, "cannot-modify-protected-property").is_some(), "{}", r.body);
        for (ns, name) in [(T, "colour"), (DAV, "displayname"), (T, "other")] {
            assert_eq!(
                resp.status_of(ns, name).as_deref(),
                Some("HTTP/1.1 424 Failed Dependency"),
                "{name}:\n{}",
                r.body
            );
        }
        // Nothing was applied.
        assert_eq!(dead_prop(&c, path, "colour").await, None, "{path}");
    }
    let r = c.propfind(FILES, "0", &pf(&["D:displayname", "D:resourcetype"])).await;
    let doc = r.xml();
    let resp = doc.response(FILES);
    assert_eq!(resp.status_of(DAV, "displayname").as_deref(), Some(NOT_FOUND));
    let rt = resp.ok(DAV, "resourcetype");
    assert!(rt.child(CALDAV, "calendar").is_none(), "resourcetype unchanged");
    let after = get_raw(&c, &obj).await;
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_body(&after, b"hello");
    server.stop().await;
}

#[tokio::test]
async fn proppatch_displayname_on_a_collection() {
    let (server, c) = alice_with_files().await;
    for path in [FILES, CAL] {
        let r = proppatch(&c, path, &set("<D:displayname>Caf\u{e9} &amp; more</D:displayname>")).await;
        r.assert_status(207);
        assert_eq!(r.xml().response(path).status_of(DAV, "displayname").as_deref(), Some(OK));
        let r = c.propfind(path, "0", &pf(&["D:displayname"])).await;
        assert_eq!(r.xml().response(path).ok(DAV, "displayname").text(), "Caf\u{e9} & more");
        // Also listed by the parent's Depth 1.
        let r = c.propfind(HOME, "1", &pf(&["D:displayname"])).await;
        assert_eq!(r.xml().response(path).ok(DAV, "displayname").text(), "Caf\u{e9} & more");
    }
    let r = proppatch(&c, FILES, &remove("<D:displayname/>")).await;
    r.assert_status(207);
    let r = c.propfind(FILES, "0", &pf(&["D:displayname"])).await;
    assert_eq!(r.xml().response(FILES).status_of(DAV, "displayname").as_deref(), Some(NOT_FOUND));
    server.stop().await;
}

#[tokio::test]
async fn proppatch_calendar_color_in_the_apple_namespace() {
    let (server, c) = alice().await;
    let r = proppatch(&c, CAL, &set("<A:calendar-color>#FF2968FF</A:calendar-color>")).await;
    r.assert_status(207);
    assert_eq!(r.xml().response(CAL).status_of(APPLE, "calendar-color").as_deref(), Some(OK));
    let r = c.propfind(CAL, "0", &pf(&["A:calendar-color"])).await;
    r.assert_status(207);
    assert_eq!(r.xml().response(CAL).ok(APPLE, "calendar-color").text(), "#FF2968FF");
    // As Apple asks for it, with its own prefix.
    let r = c
        .propfind(
            CAL,
            "1",
            "<propfind xmlns=\"DAV:\"><prop><calendar-color xmlns=\"http://apple.com/ns/ical/\"/></prop></propfind>",
        )
        .await;
    assert_eq!(r.xml().response(CAL).ok(APPLE, "calendar-color").text(), "#FF2968FF");
    server.stop().await;
}

#[tokio::test]
async fn proppatch_on_a_missing_resource_is_404() {
    let (server, c) = alice_with_files().await;
    let r = proppatch(&c, &f("missing.txt"), &set("<T:colour>blue</T:colour>")).await;
    r.assert_status(404);
    assert_missing(&c, &f("missing.txt")).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// GET and HEAD
// ---------------------------------------------------------------------------------------

/// CRLF, UTF-8, bytes that are not UTF-8, NUL and a trailing lone CR.
const ODD_BYTES: &[u8] = b"line one\r\nline \xc3\xbc \xe2\x82\xac\r\n\xff\xfe\x00\x01 raw\n\r";

#[tokio::test]
async fn get_returns_the_stored_bytes_and_validators() {
    let (server, c) = alice_with_files().await;
    let path = f("odd.bin");
    let ct = "application/x-davit-odd";
    let put = put_bytes(&c, &path, ct, ODD_BYTES).await;
    put.assert_status(201);
    let g = get_raw(&c, &path).await;
    assert_body(&g, ODD_BYTES);
    let etag = g.header("etag").expect("ETag on GET").to_owned();
    assert_strong_etag(&etag);
    assert_eq!(put.header("etag"), Some(etag.as_str()), "PUT and GET ETags");
    let lm = g.header("last-modified").expect("Last-Modified on GET");
    let lm_time = httpdate::parse_http_date(lm).expect("Last-Modified is an HTTP-date");
    assert!(lm_time <= SystemTime::now() + Duration::from_secs(2));
    assert_eq!(g.header("content-type"), Some(ct));
    assert_eq!(g.header("content-length"), Some(ODD_BYTES.len().to_string().as_str()));

    // A calendar object with CRLF and UTF-8, with the content type the client sent.
    let ev = ics("get-1@example.com", "Gr\u{fc}\u{df}e \u{20ac}");
    let path = format!("{CAL}get-1.ics");
    let put = c.put(&path, "text/calendar; charset=utf-8", &ev).await;
    put.assert_status(201);
    let g = get_raw(&c, &path).await;
    assert_body(&g, ev.as_bytes());
    assert_eq!(g.header("content-type"), Some("text/calendar; charset=utf-8"));
    assert_eq!(g.header("etag"), put.header("etag"));
    server.stop().await;
}

#[tokio::test]
async fn head_sends_the_get_headers_without_a_body() {
    let (server, c) = alice_with_files().await;
    let path = f("odd.bin");
    put_bytes(&c, &path, "application/x-davit-odd", ODD_BYTES).await.assert_status(201);
    let g = get_raw(&c, &path).await;
    let h = raw(c.request("HEAD", &path)).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty(), "HEAD has no body");
    for name in ["etag", "last-modified", "content-type", "content-length"] {
        assert!(g.header(name).is_some(), "GET lacks {name}");
        assert_eq!(h.header(name), g.header(name), "{name}");
    }
    let h = raw(c.request("HEAD", &f("missing"))).await;
    assert_eq!(h.status, 404);
    assert!(h.body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn get_on_a_collection_gives_an_html_listing() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a b.txt"), "x").await.assert_status(201);
    let r = c.go("GET", FILES).await;
    r.assert_status(200);
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/html"), "{ct}");
    r.assert_contains("<html").assert_contains("a%20b.txt");
    let r = c.go("GET", HOME).await;
    r.assert_status(200);
    r.assert_contains(FILES).assert_contains(CAL);
    server.stop().await;
}

#[tokio::test]
async fn get_on_a_missing_resource_is_404() {
    let (server, c) = alice_with_files().await;
    c.go("GET", &f("missing.txt")).await.assert_status(404);
    c.go("GET", "/dav/calendars/alice/nope/x.ics").await.assert_status(404);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// PUT
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn put_creates_with_201_and_replaces_with_204() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let r = put_text(&c, &path, "first").await;
    r.assert_status(201);
    let e1 = r.etag();
    assert_strong_etag(&e1);
    assert_eq!(get_raw(&c, &path).await.header("etag"), Some(e1.as_str()));

    let r = put_text(&c, &path, "second").await;
    r.assert_status(204);
    let e2 = r.etag();
    assert_strong_etag(&e2);
    assert_ne!(e1, e2, "new content, new ETag");
    let g = get_raw(&c, &path).await;
    assert_body(&g, b"second");
    assert_eq!(g.header("etag"), Some(e2.as_str()));
    // The PROPFIND view agrees.
    let r = c.propfind(&path, "0", &pf(&["D:getetag"])).await;
    assert_eq!(r.xml().response(&path).ok(DAV, "getetag").text(), e2);

    // A calendar object too.
    let cal = format!("{CAL}p.ics");
    let r = c.put(&cal, "text/calendar", &ics("p@example.com", "One")).await;
    r.assert_status(201);
    let r2 = c.put(&cal, "text/calendar", &ics("p@example.com", "Two")).await;
    r2.assert_status(204);
    assert_ne!(r.etag(), r2.etag());
    assert_eq!(get_raw(&c, &cal).await.header("etag"), Some(r2.etag().as_str()));
    server.stop().await;
}

#[tokio::test]
async fn put_identical_bytes_give_identical_etags() {
    let (server, c) = alice_with_files().await;
    let a = put_bytes(&c, &f("a.bin"), "application/octet-stream", ODD_BYTES).await;
    a.assert_status(201);
    let b = put_bytes(&c, &f("b.bin"), "application/octet-stream", ODD_BYTES).await;
    b.assert_status(201);
    assert_eq!(a.etag(), b.etag(), "same bytes in two resources");
    let again = put_bytes(&c, &f("a.bin"), "application/octet-stream", ODD_BYTES).await;
    again.assert_status(204);
    assert_eq!(again.etag(), a.etag(), "same bytes again");
    assert_eq!(get_raw(&c, &f("b.bin")).await.header("etag"), Some(a.etag().as_str()));
    server.stop().await;
}

#[tokio::test]
async fn put_if_none_match_star_refuses_to_overwrite() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let r = c
        .send(
            c.request("PUT", &path)
                .header("If-None-Match", "*")
                .header("Content-Type", "text/plain")
                .body("first"),
        )
        .await;
    r.assert_status(201);
    let etag = r.etag();
    let r = c
        .send(
            c.request("PUT", &path)
                .header("If-None-Match", "*")
                .header("Content-Type", "text/plain")
                .body("second"),
        )
        .await;
    r.assert_status(412);
    let g = get_raw(&c, &path).await;
    assert_body(&g, b"first");
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn put_if_match() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let etag = put_text(&c, &path, "first").await.etag();
    let put_if = |value: String, body: &'static str| {
        c.send(
            c.request("PUT", &path).header("If-Match", value).header("Content-Type", "text/plain").body(body),
        )
    };
    // Wrong tag, and the right tag marked weak (If-Match compares strongly, RFC 9110 §13.1.1).
    for wrong in ["\"not-the-etag\"".to_owned(), format!("W/{etag}")] {
        put_if(wrong.clone(), "second").await.assert_status(412);
        let g = get_raw(&c, &path).await;
        assert_body(&g, b"first");
        assert_eq!(g.header("etag"), Some(etag.as_str()), "{wrong}");
    }
    let r = put_if(etag.clone(), "second").await;
    r.assert_status(204);
    let new = r.etag();
    assert_ne!(new, etag);
    assert_stored(&c, &path, b"second").await;
    // Several tags, one of them current; and *.
    put_if(format!("\"x\", {new}"), "third").await.assert_status(204);
    put_if("*".into(), "fourth").await.assert_status(204);
    assert_stored(&c, &path, b"fourth").await;

    // If-Match on a resource that does not exist: 412, and nothing is created.
    let missing = f("missing.txt");
    for value in ["*", "\"abc\""] {
        let r = c
            .send(
                c.request("PUT", &missing)
                    .header("If-Match", value)
                    .header("Content-Type", "text/plain")
                    .body("x"),
            )
            .await;
        r.assert_status(412);
        assert_missing(&c, &missing).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn put_below_a_missing_collection_is_409() {
    let (server, c) = alice().await;
    let r = put_text(&c, "/dav/calendars/alice/nope/x.txt", "x").await;
    r.assert_status(409);
    assert_missing(&c, "/dav/calendars/alice/nope/").await;
    assert_missing(&c, "/dav/calendars/alice/nope/x.txt").await;
    server.stop().await;
}

#[tokio::test]
async fn put_on_a_collection_is_405() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "x").await.assert_status(201);
    for path in [FILES, CAL] {
        let r = put_text(&c, path, "replace me").await;
        r.assert_status(405);
        let r = c.propfind(path, "0", &pf(&["D:resourcetype"])).await;
        r.assert_status(207);
        assert!(
            r.xml().response(path).ok(DAV, "resourcetype").child(DAV, "collection").is_some(),
            "{path} is still a collection"
        );
    }
    assert_stored(&c, &f("a.txt"), b"x").await;
    server.stop().await;
}

#[tokio::test]
async fn put_with_a_chunked_body_stores_every_chunk() {
    let (server, c) = alice_with_files().await;
    let chunks: Vec<&[u8]> = vec![b"first chunk\r\n", b"\xc3\xbc second ", b"", b"\xff third\r\n"];
    let whole: Vec<u8> = chunks.concat();
    let body = reqwest::Body::wrap(Chunks(chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect()));
    let path = f("chunked.bin");
    let r =
        c.send(c.request("PUT", &path).header("Content-Type", "application/octet-stream").body(body)).await;
    r.assert_status(201);
    let g = get_raw(&c, &path).await;
    assert_body(&g, &whole);
    assert_eq!(g.header("etag"), r.header("etag"));
    assert_eq!(g.header("content-length"), Some(whole.len().to_string().as_str()));

    // A chunked iCalendar object, as Evolution sends it.
    let ev = ics("chunked@example.com", "Chunked");
    let (a, b) = ev.as_bytes().split_at(40);
    let body = reqwest::Body::wrap(Chunks([Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)].into()));
    let path = format!("{CAL}chunked.ics");
    c.send(c.request("PUT", &path).header("Content-Type", "text/calendar").body(body))
        .await
        .assert_status(201);
    assert_stored(&c, &path, ev.as_bytes()).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Conditional requests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn get_if_none_match_gives_304_without_a_body() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let etag = put_text(&c, &path, "hello").await.etag();
    for value in [etag.clone(), format!("\"other\", {etag}"), format!("W/{etag}"), "*".into()] {
        let r = raw(c.request("GET", &path).header("If-None-Match", &value)).await;
        assert_eq!(r.status, 304, "If-None-Match: {value}");
        assert!(r.body.is_empty(), "304 has no body");
        // RFC 9110 §15.4.5: the ETag a 200 would have carried.
        assert_eq!(r.header("etag"), Some(etag.as_str()));
    }
    let r = raw(c.request("GET", &path).header("If-None-Match", "\"other\"")).await;
    assert_body(&r, b"hello");
    let r = raw(c.request("HEAD", &path).header("If-None-Match", &etag)).await;
    assert_eq!(r.status, 304);
    server.stop().await;
}

#[tokio::test]
async fn get_if_modified_since() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    put_text(&c, &path, "hello").await.assert_status(201);
    let lm = get_raw(&c, &path).await.header("last-modified").unwrap().to_owned();
    for since in [lm.clone(), tomorrow()] {
        let r = raw(c.request("GET", &path).header("If-Modified-Since", &since)).await;
        assert_eq!(r.status, 304, "If-Modified-Since: {since}");
        assert!(r.body.is_empty());
    }
    let r = raw(c.request("GET", &path).header("If-Modified-Since", LONG_AGO)).await;
    assert_body(&r, b"hello");
    // If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
    let r = raw(c
        .request("GET", &path)
        .header("If-Modified-Since", tomorrow())
        .header("If-None-Match", "\"other\""))
    .await;
    assert_body(&r, b"hello");
    server.stop().await;
}

#[tokio::test]
async fn put_if_unmodified_since() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let etag = put_text(&c, &path, "hello").await.etag();
    let put_since = |since: String, body: &'static str| {
        c.send(
            c.request("PUT", &path)
                .header("If-Unmodified-Since", since)
                .header("Content-Type", "text/plain")
                .body(body),
        )
    };
    put_since(LONG_AGO.into(), "changed").await.assert_status(412);
    let g = get_raw(&c, &path).await;
    assert_body(&g, b"hello");
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    put_since(tomorrow(), "changed").await.assert_status(204);
    assert_stored(&c, &path, b"changed").await;
    server.stop().await;
}

/// RFC 4918 §10.4: the `If` header with entity tags and state tokens (davit has no locks,
/// so no state token ever matches).
#[tokio::test]
async fn if_header_untagged_lists() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let mut etag = put_text(&c, &path, "v0").await.etag();
    let mut version = 0;
    let put_if = |value: String, body: String| {
        c.send(c.request("PUT", &path).header("If", value).header("Content-Type", "text/plain").body(body))
    };
    let refused = [
        "([\"not-the-etag\"])".to_owned(),
        "(<urn:uuid:nolock>)".to_owned(),
        "(<urn:uuid:nolock> [ETAG])".to_owned(),
        "(Not [ETAG])".to_owned(),
        "(<urn:uuid:a>) ([\"nope\"])".to_owned(),
    ];
    for cond in refused {
        let value = cond.replace("ETAG", &etag);
        put_if(value.clone(), "refused".into()).await.assert_status(412);
        let g = get_raw(&c, &path).await;
        assert_body(&g, format!("v{version}").as_bytes());
        assert_eq!(g.header("etag"), Some(etag.as_str()), "If: {value}");
    }
    let accepted = [
        "([ETAG])",
        "(Not <urn:uuid:nolock>)",
        "(Not <urn:uuid:nolock> [ETAG])",
        "(<urn:uuid:nolock>) ([ETAG])",
        "(Not [\"other\"])",
    ];
    for cond in accepted {
        let value = cond.replace("ETAG", &etag);
        version += 1;
        let r = put_if(value.clone(), format!("v{version}")).await;
        assert_eq!(r.status.as_u16(), 204, "If: {value}; body:\n{}", r.body);
        assert_stored(&c, &path, format!("v{version}").as_bytes()).await;
        etag = r.etag();
    }
    // On GET the If header is a precondition too: 412, not 304.
    let r = raw(c.request("GET", &path).header("If", "(<urn:uuid:nolock>)")).await;
    assert_eq!(r.status, 412);
    let r = raw(c.request("GET", &path).header("If", format!("([{etag}])"))).await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

/// RFC 4918 §10.4.2–10.4.3: a tagged list applies to the resource its tag names; naming
/// the request URI itself with its current ETag must succeed.
#[tokio::test]
async fn if_header_tagged_list_naming_the_request_uri() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let etag = put_text(&c, &path, "v0").await.etag();
    let url = destination(&c, &path);
    let r = c
        .send(
            c.request("PUT", &path)
                .header("If", format!("<{url}> ([\"wrong\"])"))
                .header("Content-Type", "text/plain")
                .body("refused"),
        )
        .await;
    r.assert_status(412);
    assert_stored(&c, &path, b"v0").await;
    let r = c
        .send(
            c.request("PUT", &path)
                .header("If", format!("<{url}> ([{etag}])"))
                .header("Content-Type", "text/plain")
                .body("v1"),
        )
        .await;
    r.assert_status(204);
    assert_stored(&c, &path, b"v1").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_an_object() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    put_text(&c, &f("b.txt"), "b").await.assert_status(201);
    let r = c.go("DELETE", &f("a.txt")).await;
    r.assert_status(204);
    assert!(r.body.is_empty());
    assert_missing(&c, &f("a.txt")).await;
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("b.txt")]));
    c.go("DELETE", &f("a.txt")).await.assert_status(404);
    assert_stored(&c, &f("b.txt"), b"b").await;
    // A calendar object.
    let ev = format!("{CAL}d.ics");
    c.put(&ev, "text/calendar", &ics("d@example.com", "D")).await.assert_status(201);
    c.go("DELETE", &ev).await.assert_status(204);
    assert_missing(&c, &ev).await;
    server.stop().await;
}

#[tokio::test]
async fn delete_a_collection_removes_everything_below_it() {
    let (server, c) = alice_with_files().await;
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    put_text(&c, &f("sub/b.txt"), "b").await.assert_status(201);
    proppatch(&c, FILES, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    c.go("DELETE", FILES).await.assert_status(204);
    for path in [FILES.to_owned(), f("a.txt"), f("sub/"), f("sub/b.txt")] {
        assert_missing(&c, &path).await;
    }
    assert!(!listing(&c, HOME).await.contains(FILES));
    // Recreated, it is empty and has no old properties.
    c.go("MKCOL", FILES).await.assert_status(201);
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES]));
    assert_eq!(dead_prop(&c, FILES, "colour").await, None);
    // Deleting a calendar takes its events.
    let ev = format!("{CAL}e.ics");
    c.put(&ev, "text/calendar", &ics("e@example.com", "E")).await.assert_status(201);
    c.go("DELETE", CAL).await.assert_status(204);
    assert_missing(&c, CAL).await;
    assert_missing(&c, &ev).await;
    server.stop().await;
}

#[tokio::test]
async fn delete_of_a_missing_resource_is_404() {
    let (server, c) = alice_with_files().await;
    c.go("DELETE", &f("missing.txt")).await.assert_status(404);
    c.go("DELETE", &f("missing/")).await.assert_status(404);
    c.go("DELETE", "/dav/calendars/alice/nope/x.txt").await.assert_status(404);
    server.stop().await;
}

#[tokio::test]
async fn delete_with_a_failed_precondition_deletes_nothing() {
    let (server, c) = alice_with_files().await;
    let path = f("a.txt");
    let etag = put_text(&c, &path, "a").await.etag();
    for (name, value) in [
        ("If-Match", "\"not-the-etag\"".to_owned()),
        ("If-Unmodified-Since", LONG_AGO.to_owned()),
        ("If", "(<urn:uuid:nolock>)".to_owned()),
        ("If-None-Match", etag.clone()),
    ] {
        let r = c.send(c.request("DELETE", &path).header(name, &value)).await;
        assert_eq!(r.status.as_u16(), 412, "{name}: {value}; body:\n{}", r.body);
        assert_stored(&c, &path, b"a").await;
    }
    let r = c.send(c.request("DELETE", &path).header("If-Match", &etag)).await;
    r.assert_status(204);
    assert_missing(&c, &path).await;
    server.stop().await;
}

#[tokio::test]
async fn delete_of_a_collection_with_depth_0_is_400() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    for depth in ["0", "1"] {
        let r = c.send(c.request("DELETE", FILES).header("Depth", depth)).await;
        r.assert_status(400);
        assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt")]));
        assert_stored(&c, &f("a.txt"), b"a").await;
    }
    let r = c.send(c.request("DELETE", FILES).header("Depth", "infinity")).await;
    r.assert_status(204);
    assert_missing(&c, FILES).await;
    server.stop().await;
}

#[tokio::test]
async fn delete_of_a_home_or_principal_is_refused() {
    let (server, c) = alice().await;
    for path in [HOME, "/dav/addressbooks/alice/", "/dav/principals/alice/", "/dav/"] {
        let r = c.go("DELETE", path).await;
        assert!([403, 405].contains(&r.status.as_u16()), "DELETE {path}: {} {}", r.status, r.body);
        c.propfind(path, "0", &pf(&["D:resourcetype"])).await.assert_status(207);
    }
    let hrefs = listing(&c, HOME).await;
    assert!(hrefs.contains(CAL), "{hrefs:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// MKCOL, extended MKCOL, MKCALENDAR
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mkcol_creates_a_collection_once() {
    let (server, c) = alice().await;
    let r = c.go("MKCOL", FILES).await;
    r.assert_status(201);
    let r = c.propfind(FILES, "0", &pf(&["D:resourcetype", "D:getlastmodified", "D:creationdate"])).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(FILES);
    let rt = resp.ok(DAV, "resourcetype");
    let kinds: Vec<_> = rt.elements().map(|e| (e.ns.clone(), e.name.clone())).collect();
    assert_eq!(kinds, [q(DAV, "collection")], "a plain collection");
    resp.ok(DAV, "creationdate");
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES]), "created empty");
    assert!(listing(&c, HOME).await.contains(FILES));

    // §9.3.1: MKCOL on an existing resource is 405.
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    c.go("MKCOL", FILES).await.assert_status(405);
    c.go("MKCOL", &f("a.txt")).await.assert_status(405);
    assert_stored(&c, &f("a.txt"), b"a").await;
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt")]));
    // A collection without the trailing slash in the request URI.
    c.go("MKCOL", "/dav/calendars/alice/noslash").await.assert_status(201);
    c.propfind("/dav/calendars/alice/noslash/", "0", &pf(&["D:resourcetype"])).await.assert_status(207);
    server.stop().await;
}

#[tokio::test]
async fn mkcol_below_a_missing_collection_is_409() {
    let (server, c) = alice().await;
    let r = c.go("MKCOL", "/dav/calendars/alice/a/b/").await;
    r.assert_status(409);
    assert_missing(&c, "/dav/calendars/alice/a/").await;
    assert_missing(&c, "/dav/calendars/alice/a/b/").await;
    server.stop().await;
}

#[tokio::test]
async fn mkcol_with_a_body_it_does_not_understand_is_415() {
    let (server, c) = alice().await;
    let r = c
        .send(c.request("MKCOL", FILES).header("Content-Type", "text/plain").body("make me a collection"))
        .await;
    r.assert_status(415);
    assert_missing(&c, FILES).await;
    let r = c
        .send(
            c.request("MKCOL", FILES)
                .header("Content-Type", "application/json")
                .body("{\"collection\": true}"),
        )
        .await;
    r.assert_status(415);
    assert_missing(&c, FILES).await;
    // An XML body whose root is not DAV:mkcol is not understood either (RFC 5689 §3).
    let r = c.body("MKCOL", FILES, "<x:make xmlns:x=\"urn:x-other\"><x:collection/></x:make>").await;
    r.assert_status(415);
    assert_missing(&c, FILES).await;
    server.stop().await;
}

#[tokio::test]
async fn extended_mkcol_creates_a_calendar_with_properties() {
    let (server, c) = alice().await;
    let path = "/dav/calendars/alice/work/";
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:mkcol {NS_DECL}><D:set><D:prop>\
         <D:resourcetype><D:collection/><C:calendar/></D:resourcetype>\
         <D:displayname>Work \u{20ac}</D:displayname>\
         <C:calendar-description>Meetings &amp; deadlines</C:calendar-description>\
         <T:note>kept</T:note>\
         </D:prop></D:set></D:mkcol>"
    );
    let r = c.body("MKCOL", path, &body).await;
    r.assert_status(201);
    let r = c
        .propfind(path, "0", &pf(&["D:resourcetype", "D:displayname", "C:calendar-description", "T:note"]))
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(path);
    let rt = resp.ok(DAV, "resourcetype");
    assert!(rt.child(DAV, "collection").is_some());
    assert!(rt.child(CALDAV, "calendar").is_some(), "{}", r.body);
    assert_eq!(resp.ok(DAV, "displayname").text(), "Work \u{20ac}");
    assert_eq!(resp.ok(CALDAV, "calendar-description").text(), "Meetings & deadlines");
    assert_eq!(resp.ok(T, "note").text(), "kept");
    // It behaves as a calendar: events go in.
    let ev = format!("{path}x.ics");
    c.put(&ev, "text/calendar", &ics("x@example.com", "X")).await.assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn extended_mkcol_creates_an_address_book() {
    let (server, c) = alice().await;
    let path = "/dav/addressbooks/alice/friends/";
    let body = format!(
        "<D:mkcol {NS_DECL}><D:set><D:prop>\
         <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>\
         <D:displayname>Friends</D:displayname>\
         <CR:addressbook-description>People I like</CR:addressbook-description>\
         </D:prop></D:set></D:mkcol>"
    );
    c.body("MKCOL", path, &body).await.assert_status(201);
    let r =
        c.propfind(path, "0", &pf(&["D:resourcetype", "D:displayname", "CR:addressbook-description"])).await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(path);
    let rt = resp.ok(DAV, "resourcetype");
    assert!(rt.child(DAV, "collection").is_some());
    assert!(rt.child(CARDDAV, "addressbook").is_some(), "{}", r.body);
    assert_eq!(resp.ok(DAV, "displayname").text(), "Friends");
    assert_eq!(resp.ok(CARDDAV, "addressbook-description").text(), "People I like");
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\nEND:VCARD\r\n";
    c.put(&format!("{path}jane.vcf"), "text/vcard", card).await.assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn extended_mkcol_with_an_unknown_resourcetype_is_refused() {
    let (server, c) = alice().await;
    let path = "/dav/calendars/alice/special/";
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <D:mkcol xmlns:D=\"DAV:\" xmlns:E=\"http://example.com/ns/\"><D:set><D:prop>\
        <D:resourcetype><D:collection/><E:special-resource/></D:resourcetype>\
        <D:displayname>Special Resource</D:displayname>\
        </D:prop></D:set></D:mkcol>";
    let r = c.body("MKCOL", path, body).await;
    r.assert_status(403);
    // RFC 5689 §3.3 / §3.5: the valid-resourcetype precondition, either in a top-level
    // DAV:error or in the DAV:mkcol-response propstat for DAV:resourcetype.
    let doc = r.xml();
    assert!(doc.root.is(DAV, "error") || doc.root.is(DAV, "mkcol-response"), "{}", r.body);
    assert!(find(&doc.root, DAV, "valid-resourcetype").is_some(), "{}", r.body);
    assert_missing(&c, path).await;
    assert!(!listing(&c, HOME).await.contains(path));
    server.stop().await;
}

#[tokio::test]
async fn mkcol_inside_a_calendar_is_refused_with_calendar_collection_location_ok() {
    let (server, c) = alice().await;
    let path = format!("{CAL}sub/");
    let r = c.go("MKCOL", &path).await;
    assert_dav_error(&r, 403, CALDAV, "calendar-collection-location-ok");
    assert_missing(&c, &path).await;
    // A calendar inside a calendar neither.
    let r = c.go("MKCALENDAR", &path).await;
    assert_dav_error(&r, 403, CALDAV, "calendar-collection-location-ok");
    assert_missing(&c, &path).await;
    assert_eq!(listing(&c, CAL).await, set_of(&[CAL]));
    server.stop().await;
}

#[tokio::test]
async fn mkcalendar_with_a_component_set() {
    let (server, c) = alice().await;
    let path = "/dav/calendars/alice/chores/";
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><C:mkcalendar {NS_DECL}><D:set><D:prop>\
         <D:displayname>Chores</D:displayname>\
         <C:supported-calendar-component-set><C:comp name=\"VTODO\"/></C:supported-calendar-component-set>\
         </D:prop></D:set></C:mkcalendar>"
    );
    let r = c.body("MKCALENDAR", path, &body).await;
    r.assert_status(201);
    let r = c
        .propfind(path, "0", &pf(&["D:resourcetype", "D:displayname", "C:supported-calendar-component-set"]))
        .await;
    r.assert_status(207);
    let doc = r.xml();
    let resp = doc.response(path);
    assert!(resp.ok(DAV, "resourcetype").child(CALDAV, "calendar").is_some());
    assert_eq!(resp.ok(DAV, "displayname").text(), "Chores");
    let comps: Vec<_> = resp
        .ok(CALDAV, "supported-calendar-component-set")
        .elements()
        .filter(|e| e.is(CALDAV, "comp"))
        .filter_map(|e| e.attr("name").map(str::to_owned))
        .collect();
    assert_eq!(comps, ["VTODO"]);
    // MKCALENDAR again on the same URL: 405 (RFC 4791 §5.3.1.2 follows MKCOL).
    c.body("MKCALENDAR", path, &body).await.assert_status(405);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// COPY and MOVE
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn copy_an_object_with_overwrite() {
    let (server, c) = alice_with_files().await;
    let src = f("a.bin");
    put_bytes(&c, &src, "application/x-odd", ODD_BYTES).await.assert_status(201);
    proppatch(&c, &src, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    let src_etag = get_raw(&c, &src).await.header("etag").unwrap().to_owned();

    let r = copy_move(&c, "COPY", &src, &f("b.bin"), &[]).await;
    r.assert_status(201);
    let g = get_raw(&c, &f("b.bin")).await;
    assert_body(&g, ODD_BYTES);
    assert_eq!(g.header("content-type"), Some("application/x-odd"));
    assert_eq!(g.header("etag"), Some(src_etag.as_str()), "same bytes, same ETag");
    // §9.8.2: dead properties are copied.
    assert_eq!(dead_prop(&c, &f("b.bin"), "colour").await.as_deref(), Some("blue"));
    // The source is untouched.
    assert_stored(&c, &src, ODD_BYTES).await;
    assert_eq!(dead_prop(&c, &src, "colour").await.as_deref(), Some("blue"));

    // Onto an existing resource with Overwrite: F → 412, nothing changes.
    let dst = f("c.txt");
    put_text(&c, &dst, "keep me").await.assert_status(201);
    let r = copy_move(&c, "COPY", &src, &dst, &[("Overwrite", "F")]).await;
    r.assert_status(412);
    assert_stored(&c, &dst, b"keep me").await;
    assert_eq!(dead_prop(&c, &dst, "colour").await, None);
    // With Overwrite: T → 204, and the destination is now a copy.
    let r = copy_move(&c, "COPY", &src, &dst, &[("Overwrite", "T")]).await;
    r.assert_status(204);
    assert_stored(&c, &dst, ODD_BYTES).await;
    assert_eq!(dead_prop(&c, &dst, "colour").await.as_deref(), Some("blue"));
    // Overwrite absent means T (§10.6).
    put_text(&c, &dst, "again").await.assert_status(204);
    copy_move(&c, "COPY", &src, &dst, &[]).await.assert_status(204);
    assert_stored(&c, &dst, ODD_BYTES).await;
    server.stop().await;
}

#[tokio::test]
async fn copy_to_a_missing_parent_is_409() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    let dst = "/dav/calendars/alice/nope/a.txt";
    for method in ["COPY", "MOVE"] {
        let r = copy_move(&c, method, &f("a.txt"), dst, &[]).await;
        r.assert_status(409);
        assert_missing(&c, "/dav/calendars/alice/nope/").await;
        assert_stored(&c, &f("a.txt"), b"a").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn copy_and_move_without_destination_are_400() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    for method in ["COPY", "MOVE"] {
        c.go(method, &f("a.txt")).await.assert_status(400);
        assert_stored(&c, &f("a.txt"), b"a").await;
        assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt")]));
    }
    server.stop().await;
}

#[tokio::test]
async fn copy_and_move_to_another_host_are_502() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    for method in ["COPY", "MOVE"] {
        let r = c
            .send(
                c.request(method, &f("a.txt"))
                    .header("Destination", "http://other.example/dav/calendars/alice/files/b.txt"),
            )
            .await;
        r.assert_status(502);
        assert_stored(&c, &f("a.txt"), b"a").await;
        assert_missing(&c, &f("b.txt")).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn copy_and_move_onto_the_source_are_403() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("sub/b.txt"), "b").await.assert_status(201);
    for method in ["COPY", "MOVE"] {
        for (path, dest) in [
            (f("a.txt"), destination(&c, &f("a.txt"))),
            // An absolute-path Destination names the same resource.
            (f("a.txt"), f("a.txt")),
            (f("sub/"), destination(&c, &f("sub/"))),
        ] {
            let r = c.send(c.request(method, &path).header("Destination", &dest)).await;
            assert_eq!(r.status.as_u16(), 403, "{method} {path} → {dest}: {}", r.body);
        }
        assert_stored(&c, &f("a.txt"), b"a").await;
        assert_stored(&c, &f("sub/b.txt"), b"b").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn copy_a_collection_with_depth_infinity() {
    let (server, c) = alice_with_files().await;
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    put_text(&c, &f("sub/b.txt"), "b").await.assert_status(201);
    proppatch(&c, FILES, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    proppatch(&c, &f("sub/b.txt"), &set("<T:colour>green</T:colour>")).await.assert_status(207);
    let dst = "/dav/calendars/alice/copy/";
    for (i, depth) in [None, Some("infinity")].into_iter().enumerate() {
        let dst = format!("{}{i}/", dst.trim_end_matches('/'));
        let extra: Vec<(&str, &str)> = depth.map(|d| ("Depth", d)).into_iter().collect();
        let r = copy_move(&c, "COPY", FILES, &dst, &extra).await;
        r.assert_status(201);
        assert_eq!(listing(&c, &dst).await, set_of(&[&dst, &format!("{dst}a.txt"), &format!("{dst}sub/")]));
        assert_stored(&c, &format!("{dst}a.txt"), b"a").await;
        assert_stored(&c, &format!("{dst}sub/b.txt"), b"b").await;
        assert_eq!(dead_prop(&c, &dst, "colour").await.as_deref(), Some("blue"));
        assert_eq!(dead_prop(&c, &format!("{dst}sub/b.txt"), "colour").await.as_deref(), Some("green"));
    }
    // The source is intact.
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt"), &f("sub/")]));
    assert_stored(&c, &f("sub/b.txt"), b"b").await;
    // Copies are independent of the source.
    put_text(&c, &f("a.txt"), "changed").await.assert_status(204);
    assert_stored(&c, "/dav/calendars/alice/copy0/a.txt", b"a").await;
    server.stop().await;
}

#[tokio::test]
async fn copy_a_collection_with_depth_0_copies_no_members() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    proppatch(&c, FILES, &set("<T:colour>blue</T:colour><D:displayname>Files</D:displayname>"))
        .await
        .assert_status(207);
    let dst = "/dav/calendars/alice/shell/";
    let r = copy_move(&c, "COPY", FILES, dst, &[("Depth", "0")]).await;
    r.assert_status(201);
    assert_eq!(listing(&c, dst).await, set_of(&[dst]), "no members");
    // §9.8.3: "the collection and its properties".
    assert_eq!(dead_prop(&c, dst, "colour").await.as_deref(), Some("blue"));
    let r = c.propfind(dst, "0", &pf(&["D:displayname"])).await;
    assert_eq!(r.xml().response(dst).ok(DAV, "displayname").text(), "Files");
    assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt")]));
    server.stop().await;
}

#[tokio::test]
async fn copy_of_a_collection_with_depth_1_is_400() {
    let (server, c) = alice_with_files().await;
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    let dst = "/dav/calendars/alice/one/";
    let r = copy_move(&c, "COPY", FILES, dst, &[("Depth", "1")]).await;
    r.assert_status(400);
    assert_missing(&c, dst).await;
    // MOVE of a collection takes only infinity (§9.9.3).
    for depth in ["0", "1"] {
        let r = copy_move(&c, "MOVE", FILES, dst, &[("Depth", depth)]).await;
        r.assert_status(400);
        assert_missing(&c, dst).await;
        assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("a.txt")]));
    }
    server.stop().await;
}

#[tokio::test]
async fn move_an_object() {
    let (server, c) = alice_with_files().await;
    let src = f("a.bin");
    let put = put_bytes(&c, &src, "application/x-odd", ODD_BYTES).await;
    put.assert_status(201);
    proppatch(&c, &src, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    let dst = f("sub/moved.bin");
    let r = copy_move(&c, "MOVE", &src, &dst, &[]).await;
    r.assert_status(201);
    assert_missing(&c, &src).await;
    let g = get_raw(&c, &dst).await;
    assert_body(&g, ODD_BYTES);
    assert_eq!(g.header("etag"), put.header("etag"));
    assert_eq!(g.header("content-type"), Some("application/x-odd"));
    assert_eq!(dead_prop(&c, &dst, "colour").await.as_deref(), Some("blue"));

    // Onto an existing resource: F → 412 and both unchanged; T → 204.
    let other = f("other.txt");
    put_text(&c, &other, "other").await.assert_status(201);
    copy_move(&c, "MOVE", &other, &dst, &[("Overwrite", "F")]).await.assert_status(412);
    assert_stored(&c, &other, b"other").await;
    assert_stored(&c, &dst, ODD_BYTES).await;
    copy_move(&c, "MOVE", &other, &dst, &[("Overwrite", "T")]).await.assert_status(204);
    assert_missing(&c, &other).await;
    assert_stored(&c, &dst, b"other").await;
    assert_eq!(dead_prop(&c, &dst, "colour").await, None, "the overwritten resource's properties go");

    // A calendar object moved between calendars.
    let ev = format!("{CAL}m.ics");
    let body = ics("m@example.com", "M");
    c.put(&ev, "text/calendar", &body).await.assert_status(201);
    let tasks = "/dav/calendars/alice/other-cal/";
    c.go("MKCALENDAR", tasks).await.assert_status(201);
    copy_move(&c, "MOVE", &ev, &format!("{tasks}m.ics"), &[]).await.assert_status(201);
    assert_missing(&c, &ev).await;
    assert_stored(&c, &format!("{tasks}m.ics"), body.as_bytes()).await;
    server.stop().await;
}

#[tokio::test]
async fn move_a_collection() {
    let (server, c) = alice_with_files().await;
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("a.txt"), "a").await.assert_status(201);
    put_text(&c, &f("sub/b.txt"), "b").await.assert_status(201);
    proppatch(&c, FILES, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    proppatch(&c, &f("sub/b.txt"), &set("<T:colour>green</T:colour>")).await.assert_status(207);
    let dst = "/dav/calendars/alice/renamed/";
    let r = copy_move(&c, "MOVE", FILES, dst, &[]).await;
    r.assert_status(201);
    for old in [FILES.to_owned(), f("a.txt"), f("sub/"), f("sub/b.txt")] {
        assert_missing(&c, &old).await;
    }
    assert_eq!(listing(&c, dst).await, set_of(&[dst, &format!("{dst}a.txt"), &format!("{dst}sub/")]));
    assert_stored(&c, &format!("{dst}sub/b.txt"), b"b").await;
    assert_eq!(dead_prop(&c, dst, "colour").await.as_deref(), Some("blue"));
    assert_eq!(dead_prop(&c, &format!("{dst}sub/b.txt"), "colour").await.as_deref(), Some("green"));
    let home = listing(&c, HOME).await;
    assert!(home.contains(dst) && !home.contains(FILES), "{home:?}");
    server.stop().await;
}

#[tokio::test]
async fn move_of_a_collection_into_itself_is_refused() {
    let (server, c) = alice_with_files().await;
    c.go("MKCOL", &f("sub/")).await.assert_status(201);
    put_text(&c, &f("sub/b.txt"), "b").await.assert_status(201);
    for (method, dst) in [("MOVE", f("sub/inner/")), ("MOVE", f("sub/")), ("COPY", f("sub/inner/"))] {
        let from = FILES;
        let r = copy_move(&c, method, from, &dst, &[]).await;
        let status = r.status.as_u16();
        assert!((400..500).contains(&status), "{method} {from} → {dst}: {status} {}", r.body);
        assert!([403, 409, 412].contains(&status), "{method} {from} → {dst}: {status}");
        assert_eq!(listing(&c, FILES).await, set_of(&[FILES, &f("sub/")]));
        assert_eq!(listing(&c, &f("sub/")).await, set_of(&[&f("sub/"), &f("sub/b.txt")]));
        assert_stored(&c, &f("sub/b.txt"), b"b").await;
    }
    server.stop().await;
}

/// Names that need percent-encoding survive PUT → PROPFIND href → GET, and COPY/MOVE.
#[tokio::test]
async fn names_with_reserved_and_unicode_characters_round_trip() {
    let (server, c) = alice_with_files().await;
    let names = [
        ("with space.txt", "with%20space.txt"),
        ("\u{fc} \u{20ac}.txt", "%C3%BC%20%E2%82%AC.txt"),
        ("100%.txt", "100%25.txt"),
        ("a#b.txt", "a%23b.txt"),
        ("q?x=1.txt", "q%3Fx=1.txt"),
    ];
    for (name, encoded) in names {
        let body = format!("content of {name}\r\n");
        put_text(&c, &f(encoded), &body).await.assert_status(201);
    }
    c.go("MKCOL", &f("dir%20%23%25%C3%A9/")).await.assert_status(201);
    let r = c.propfind(FILES, "1", &pf(&["D:resourcetype"])).await;
    r.assert_status(207);
    let hrefs = r.xml().hrefs();
    let decoded = |h: &str| percent_encoding::percent_decode_str(h).decode_utf8().unwrap().into_owned();
    for h in &hrefs {
        // An href is a URI reference: nothing raw that needs escaping (RFC 3986 §2).
        assert!(
            h.bytes().all(|b| b.is_ascii_graphic() && !b"#?\"<>\\^`{|}[]".contains(&b)),
            "href {h:?} is not a properly escaped path"
        );
    }
    for (name, _) in names {
        let h = hrefs
            .iter()
            .find(|h| decoded(h) == f(name))
            .unwrap_or_else(|| panic!("no href for {name:?} in {hrefs:?}"));
        assert_stored(&c, h, format!("content of {name}\r\n").as_bytes()).await;
    }
    let dir = hrefs
        .iter()
        .find(|h| decoded(h) == f("dir #%\u{e9}/"))
        .unwrap_or_else(|| panic!("no collection href in {hrefs:?}"))
        .clone();
    // Lower-case escapes name the same resource.
    assert_stored(&c, &f("%c3%bc%20%e2%82%ac.txt"), "content of \u{fc} \u{20ac}.txt\r\n".as_bytes()).await;

    // COPY and MOVE to encoded destinations.
    copy_move(&c, "COPY", &f("a%23b.txt"), &format!("{dir}c%3F%20%C3%BC.txt"), &[]).await.assert_status(201);
    copy_move(&c, "MOVE", &f("100%25.txt"), &format!("{dir}50%25%23.txt"), &[]).await.assert_status(201);
    assert_missing(&c, &f("100%25.txt")).await;
    let r = c.propfind(&dir, "1", &pf(&["D:getetag"])).await;
    let inner: BTreeSet<String> = r.xml().hrefs().iter().map(|h| decoded(h)).collect();
    assert_eq!(
        inner,
        set_of(&[&f("dir #%\u{e9}/"), &f("dir #%\u{e9}/c? \u{fc}.txt"), &f("dir #%\u{e9}/50%#.txt"),])
    );
    assert_stored(&c, &format!("{dir}c%3F%20%C3%BC.txt"), b"content of a#b.txt\r\n").await;
    assert_stored(&c, &format!("{dir}50%25%23.txt"), b"content of 100%.txt\r\n").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Access between users
// ---------------------------------------------------------------------------------------

async fn alice_and_bob() -> (TestServer, Client, Client, String, Vec<u8>) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    let alice = server.client("alice");
    let bob = server.client("bob");
    let ev = format!("{CAL}secret.ics");
    let body = ics("secret@example.com", "Secret");
    alice.put(&ev, "text/calendar", &body).await.assert_status(201);
    proppatch(&alice, &ev, &set("<T:colour>blue</T:colour>")).await.assert_status(207);
    (server, alice, bob, ev, body.into_bytes())
}

#[tokio::test]
async fn another_user_cannot_read_alices_resources() {
    let (server, alice, bob, ev, body) = alice_and_bob().await;
    for path in [HOME, CAL] {
        let r = bob.propfind(path, "0", &pf(&["D:displayname"])).await;
        assert_need_privileges(&r, path, "read");
        let r = bob.propfind(path, "1", &pf(&["D:displayname"])).await;
        assert_need_privileges(&r, path, "read");
    }
    let r = bob.propfind(&ev, "0", &pf(&["D:getetag"])).await;
    assert_need_privileges(&r, &ev, "read");
    let r = bob.go("GET", &ev).await;
    assert_need_privileges(&r, &ev, "read");
    assert!(!r.body.contains("Secret"), "no content leaks");
    let r = bob.go("GET", CAL).await;
    assert_need_privileges(&r, CAL, "read");
    // bob's own home does not list alice's collections.
    let mine = listing(&bob, "/dav/calendars/bob/").await;
    assert!(mine.iter().all(|h| h.starts_with("/dav/calendars/bob/")), "{mine:?}");
    assert_stored(&alice, &ev, &body).await;
    server.stop().await;
}

#[tokio::test]
async fn another_user_cannot_write_alices_resources() {
    let (server, alice, bob, ev, body) = alice_and_bob().await;
    let etag = get_raw(&alice, &ev).await.header("etag").unwrap().to_owned();
    // Replacing an existing object needs write-content on it.
    let r = bob.put(&ev, "text/calendar", &ics("secret@example.com", "Pwned")).await;
    assert_need_privileges(&r, &ev, "write-content");
    // Creating a member needs bind on the collection.
    let new = format!("{CAL}new.ics");
    let r = bob.put(&new, "text/calendar", &ics("new@example.com", "New")).await;
    assert_need_privileges(&r, CAL, "bind");
    assert_missing(&alice, &new).await;
    // Properties need write-properties.
    let r = proppatch(&bob, &ev, &set("<T:colour>red</T:colour>")).await;
    assert_need_privileges(&r, &ev, "write-properties");
    let r = proppatch(&bob, CAL, &set("<D:displayname>Bob's</D:displayname>")).await;
    assert_need_privileges(&r, CAL, "write-properties");
    // New collections need bind on the home.
    let r = bob.go("MKCOL", "/dav/calendars/alice/bobs/").await;
    assert_need_privileges(&r, HOME, "bind");
    assert_missing(&alice, "/dav/calendars/alice/bobs/").await;
    // Nothing changed.
    let g = get_raw(&alice, &ev).await;
    assert_body(&g, &body);
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    assert_eq!(dead_prop(&alice, &ev, "colour").await.as_deref(), Some("blue"));
    let r = alice.propfind(CAL, "0", &pf(&["D:displayname"])).await;
    let dn = r.xml().response(CAL).prop(DAV, "displayname").map(|(e, _)| e.text());
    assert_ne!(dn.as_deref(), Some("Bob's"));
    server.stop().await;
}

/// RFC 3744 §3.10 and the example of §7.1.1: removing a member needs DAV:unbind on the
/// collection it is removed from, and need-privileges names that collection.
#[tokio::test]
async fn another_user_cannot_delete_alices_resources() {
    let (server, alice, bob, ev, body) = alice_and_bob().await;
    let r = bob.go("DELETE", &ev).await;
    assert_need_privileges(&r, CAL, "unbind");
    assert_stored(&alice, &ev, &body).await;
    let r = bob.go("DELETE", CAL).await;
    assert_need_privileges(&r, HOME, "unbind");
    assert_eq!(listing(&alice, CAL).await, set_of(&[CAL, &ev]));
    server.stop().await;
}

/// COPY and MOVE across users: reading alice's source is refused, and so is binding into
/// alice's collections.
#[tokio::test]
async fn another_user_cannot_copy_or_move_across_homes() {
    let (server, alice, bob, ev, body) = alice_and_bob().await;
    let bobs = "/dav/calendars/bob/calendar/stolen.ics";
    let r = copy_move(&bob, "COPY", &ev, bobs, &[]).await;
    assert_need_privileges(&r, &ev, "read");
    assert_missing(&bob, bobs).await;
    let r = copy_move(&bob, "MOVE", &ev, bobs, &[]).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    assert_missing(&bob, bobs).await;
    assert_stored(&alice, &ev, &body).await;
    // bob's own object into alice's calendar: bind on it is lacking.
    let own = "/dav/calendars/bob/calendar/own.ics";
    bob.put(own, "text/calendar", &ics("own@example.com", "Own")).await.assert_status(201);
    let planted = format!("{CAL}planted.ics");
    let r = copy_move(&bob, "COPY", own, &planted, &[]).await;
    assert_need_privileges(&r, CAL, "bind");
    assert_missing(&alice, &planted).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Malformed requests
// ---------------------------------------------------------------------------------------

/// RFC 4918 §16: `DAV:no-external-entities` is used with 403.
#[tokio::test]
async fn external_entities_are_refused() {
    let (server, c) = alice_with_files().await;
    let body = "<?xml version=\"1.0\"?><!DOCTYPE propfind [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                <D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname>&x;</D:displayname></D:prop></D:propfind>";
    let r = c.propfind(FILES, "0", body).await;
    assert_dav_error(&r, 403, DAV, "no-external-entities");
    assert!(!r.body.contains("root:"), "no file content leaks");
    let r = c.body("PROPPATCH", FILES, &body.replace("propfind", "propertyupdate")).await;
    assert_dav_error(&r, 403, DAV, "no-external-entities");
    server.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_400_and_change_nothing() {
    let (server, c) = alice_with_files().await;
    let r = c.propfind(FILES, "0", "<D:propfind xmlns:D=\"DAV:\"><D:prop>").await;
    r.assert_status(400);
    let r = proppatch(&c, FILES, "<D:set><D:prop><T:colour>blue</T:colour></D:prop>").await;
    r.assert_status(400);
    assert_eq!(dead_prop(&c, FILES, "colour").await, None);
    let r = c.propfind(FILES, "2", &pf(&["D:resourcetype"])).await;
    r.assert_status(400);
    server.stop().await;
}

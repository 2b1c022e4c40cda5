//! Client flows replayed request by request: discovery, initial sync, create / update / delete
//! and incremental sync, with the methods, headers and XML bodies each client sends, asserting
//! what each client relies on. Based on `../shared/CLIENTS.md` and the client sources it cites;
//! every module names its sources in its first comment.
//!
//! `cross_client` has one test per row of the CLIENTS.md §8 table.

mod apple;
mod cross_client;
mod davx5;
mod evolution;
mod outlook_caldav_synchronizer;
mod thunderbird;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use davit::dav::xml::Element;
use davit::store::Role;
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::roxml::{DAV, Doc, ResponseView};
use crate::harness::{Client, PASSWORD, Reply, TestServer};

pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub const CS: &str = "http://calendarserver.org/ns/";
pub const ICAL: &str = "http://apple.com/ns/ical/";

pub const PRINCIPAL: &str = "/dav/principals/alice/";
pub const CAL_HOME: &str = "/dav/calendars/alice/";
pub const CAL: &str = "/dav/calendars/alice/calendar/";
pub const TASKS: &str = "/dav/calendars/alice/tasks/";
pub const BOOK_HOME: &str = "/dav/addressbooks/alice/";
pub const BOOK: &str = "/dav/addressbooks/alice/contacts/";

/// A server with the user `alice` (default calendar, task list and address book).
pub async fn start() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server
}

/// One client: every request carries its `User-Agent` and, unless anonymous, Basic credentials
/// (alice's password, or another secret such as an app password).
pub struct Agent {
    pub c: Client,
    pub ua: &'static str,
    pub password: Option<String>,
}

impl Agent {
    pub fn new(server: &TestServer, ua: &'static str) -> Agent {
        Agent { c: server.client("alice"), ua, password: None }
    }

    pub fn anonymous(server: &TestServer, ua: &'static str) -> Agent {
        Agent { c: server.anonymous(), ua, password: None }
    }

    /// alice logging in with `password` instead of her account password.
    pub fn with_password(server: &TestServer, ua: &'static str, password: &str) -> Agent {
        Agent { c: server.client("alice"), ua, password: Some(password.to_owned()) }
    }

    fn builder(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.c.base, path) };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.c.http.request(method, url).header("User-Agent", self.ua);
        if let Some(user) = &self.c.user {
            rb = rb.basic_auth(user, Some(self.password.as_deref().unwrap_or(PASSWORD)));
        }
        for (name, value) in headers {
            rb = rb.header(*name, *value);
        }
        rb
    }

    /// Sends `method path` with exactly these extra headers and, if given, this body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut rb = self.builder(method, path, headers);
        if let Some(b) = body {
            rb = rb.body(b.to_owned());
        }
        self.c.send(rb).await
    }

    /// Sends a body made of separate chunks without a length, so that it goes out with
    /// `Transfer-Encoding: chunked`.
    pub async fn send_chunked(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
    ) -> Reply {
        let body = Chunks(chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect());
        self.c.send(self.builder(method, path, headers).body(reqwest::Body::wrap(body))).await
    }
}

/// A read-only app password of alice (all collections): the one way davit can express a
/// read-only view of a collection until sharing exists. Returns the secret.
pub fn read_only_app_password(server: &TestServer) -> String {
    use davit::auth::app_password;
    let secret = app_password::generate().expect("random secret");
    let store = server.store();
    let alice = store.principal_by_slug("alice").unwrap().unwrap();
    let scope = davit::store::AppPasswordScope { read_only: true, collections: None };
    store.create_app_password(alice.id, "read-only phone", &app_password::hash(&secret), &scope).unwrap();
    secret
}

/// A request body of separate frames and unknown length.
struct Chunks(std::collections::VecDeque<Bytes>);

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

/// An answer read off the wire by `raw_http`.
pub struct RawReply {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn status(&self) -> u16 {
        self.status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Writes one HTTP/1.1 request byte for byte (`head` lines without the final blank line),
/// with `Authorization` for alice, `Connection: close`, and the body sent with
/// `Transfer-Encoding: chunked` as exactly these chunks. Returns the parsed answer.
pub async fn raw_chunked_request(addr: SocketAddr, head: &[&str], chunks: &[&[u8]]) -> RawReply {
    let mut req = String::new();
    for line in head {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Host: {addr}\r\n"));
    req.push_str(&format!("Authorization: Basic {}\r\n", STANDARD.encode(format!("alice:{PASSWORD}"))));
    req.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&bytes).await.expect("write request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read answer");
    parse_raw(&answer)
}

fn parse_raw(answer: &[u8]) -> RawReply {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the response head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let mut rest = &answer[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).expect("size");
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body
    } else {
        rest.to_vec()
    };
    RawReply { status_line, headers, body }
}

// --- XML, read the way clients read it ----------------------------------------------------

/// Every element below `el` in document order (what `querySelectorAll("*")` walks).
pub fn descendants(el: &Element) -> Vec<&Element> {
    fn walk<'a>(el: &'a Element, out: &mut Vec<&'a Element>) {
        for child in el.elements() {
            out.push(child);
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    walk(el, &mut out);
    out
}

/// The first descendant with this local name, whatever its namespace (like Thunderbird's
/// `querySelector("status")`).
pub fn first_named<'a>(el: &'a Element, local: &str) -> Option<&'a Element> {
    descendants(el).into_iter().find(|e| e.name == local)
}

/// The first element at the end of a path of (namespace, name) steps below `el`, trying every
/// matching child at each step (XPath `SelectSingleNode("D:propstat/D:prop/D:getetag")`).
pub fn select<'a>(el: &'a Element, path: &[(&str, &str)]) -> Option<&'a Element> {
    let Some(((ns, name), rest)) = path.split_first() else {
        return Some(el);
    };
    el.elements().filter(|c| c.is(ns, name)).find_map(|c| select(c, rest))
}

/// The privileges listed in a `current-user-privilege-set` property, as (namespace, name).
pub fn privileges(set: &Element) -> Vec<(String, String)> {
    set.elements()
        .filter(|p| p.is(DAV, "privilege"))
        .flat_map(|p| p.elements().map(|e| (e.ns.clone(), e.name.clone())))
        .collect()
}

pub fn has_privilege(set: &Element, name: &str) -> bool {
    privileges(set).iter().any(|(ns, n)| ns == DAV && n == name)
}

/// Every status line of a response: its own `D:status` and those of its propstats.
pub fn status_lines(resp: &ResponseView<'_>) -> Vec<String> {
    descendants(resp.el).into_iter().filter(|e| e.is(DAV, "status")).map(|e| e.text()).collect()
}

/// The top-level `DAV:sync-token` of a multistatus (RFC 6578 §6.4).
pub fn top_sync_token(doc: &Doc) -> Option<String> {
    doc.root.child(DAV, "sync-token").map(|t| t.text())
}

/// The status code in a status line such as `HTTP/1.1 404 Not Found`.
pub fn code_of(status_line: &str) -> u16 {
    status_line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A strong entity tag: quoted, no `W/` prefix (RFC 9110 §8.8.3).
#[track_caller]
pub fn assert_strong_etag(etag: &str) {
    assert!(!etag.starts_with("W/"), "weak ETag {etag:?}");
    assert!(etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"'), "malformed ETag {etag:?}");
}

// --- payloads ------------------------------------------------------------------------------

/// A VEVENT as a client would upload it: UTC times.
pub fn event(prodid: &str, uid: &str, summary: &str, start: &str, end: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{prodid}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T090000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A VTODO as a task client would upload it.
pub fn todo(prodid: &str, uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{prodid}\r\nBEGIN:VTODO\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T090000Z\r\nCREATED:20260101T090000Z\r\nSUMMARY:{summary}\r\n\
         STATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

/// A vCard 3.0.
pub fn vcard3(prodid: &str, uid: &str, name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:{prodid}\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n\
         EMAIL;TYPE=INTERNET:{uid}@example.org\r\nEND:VCARD\r\n"
    )
}

/// A vCard 4.0.
pub fn vcard4(prodid: &str, uid: &str, name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nPRODID:{prodid}\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n\
         EMAIL:{uid}@example.org\r\nEND:VCARD\r\n"
    )
}

/// A UTC timestamp in the iCalendar basic format, `days` from now.
pub fn utc_days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).format("%Y%m%dT%H%M%SZ").to_string()
}

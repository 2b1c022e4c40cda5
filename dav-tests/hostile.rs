//! A catalogue of malformed and hostile requests, each written byte for byte on a raw TCP
//! connection (HTTP/1.1, Basic auth as alice), each with the status it must get, or "closed"
//! where the request is not HTTP at all. After every single case the test checks that the
//! store is unchanged (a snapshot of everything alice can see, as in `bad_input.rs`), that
//! bob's data never leaked and that the server still answers. All mismatches are collected
//! and reported together.
//!
//! Separate tests cover what does not fit one request/answer: slowloris-style slow headers and
//! slow bodies held open by many connections while others are served.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use davit::store::{HomeKind, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{PASSWORD, TestServer};

const CAL: &str = "/dav/calendars/alice/calendar/";
const BOOK: &str = "/dav/addressbooks/alice/contacts/";
const HOME: &str = "/dav/calendars/alice/";
const OBJECT: &str = "/dav/calendars/alice/calendar/a.ics";
const NEW_COLL: &str = "/dav/calendars/alice/new-collection/";
const NEW_OBJECT: &str = "/dav/calendars/alice/calendar/new.ics";
const BOB_CAL: &str = "/dav/calendars/bob/calendar/";
const BOB_OBJECT: &str = "/dav/calendars/bob/calendar/bob.ics";
/// Only in bob's object: no answer to alice may ever contain it.
const BOB_SECRET: &str = "BOB-SECRET-4711";
/// Would appear in an answer if an external entity or an entity bomb were expanded.
const LEAKS: [&str; 4] = [BOB_SECRET, "root:x:", "lollollol", "/bin/sh"];

const DAV_NS: &str = "xmlns:D=\"DAV:\"";
const CAL_NS: &str = "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"";

fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         DTEND:20240102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn recurring(uid: &str, rule: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T000000Z\r\n\
         DURATION:PT1S\r\nRRULE:{rule}\r\nSUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn vcard(uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
}

/// Recurrence rules stored before the catalogue runs, queried by it: one yielding an instance
/// every second forever, and two that never yield any instance after the first (a naive
/// expander searches for the next one forever).
const RULES: [(&str, &str); 3] = [
    ("every-second.ics", "FREQ=SECONDLY"),
    ("february-30.ics", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
    ("april-31.ics", "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11"),
];

/// alice with an event, three hostile recurrences and a contact; bob with a secret event.
async fn server_with_data() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    let alice = server.client("alice");
    alice.put(OBJECT, "text/calendar", &ics("alice-1", "Alice")).await.assert_status(201);
    for (name, rule) in RULES {
        alice.put(&format!("{CAL}{name}"), "text/calendar", &recurring(name, rule)).await.assert_status(201);
    }
    alice.put(&format!("{BOOK}c.vcf"), "text/vcard", &vcard("card-1", "Carol")).await.assert_status(201);
    server.client("bob").put(BOB_OBJECT, "text/calendar", &ics("bob-1", BOB_SECRET)).await.assert_status(201);
    server
}

// --- raw requests ---------------------------------------------------------------------------

/// A request written by hand. `Host`, `Authorization` (alice), `Connection: close` and a
/// correct `Content-Length` are added unless switched off.
#[derive(Clone)]
struct Raw {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    auth: bool,
    length: bool,
    host: bool,
    close: bool,
}

fn req(method: &str, target: &str) -> Raw {
    Raw {
        method: method.into(),
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        auth: true,
        length: true,
        host: true,
        close: true,
    }
}

impl Raw {
    fn header(mut self, name: &str, value: &str) -> Raw {
        self.headers.push((name.into(), value.into()));
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Raw {
        self.body = body.into();
        self
    }
    fn xml(self, body: impl Into<Vec<u8>>) -> Raw {
        self.header("Content-Type", "application/xml; charset=utf-8").body(body)
    }
    fn no_length(mut self) -> Raw {
        self.length = false;
        self
    }
    fn no_host(mut self) -> Raw {
        self.host = false;
        self
    }
    /// Without `Connection: close`: the server decides when the connection ends.
    fn keep_alive(mut self) -> Raw {
        self.close = false;
        self
    }
    fn bytes(&self, host: &str) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        if self.host {
            head.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
        }
        if self.auth {
            let credentials = STANDARD.encode(format!("alice:{PASSWORD}"));
            head.extend_from_slice(format!("Authorization: Basic {credentials}\r\n").as_bytes());
        }
        if self.close {
            head.extend_from_slice(b"Connection: close\r\n");
        }
        if self.length {
            head.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        for (k, v) in &self.headers {
            head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&self.body);
        head
    }
}

/// What a case must get back.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// This status, and (if given) this text in the body: a precondition or postcondition
    /// element's name, or a status line inside a multistatus.
    Status(u16, Option<&'static str>),
    /// A multistatus (207) with this text in it and never that one (e.g. no 200 for a
    /// resource outside the user's space).
    MultiWithout(&'static str, &'static str),
    /// Not HTTP: the connection is closed without an HTTP/1.x answer.
    Closed,
}

/// How the bytes are delivered.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    /// All at once, then wait for the answer.
    Whole,
    /// All at once, then close the sending side (for bodies shorter than announced).
    HalfClose,
    /// In `n` pieces with a pause between them (a slow client).
    Trickle(usize, Duration),
    /// Like `Trickle`, then close the sending side.
    TrickleThenClose(usize, Duration),
    /// All at once, on a connection the server may keep open: read for three seconds.
    KeepAlive,
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    expect: Expect,
    delivery: Delivery,
}

/// The answer: status and body, or None if the connection closed without an HTTP answer.
struct Answer {
    status: Option<u16>,
    body: String,
    raw_len: usize,
}

async fn exchange(addr: std::net::SocketAddr, bytes: &[u8], delivery: Delivery) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    // A server may answer and close before reading everything (431, 413): a failed write is
    // not an error of the test, the answer is what counts.
    match delivery {
        Delivery::Whole | Delivery::HalfClose | Delivery::KeepAlive => {
            let _ = stream.write_all(bytes).await;
            if matches!(delivery, Delivery::HalfClose) {
                let _ = stream.shutdown().await;
            }
        }
        Delivery::Trickle(n, pause) | Delivery::TrickleThenClose(n, pause) => {
            let size = bytes.len().div_ceil(n.max(1));
            for piece in bytes.chunks(size.max(1)) {
                if stream.write_all(piece).await.is_err() {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            if matches!(delivery, Delivery::TrickleThenClose(..)) {
                let _ = stream.shutdown().await;
            }
        }
    }
    let mut buf = Vec::new();
    let wait = if matches!(delivery, Delivery::KeepAlive) { 3 } else { 30 };
    match tokio::time::timeout(Duration::from_secs(wait), read_all(&mut stream, &mut buf)).await {
        Ok(()) => {}
        Err(_) if matches!(delivery, Delivery::KeepAlive) => {}
        Err(_) => return Err(format!("no answer and no close within 30 s (got {} bytes)", buf.len())),
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok(Answer { status, body, raw_len: buf.len() })
}

/// Reads until EOF; a reset after some bytes keeps what arrived.
async fn read_all(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

// --- the catalogue ---------------------------------------------------------------------------

struct Catalogue {
    host: String,
    cases: Vec<Case>,
}

impl Catalogue {
    fn add(&mut self, name: impl Into<String>, r: Raw, expect: Expect) {
        let bytes = r.bytes(&self.host);
        self.cases.push(Case { name: name.into(), bytes, expect, delivery: Delivery::Whole });
    }
    fn add_raw(
        &mut self,
        name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
        expect: Expect,
        delivery: Delivery,
    ) {
        self.cases.push(Case { name: name.into(), bytes: bytes.into(), expect, delivery });
    }
}

const fn status(code: u16) -> Expect {
    Expect::Status(code, None)
}

const fn cond(code: u16, condition: &'static str) -> Expect {
    Expect::Status(code, Some(condition))
}

/// The XML-taking methods, each with a target where the body would change something if it
/// were obeyed, and a wrapper placing `{X}` where text goes.
fn xml_methods() -> Vec<(&'static str, &'static str, &'static str, String)> {
    vec![
        (
            "PROPFIND",
            CAL,
            "D:propfind",
            format!(
                "<D:propfind {DAV_NS}><D:prop><D:displayname>{{X}}</D:displayname></D:prop></D:propfind>"
            ),
        ),
        (
            "PROPPATCH",
            CAL,
            "D:propertyupdate",
            format!(
                "<D:propertyupdate {DAV_NS}><D:set><D:prop><D:displayname>{{X}}</D:displayname></D:prop>\
                 </D:set></D:propertyupdate>"
            ),
        ),
        (
            "REPORT",
            CAL,
            "C:calendar-query",
            format!(
                "<C:calendar-query {CAL_NS}><D:prop><D:getetag/></D:prop><C:filter>\
                 <C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\">\
                 <C:prop-filter name=\"SUMMARY\"><C:text-match>{{X}}</C:text-match></C:prop-filter>\
                 </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
            ),
        ),
        (
            "MKCOL",
            NEW_COLL,
            "D:mkcol",
            format!(
                "<D:mkcol {DAV_NS}><D:set><D:prop><D:resourcetype><D:collection/></D:resourcetype>\
                 <D:displayname>{{X}}</D:displayname></D:prop></D:set></D:mkcol>"
            ),
        ),
        (
            "MKCALENDAR",
            NEW_COLL,
            "C:mkcalendar",
            format!(
                "<C:mkcalendar {CAL_NS}><D:set><D:prop><D:displayname>{{X}}</D:displayname></D:prop>\
                 </D:set></C:mkcalendar>"
            ),
        ),
    ]
}

/// `text` with the first `needle` replaced by raw bytes (which need not be UTF-8).
fn replace_bytes(text: &str, needle: &str, with: &[u8]) -> Vec<u8> {
    let at = text.find(needle).expect("needle present");
    [&text.as_bytes()[..at], with, &text.as_bytes()[at + needle.len()..]].concat()
}

/// PROPFIND on the target itself (Depth 0); REPORTs over the members (Depth 1, which
/// calendar-query needs and multiget ignores), except sync-collection, defined for Depth 0
/// only (RFC 6578 §3.2).
fn xml_request(method: &str, target: &str, body: impl Into<Vec<u8>>) -> Raw {
    let body: Vec<u8> = body.into();
    let sync = body.windows(15).any(|w| w == b"sync-collection");
    let r = req(method, target).xml(body);
    match method {
        "PROPFIND" => r.header("Depth", "0"),
        "REPORT" if sync => r.header("Depth", "0"),
        "REPORT" => r.header("Depth", "1"),
        _ => r,
    }
}

fn xml_attacks(cat: &mut Catalogue) {
    let laughs = {
        let mut d = String::from("<!ENTITY lol0 \"lollollollollollollollollollol\">");
        for i in 1..10 {
            d.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&lol{};", i - 1).repeat(10)));
        }
        d
    };
    let quadratic = format!("<!ENTITY a \"{}\">", "a".repeat(50_000));
    // (name, internal subset or external id, text using it)
    let dtds: Vec<(&str, String, String)> = vec![
        ("XXE SYSTEM file", "[<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]".into(), "&xxe;".into()),
        (
            "XXE PUBLIC http",
            "[<!ENTITY xxe PUBLIC \"-//EVIL//X\" \"http://127.0.0.1:9/evil.dtd\">]".into(),
            "&xxe;".into(),
        ),
        (
            "XXE parameter entity",
            "[<!ENTITY % ext SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %ext;]".into(),
            String::new(),
        ),
        ("external DTD subset", "SYSTEM \"http://127.0.0.1:9/evil.dtd\"".into(), String::new()),
        ("billion laughs", format!("[{laughs}]"), "&lol9;".into()),
        ("quadratic blowup", format!("[{quadratic}]"), "&a;".repeat(5_000)),
        ("internal entity", "[<!ENTITY n \"name\">]".into(), "&n;".into()),
    ];
    for (method, target, root, wrapper) in xml_methods() {
        for (what, dtd, text) in &dtds {
            let body =
                format!("<?xml version=\"1.0\"?><!DOCTYPE {root} {dtd}>{}", wrapper.replace("{X}", text));
            // RFC 4918 §16: DAV:no-external-entities, "use with 403 Forbidden".
            cat.add(
                format!("{method} with {what}"),
                xml_request(method, target, body),
                cond(403, "no-external-entities"),
            );
        }
        // An entity reference without any DTD is not expanded either.
        let body = wrapper.replace("{X}", "&xxe;");
        cat.add(
            format!("{method} with an undeclared entity"),
            xml_request(method, target, body),
            cond(403, "no-external-entities"),
        );
        // Not well-formed (RFC 4918 §8.2: 400).
        let deep = format!(
            "<D:propfind {DAV_NS}>{}{}</D:propfind>",
            "<D:prop>".repeat(100),
            "</D:prop>".repeat(100)
        );
        let deep = if method == "PROPFIND" {
            deep
        } else {
            wrapper.replace("{X}", &format!("{}{}", "<x>".repeat(100), "</x>".repeat(100)))
        };
        cat.add(format!("{method} nested 100 deep"), xml_request(method, target, deep), status(400));
        let bad_utf8 = replace_bytes(&wrapper, "{X}", b"caf\xc3\x28\xff\xfe");
        cat.add(format!("{method} with invalid UTF-8"), xml_request(method, target, bad_utf8), status(400));
        let nul = wrapper.replace("{X}", "a\u{0}b");
        cat.add(format!("{method} with a NUL character"), xml_request(method, target, nul), status(400));
    }
    // Size within the body limit but beyond the parser's bounds.
    cat.add(
        "PROPFIND nested 10,000 deep",
        xml_request("PROPFIND", CAL, format!("<D:propfind {DAV_NS}>{}", "<D:prop>".repeat(10_000))),
        status(400),
    );
    for (method, open, close) in [
        ("PROPFIND", format!("<D:propfind {DAV_NS}><D:prop>"), "</D:prop></D:propfind>".to_owned()),
        (
            "PROPPATCH",
            format!("<D:propertyupdate {DAV_NS}><D:set><D:prop><x:y xmlns:x=\"urn:x\">"),
            "</x:y></D:prop></D:set></D:propertyupdate>".to_owned(),
        ),
        (
            "REPORT",
            format!("<C:calendar-multiget {CAL_NS}><D:prop>"),
            "</D:prop><D:href>/x</D:href></C:calendar-multiget>".to_owned(),
        ),
    ] {
        let body = format!("{open}{}{close}", "<D:getetag/>".repeat(25_000));
        cat.add(format!("{method} with 25,000 elements"), xml_request(method, CAL, body), status(400));
    }
    // Big but harmless: answered normally, nothing changes.
    let attr = format!(
        "<D:propfind {DAV_NS}><D:prop a=\"{}\"><D:getetag/></D:prop></D:propfind>",
        "v".repeat(1 << 20)
    );
    cat.add("PROPFIND with a 1 MiB attribute", xml_request("PROPFIND", CAL, attr), status(207));
    let text = format!(
        "<D:propfind {DAV_NS}><D:prop><D:getetag/></D:prop><!-- {} --></D:propfind>",
        "c".repeat(8 << 20)
    );
    cat.add("PROPFIND with an 8 MiB comment", xml_request("PROPFIND", CAL, text), status(207));
    let pattern = "p".repeat(8 << 20);
    let query = xml_methods()[2].3.replace("{X}", &pattern);
    cat.add("calendar-query with an 8 MiB text-match", xml_request("REPORT", CAL, query), status(207));
    let namespaces: String = (0..10_000).map(|i| format!(" xmlns:n{i}=\"urn:n{i}\"")).collect();
    let body = format!("<D:propfind {DAV_NS}{namespaces}><D:prop><D:getetag/></D:prop></D:propfind>");
    // Each declaration counts against the element budget: refused like an element flood.
    cat.add("PROPFIND declaring 10,000 namespaces", xml_request("PROPFIND", CAL, body), status(400));
}

fn size_and_framing(cat: &mut Catalogue) {
    let filler = |bytes: usize, make: &dyn Fn(&str) -> String| {
        let base = make("");
        make(&"x".repeat(bytes - base.len()))
    };
    let big_ics = filler(15 << 20, &|f| {
        ics("big-1", "Big").replace("SUMMARY:Big", &format!("SUMMARY:Big\r\nDESCRIPTION:{f}"))
    });
    cat.add(
        "PUT of a 15 MiB event (under the 16 MiB body limit) into a calendar",
        req("PUT", NEW_OBJECT).header("Content-Type", "text/calendar").body(big_ics),
        cond(403, "max-resource-size"),
    );
    let big_vcf =
        filler(15 << 20, &|f| vcard("big-2", "Big").replace("FN:Big", &format!("FN:Big\r\nNOTE:{f}")));
    cat.add(
        "PUT of a 15 MiB vCard into an address book",
        req("PUT", &format!("{BOOK}big.vcf")).header("Content-Type", "text/vcard").body(big_vcf),
        cond(403, "max-resource-size"),
    );
    cat.add(
        "PUT announcing 17 MiB (over the body limit)",
        req("PUT", NEW_OBJECT)
            .header("Content-Type", "text/calendar")
            .no_length()
            .header("Content-Length", &(17u64 << 20).to_string())
            .body(ics("x", "x")),
        status(413),
    );
    cat.add(
        "PUT announcing 10^15 bytes",
        req("PUT", NEW_OBJECT).no_length().header("Content-Length", "1000000000000000").body(ics("x", "x")),
        status(413),
    );
    cat.add(
        "PUT announcing 2^64 bytes (overflows)",
        req("PUT", NEW_OBJECT).no_length().header("Content-Length", "18446744073709551616").body("x"),
        status(400),
    );
    cat.add(
        "negative Content-Length",
        req("PUT", NEW_OBJECT).no_length().header("Content-Length", "-1").body("x"),
        status(400),
    );
    cat.add(
        "non-numeric Content-Length",
        req("PUT", NEW_OBJECT).no_length().header("Content-Length", "ten").body("x"),
        status(400),
    );
    cat.add(
        "two different Content-Lengths",
        req("PUT", NEW_OBJECT)
            .no_length()
            .header("Content-Length", "5")
            .header("Content-Length", "6")
            .body("hello!"),
        status(400),
    );
    // RFC 9112 §6.1: with both, the body is framed by Transfer-Encoding alone (here: empty, so
    // not valid calendar data), and the server MUST close the connection after responding,
    // so the "smuggled" request after the last chunk is never executed.
    let smuggled = format!(
        "0\r\n\r\n{}",
        String::from_utf8(
            req("PUT", &format!("{CAL}smuggled.ics"))
                .header("Content-Type", "text/calendar")
                .body(ics("smuggled", "Smuggled"))
                .bytes(&cat.host)
        )
        .unwrap()
    );
    let both = req("PUT", NEW_OBJECT)
        .header("Content-Type", "text/calendar")
        .no_length()
        .header("Content-Length", "4")
        .header("Transfer-Encoding", "chunked")
        .keep_alive()
        .body(smuggled);
    cat.add_raw(
        "Content-Length with chunked, a request smuggled behind the last chunk",
        both.bytes(&cat.host),
        cond(403, "valid-calendar-data"),
        Delivery::KeepAlive,
    );
    let body = ics("half", "Half");
    let short = req("PUT", NEW_OBJECT)
        .header("Content-Type", "text/calendar")
        .no_length()
        .header("Content-Length", &(body.len() / 2).to_string())
        .body(body.clone());
    // The first half is the whole request body: not valid iCalendar (RFC 4791 §5.3.2.1).
    cat.add("Content-Length shorter than the body", short, cond(403, "valid-calendar-data"));
    // RFC 5545 §3.1: a CR only ends a line, before its LF. calcard read the lines after a
    // bare one otherwise than it writes them back (a fuzzing find).
    let bare_cr =
        req("PUT", NEW_OBJECT).header("Content-Type", "text/calendar").body(ics("bare-cr", "Bare\rCR"));
    cat.add("iCalendar with a CR inside a line", bare_cr, cond(403, "valid-calendar-data"));
    let long = req("PUT", NEW_OBJECT)
        .header("Content-Type", "text/calendar")
        .no_length()
        .header("Content-Length", &(body.len() * 2).to_string())
        .body(body.clone());
    cat.add_raw(
        "Content-Length longer than the body, then EOF",
        long.bytes(&cat.host),
        status(400),
        Delivery::HalfClose,
    );
    let chunked = |chunks: &str| {
        req("PUT", NEW_OBJECT)
            .header("Content-Type", "text/calendar")
            .no_length()
            .header("Transfer-Encoding", "chunked")
            .body(chunks.to_owned())
    };
    cat.add("chunk size that is not hex", chunked("zz\r\nhello\r\n0\r\n\r\n"), status(400));
    cat.add(
        "chunk size overflowing 64 bits",
        chunked("fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        status(400),
    );
    cat.add("chunk longer than announced", chunked("2\r\nhello\r\n0\r\n\r\n"), status(400));
    cat.add_raw(
        "chunked body without the last chunk, then EOF",
        chunked("5\r\nhello\r\n").bytes(&cat.host),
        status(400),
        Delivery::HalfClose,
    );
    let mut over = String::new();
    for _ in 0..17 {
        over.push_str(&format!("100000\r\n{}\r\n", "y".repeat(1 << 20)));
    }
    over.push_str("0\r\n\r\n");
    cat.add("chunked body over the 16 MiB limit", chunked(&over), status(413));
    cat.add(
        "Transfer-Encoding that is not chunked",
        req("PUT", NEW_OBJECT).no_length().header("Transfer-Encoding", "gzip").body("x"),
        status(400),
    );
    cat.add(
        "Expect: 100-continue with a body over the limit",
        req("PUT", NEW_OBJECT)
            .no_length()
            .header("Content-Length", &(64u64 << 20).to_string())
            .header("Expect", "100-continue"),
        status(413),
    );
}

fn protocol_garbage(cat: &mut Catalogue) {
    let host = cat.host.clone();
    cat.add_raw("not HTTP at all", b"GARBAGE\r\n\r\n".to_vec(), status(400), Delivery::Whole);
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    cat.add_raw("4 KiB of binary noise", noise, status(400), Delivery::Whole);
    cat.add_raw(
        "TLS ClientHello on the plain port",
        vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03],
        status(400),
        Delivery::HalfClose,
    );
    cat.add_raw(
        "HTTP/2 preface followed by junk",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        Expect::Closed,
        Delivery::HalfClose,
    );
    cat.add_raw("HTTP/0.9 request line", b"GET /dav/\r\n\r\n".to_vec(), status(400), Delivery::Whole);
    cat.add_raw(
        "HTTP/3.0 version",
        format!("GET /dav/ HTTP/3.0\r\nHost: {host}\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    cat.add_raw(
        "space in the method",
        format!("GE T /dav/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    cat.add_raw(
        "NUL in the method",
        format!("G\0ET /dav/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    cat.add_raw(
        "raw space in the request target",
        format!("GET /dav/calendars/alice/calendar/a b.ics HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    let mut nul_target = format!("GET {CAL}a").into_bytes();
    nul_target.extend_from_slice(b"\0.ics HTTP/1.1\r\nHost: x\r\n\r\n");
    cat.add_raw("raw NUL in the request target", nul_target, status(400), Delivery::Whole);
    let mut utf8_target = format!("GET {CAL}").into_bytes();
    utf8_target.extend_from_slice(b"\xff\xfe.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    cat.add_raw("raw invalid UTF-8 in the request target", utf8_target, status(400), Delivery::Whole);
    cat.add("unknown method", req("FROBNICATE", OBJECT), status(501));
    cat.add("lower-case method (methods are case-sensitive)", req("get", OBJECT), status(501));
    cat.add("10 KiB method name", req(&"M".repeat(10 * 1024), OBJECT), status(501));
    cat.add(
        "LOCK (class 2 is not offered)",
        req("LOCK", OBJECT).xml(format!("<D:lockinfo {DAV_NS}/>")),
        status(405),
    );
    cat.add("TRACE", req("TRACE", OBJECT), status(501));
    cat.add("CONNECT", req("CONNECT", "127.0.0.1:22"), status(501));
    // RFC 9112 §3.2: a request without Host, or with two, "MUST" get 400.
    cat.add("HTTP/1.1 request without Host", req("GET", OBJECT).no_host(), status(400));
    cat.add("two Host headers", req("GET", OBJECT).header("Host", "evil.example"), status(400));
    cat.add_raw(
        "header line without a colon",
        format!("GET {OBJECT} HTTP/1.1\r\nHost: {host}\r\nNoColonHere\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    // RFC 9112 §5.1: whitespace between field name and colon: 400.
    cat.add_raw(
        "space before the colon",
        format!("GET {OBJECT} HTTP/1.1\r\nHost: {host}\r\nDepth : 0\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    // RFC 9112 §5.2: obsolete line folding is rejected (400) or replaced by spaces.
    cat.add_raw(
        "obsolete line folding",
        format!("GET {OBJECT} HTTP/1.1\r\nHost: {host}\r\nX-A: a\r\n b\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    cat.add_raw(
        "NUL in a header value",
        format!("GET {OBJECT} HTTP/1.1\r\nHost: {host}\r\nX-A: a\0b\r\n\r\n"),
        status(400),
        Delivery::Whole,
    );
    let mut latin = req("PROPFIND", CAL).bytes(&host);
    let at = latin.len() - 2;
    latin.splice(at..at, b"Depth: \xff\xfe\r\n".iter().copied());
    cat.add_raw("non-ASCII bytes in the Depth header", latin, status(400), Delivery::Whole);
    // Absolute-form targets name the resource by their path; another host changes nothing.
    cat.add(
        "absolute-form target at bob's object",
        req("GET", &format!("http://evil.example{BOB_OBJECT}")),
        status(403),
    );
}

fn header_limits(cat: &mut Catalogue) {
    let host = cat.host.clone();
    cat.add(
        "request target of 100 KiB",
        req("GET", &format!("{CAL}{}", "a".repeat(100 * 1024))),
        status(431),
    );
    cat.add("request target of 8 KiB", req("GET", &format!("{CAL}{}", "a".repeat(8 * 1024))), status(404));
    cat.add(
        "one header of 100 KiB",
        req("GET", OBJECT).header("X-Big", &"b".repeat(100 * 1024)),
        status(431),
    );
    let mut many = req("GET", OBJECT);
    for i in 0..150 {
        many = many.header(&format!("X-H{i}"), "v");
    }
    cat.add("150 header fields", many, status(431));
    let mut flood = format!("GET {OBJECT} HTTP/1.1\r\nHost: {host}\r\n");
    for i in 0..20_000 {
        flood.push_str(&format!("X-{i}: v\r\n"));
    }
    flood.push_str("\r\n");
    cat.add_raw("20,000 header fields", flood, status(431), Delivery::Whole);
    cat.add(
        "Authorization of 60 KiB",
        Raw { auth: false, ..req("GET", OBJECT) }
            .header("Authorization", &format!("Basic {}", "A".repeat(60 * 1024))),
        status(401),
    );
    cat.add("Depth of 30 KiB", req("PROPFIND", CAL).header("Depth", &"0".repeat(30 * 1024)), status(400));
    let tags: Vec<String> = (0..4000).map(|i| format!("\"{i:032x}\"")).collect();
    cat.add(
        "If-Match with 4,000 entity tags (144 KiB)",
        req("PUT", OBJECT)
            .header("Content-Type", "text/calendar")
            .header("If-Match", &tags.join(", "))
            .body(ics("alice-1", "Overwritten")),
        status(431),
    );
    let tags = &tags[..1500];
    cat.add(
        "If-Match with 1,500 entity tags, none current",
        req("PUT", OBJECT)
            .header("Content-Type", "text/calendar")
            .header("If-Match", &tags.join(", "))
            .body(ics("alice-1", "Overwritten")),
        status(412),
    );
    let ifs = format!("<{OBJECT}> {}", "([\"nope\"]) ".repeat(2000));
    cat.add("If header with 2,000 lists, none true", req("DELETE", OBJECT).header("If", &ifs), status(412));
    cat.add("If header that does not parse", req("DELETE", OBJECT).header("If", "(((<<<"), status(400));
    cat.add(
        "Destination of 60 KiB",
        req("COPY", OBJECT).header("Destination", &format!("{CAL}{}", "d".repeat(60 * 1024))),
        status(400),
    );
    cat.add(
        "Range with 10,000 ranges",
        req("GET", OBJECT).header("Range", &format!("bytes={}", vec!["0-0"; 10_000].join(","))),
        status(200),
    );
}

fn depth_abuse(cat: &mut Catalogue) {
    let pf = format!("<D:propfind {DAV_NS}><D:allprop/></D:propfind>");
    // RFC 4918 §9.1: Depth infinity may be refused with DAV:propfind-finite-depth.
    for target in ["/dav/", HOME, "/dav/calendars/", CAL] {
        cat.add(
            format!("PROPFIND Depth: infinity on {target}"),
            req("PROPFIND", target).header("Depth", "infinity").xml(pf.clone()),
            cond(403, "propfind-finite-depth"),
        );
    }
    for depth in ["banana", "2", "-1", "infinity, 0", ""] {
        for (method, target) in [
            ("PROPFIND", CAL),
            ("PUT", NEW_OBJECT),
            ("DELETE", OBJECT),
            ("MKCOL", NEW_COLL),
            ("COPY", OBJECT),
            ("MOVE", OBJECT),
            ("PROPPATCH", CAL),
            ("REPORT", CAL),
            ("GET", OBJECT),
            ("OPTIONS", CAL),
        ] {
            if depth != "banana" && !matches!(method, "PROPFIND" | "COPY" | "REPORT") {
                continue;
            }
            let mut r = req(method, target).header("Depth", depth);
            r = match method {
                "PUT" => r.header("Content-Type", "text/calendar").body(ics("depth", "Depth")),
                "COPY" | "MOVE" => r.header("Destination", &format!("{CAL}moved.ics")),
                "PROPFIND" => r.xml(pf.clone()),
                "PROPPATCH" => r.xml(format!(
                    "<D:propertyupdate {DAV_NS}><D:set><D:prop><D:displayname>x</D:displayname></D:prop>\
                     </D:set></D:propertyupdate>"
                )),
                "REPORT" => r.xml(crate::crash::sync_body("")),
                _ => r,
            };
            cat.add(format!("{method} with Depth: {depth:?}"), r, status(400));
        }
    }
    // RFC 4918 §9.6.1 / §9.8.3 / §9.9.2: the Depths these methods must not take.
    cat.add("DELETE of a collection with Depth: 0", req("DELETE", CAL).header("Depth", "0"), status(400));
    cat.add("DELETE of a collection with Depth: 1", req("DELETE", CAL).header("Depth", "1"), status(400));
    cat.add(
        "COPY of a collection with Depth: 1",
        req("COPY", CAL).header("Depth", "1").header("Destination", NEW_COLL),
        status(400),
    );
    cat.add(
        "MOVE of a collection with Depth: 0",
        req("MOVE", CAL).header("Depth", "0").header("Destination", NEW_COLL),
        status(400),
    );
}

fn multiget(hrefs: &[String]) -> String {
    let hrefs: String = hrefs.iter().map(|h| format!("<D:href>{h}</D:href>")).collect();
    format!(
        "<C:calendar-multiget {CAL_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
    )
}

fn report_abuse(cat: &mut Catalogue, cal_id: i64, bob_cal_id: i64) {
    let many: Vec<String> = (0..10_000).map(|i| format!("{CAL}x{i}.ics")).collect();
    cat.add(
        "calendar-multiget of 10,000 hrefs",
        xml_request("REPORT", CAL, multiget(&many)),
        cond(403, "number-of-matches-within-limits"),
    );
    cat.add(
        "calendar-multiget of 1,001 hrefs",
        xml_request("REPORT", CAL, multiget(&many[..1001])),
        cond(403, "number-of-matches-within-limits"),
    );
    cat.add(
        "calendar-multiget of one object named 1,000 times",
        xml_request("REPORT", CAL, multiget(&vec![OBJECT.to_owned(); 1000])),
        status(207),
    );
    // Each href outside alice's space gets its own 403/404 inside a 207; bob's data never shows.
    let outside = vec![
        BOB_OBJECT.to_owned(),
        format!("http://evil.example{BOB_OBJECT}"),
        "/dav/calendars/alice/../bob/calendar/bob.ics".to_owned(),
        "/dav/calendars/alice/%2e%2e/bob/calendar/bob.ics".to_owned(),
        "/dav/calendars/alice/calendar/..%2f..%2fbob%2fcalendar%2fbob.ics".to_owned(),
        "file:///etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        String::new(),
        format!("{CAL}{}", "h".repeat(100 * 1024)),
        BOB_CAL.to_owned(),
        "/dav/principals/bob/".to_owned(),
    ];
    for href in outside {
        let shown: String = href.chars().take(60).collect();
        cat.add(
            format!("calendar-multiget of {shown:?}"),
            xml_request("REPORT", CAL, multiget(&[href])),
            Expect::MultiWithout("HTTP/1.1 40", "HTTP/1.1 200"),
        );
    }
    cat.add(
        "addressbook-multiget on a calendar",
        xml_request(
            "REPORT",
            CAL,
            format!(
                "<CR:addressbook-multiget {DAV_NS} xmlns:CR=\"urn:ietf:params:xml:ns:carddav\">\
                 <D:prop><D:getetag/></D:prop><D:href>{OBJECT}</D:href></CR:addressbook-multiget>"
            ),
        ),
        cond(403, "supported-report"),
    );
    cat.add(
        "calendar-multiget on bob's calendar",
        xml_request("REPORT", BOB_CAL, multiget(&[BOB_OBJECT.into()])),
        status(403),
    );
    // Unknown and malformed REPORTs.
    cat.add(
        "unknown REPORT",
        xml_request("REPORT", CAL, "<X:frobnicate xmlns:X=\"urn:x\"/>"),
        cond(403, "supported-report"),
    );
    cat.add(
        "expand-property REPORT (RFC 3253, not offered)",
        xml_request(
            "REPORT",
            CAL,
            format!("<D:expand-property {DAV_NS}><D:property name=\"owner\"/></D:expand-property>"),
        ),
        cond(403, "supported-report"),
    );
    cat.add("REPORT without a body", req("REPORT", CAL), status(400));
    // Sync tokens.
    for (what, token) in [
        ("garbage", "garbage".to_owned()),
        ("of bob's calendar", format!("urn:x-davit:sync:{bob_cal_id}:1")),
        ("from the future", format!("urn:x-davit:sync:{cal_id}:999999999")),
        ("with a negative revision", format!("urn:x-davit:sync:{cal_id}:-1")),
        ("overflowing i64", format!("urn:x-davit:sync:{cal_id}:99999999999999999999999")),
        ("of 1 MiB", format!("urn:x-davit:sync:{cal_id}:{}", "9".repeat(1 << 20))),
        ("as a URL of another server", "http://evil.example/sync/1".to_owned()),
    ] {
        cat.add(
            format!("sync-collection with a token {what}"),
            xml_request("REPORT", CAL, crate::crash::sync_body(&token)),
            cond(403, "valid-sync-token"),
        );
    }
    for (what, level, limit) in [
        ("sync-level 2", "2", ""),
        ("nresults 0", "1", "0"),
        ("nresults -5", "1", "-5"),
        ("nresults 10^30", "1", "1000000000000000000000000000000"),
    ] {
        let limit = if limit.is_empty() {
            String::new()
        } else {
            format!("<D:limit><D:nresults>{limit}</D:nresults></D:limit>")
        };
        let body = format!(
            "<D:sync-collection {DAV_NS}><D:sync-token/><D:sync-level>{level}</D:sync-level>{limit}\
             <D:prop><D:getetag/></D:prop></D:sync-collection>"
        );
        cat.add(format!("sync-collection with {what}"), xml_request("REPORT", CAL, body), status(400));
    }
    cat.add(
        "sync-collection on an object",
        xml_request("REPORT", OBJECT, crate::crash::sync_body("")),
        cond(403, "supported-report"),
    );
}

fn calendar_query(range: &str, inner: &str, data: &str) -> String {
    format!(
        "<C:calendar-query {CAL_NS}><D:prop><D:getetag/>{data}</D:prop><C:filter>\
         <C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\">{range}{inner}</C:comp-filter>\
         </C:comp-filter></C:filter></C:calendar-query>"
    )
}

fn query_abuse(cat: &mut Catalogue) {
    let all_time = "<C:time-range start=\"00010101T000000Z\" end=\"99991231T235959Z\"/>";
    let in_2024 = "<C:time-range start=\"20240101T000000Z\" end=\"20250101T000000Z\"/>";
    cat.add(
        "calendar-query from year 1 to 9999",
        xml_request("REPORT", CAL, calendar_query(all_time, "", "")),
        cond(207, "every-second.ics"),
    );
    cat.add(
        "calendar-query of 2024 (rules that never recur again)",
        xml_request("REPORT", CAL, calendar_query(in_2024, "", "")),
        cond(207, "/a.ics"),
    );
    // An expansion into millions of instances is refused (RFC 4791 §7.8: number of matches
    // within limits), not computed.
    // In a multistatus the refusal belongs in the calendar-data propstat (RFC 4918 §16), as
    // src/caldav/calendar_data.rs documents.
    let expand_all =
        "<C:calendar-data><C:expand start=\"00010101T000000Z\" end=\"99991231T235959Z\"/></C:calendar-data>";
    cat.add(
        "calendar-query expanding an every-second rule over 9999 years",
        xml_request("REPORT", CAL, calendar_query(all_time, "", expand_all)),
        cond(207, "number-of-matches-within-limits"),
    );
    cat.add(
        "calendar-multiget expanding an every-second rule over 9999 years",
        xml_request(
            "REPORT",
            CAL,
            format!(
                "<C:calendar-multiget {CAL_NS}><D:prop>{expand_all}</D:prop>\
                 <D:href>{CAL}every-second.ics</D:href></C:calendar-multiget>"
            ),
        ),
        cond(207, "number-of-matches-within-limits"),
    );
    let limit_all = "<C:calendar-data><C:limit-recurrence-set start=\"00010101T000000Z\" end=\"99991231T235959Z\"/></C:calendar-data>";
    cat.add(
        "calendar-query with limit-recurrence-set over 9999 years",
        xml_request("REPORT", CAL, calendar_query(all_time, "", limit_all)),
        status(207),
    );
    cat.add(
        "free-busy-query over 9999 years",
        xml_request(
            "REPORT",
            CAL,
            "<C:free-busy-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
             <C:time-range start=\"00010101T000000Z\" end=\"99991231T235959Z\"/></C:free-busy-query>",
        ),
        cond(403, "number-of-matches-within-limits"),
    );
    for (what, range) in [
        ("an end before its start", "<C:time-range start=\"20250101T000000Z\" end=\"20240101T000000Z\"/>"),
        ("year 99999", "<C:time-range start=\"20240101T000000Z\" end=\"999991231T000000Z\"/>"),
        ("month 13", "<C:time-range start=\"20241301T000000Z\" end=\"20250101T000000Z\"/>"),
        ("no bounds", "<C:time-range/>"),
        ("a local time", "<C:time-range start=\"20240101T000000\" end=\"20250101T000000\"/>"),
    ] {
        cat.add(
            format!("calendar-query time-range with {what}"),
            xml_request("REPORT", CAL, calendar_query(range, "", "")),
            cond(403, "valid-filter"),
        );
    }
    cat.add(
        "calendar-query with an unknown collation",
        xml_request(
            "REPORT",
            CAL,
            calendar_query("", "<C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;evil\">x</C:text-match></C:prop-filter>", ""),
        ),
        cond(403, "supported-collation"),
    );
    let filters: String = (0..3000)
        .map(|i| format!("<C:prop-filter name=\"X-P{i}\"><C:is-not-defined/></C:prop-filter>"))
        .collect();
    cat.add(
        "calendar-query with 3,000 prop-filters",
        xml_request("REPORT", CAL, calendar_query("", &filters, "")),
        status(207),
    );
    let nested = format!(
        "<C:calendar-query {CAL_NS}><D:prop><D:getetag/></D:prop><C:filter>{}{}</C:filter></C:calendar-query>",
        "<C:comp-filter name=\"VCALENDAR\">".repeat(60),
        "</C:comp-filter>".repeat(60)
    );
    cat.add(
        "calendar-query with 60 nested comp-filters",
        xml_request("REPORT", CAL, nested),
        cond(403, "valid-filter"),
    );
    // Year 0 is a valid RFC 5545 date (date-fullyear is any 4 digits).
    cat.add(
        "calendar-query from year 0",
        xml_request(
            "REPORT",
            CAL,
            calendar_query("<C:time-range start=\"00000101T000000Z\" end=\"20240101T000000Z\"/>", "", ""),
        ),
        status(207),
    );
    let cards: String = (0..3000)
        .map(|i| format!("<CR:prop-filter name=\"X-P{i}\"><CR:text-match>v</CR:text-match></CR:prop-filter>"))
        .collect();
    cat.add(
        "addressbook-query with 3,000 prop-filters",
        xml_request(
            "REPORT",
            BOOK,
            format!(
                "<CR:addressbook-query {DAV_NS} xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:prop><D:getetag/>\
                 </D:prop><CR:filter test=\"allof\">{cards}</CR:filter></CR:addressbook-query>"
            ),
        ),
        status(207),
    );
}

fn bad_objects(cat: &mut Catalogue) {
    let put =
        |path: &str, ctype: &str, body: Vec<u8>| req("PUT", path).header("Content-Type", ctype).body(body);
    let event = ics("bad-1", "Bad");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an empty body", Vec::new()),
        ("plain text", b"hello, not a calendar".to_vec()),
        ("a calendar that never ends", event.replace("END:VCALENDAR\r\n", "").into_bytes()),
        ("mismatched END", event.replace("END:VEVENT", "END:VTODO").into_bytes()),
        ("no UID", event.replace("UID:bad-1\r\n", "").into_bytes()),
        ("two UIDs in one resource", format!("{}{}", &event[..event.len() - 15], "BEGIN:VEVENT\r\nUID:other\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").into_bytes()),
        ("invalid UTF-8", replace_bytes(&event, "SUMMARY:Bad", b"SUMMARY:B\xff\xfed")),
        ("a NUL byte", event.replace("SUMMARY:Bad", "SUMMARY:B\0ad").into_bytes()),
        ("components nested 5,000 deep", format!("BEGIN:VCALENDAR\r\n{}{}END:VCALENDAR\r\n", "BEGIN:X-N\r\n".repeat(5000), "END:X-N\r\n".repeat(5000)).into_bytes()),
        ("DTSTART in month 13", event.replace("DTSTART:20240102T100000Z", "DTSTART:20241302T100000Z").into_bytes()),
        ("an RRULE with INTERVAL=0", event.replace("SUMMARY:Bad", "RRULE:FREQ=SECONDLY;INTERVAL=0\r\nSUMMARY:Bad").into_bytes()),
        ("an RRULE with FREQ=FORTNIGHTLY", event.replace("SUMMARY:Bad", "RRULE:FREQ=FORTNIGHTLY\r\nSUMMARY:Bad").into_bytes()),
        ("an RRULE with UNTIL garbage", event.replace("SUMMARY:Bad", "RRULE:FREQ=DAILY;UNTIL=tomorrow\r\nSUMMARY:Bad").into_bytes()),
        ("a vCard", vcard("card-x", "X").into_bytes()),
    ];
    for (what, body) in cases {
        // RFC 4791 §5.3.2.1: invalid calendar data is refused with a precondition (403).
        cat.add(
            format!("PUT of {what} into a calendar"),
            put(NEW_OBJECT, "text/calendar", body),
            status(403),
        );
    }
    cat.add(
        "PUT of a VTODO into the VEVENT calendar",
        put(NEW_OBJECT, "text/calendar", event.replace("VEVENT", "VTODO").into_bytes()),
        cond(403, "supported-calendar-component"),
    );
    let card = vcard("bad-card", "Bad");
    let book = format!("{BOOK}new.vcf");
    for (what, body) in [
        ("a card that never ends", card.replace("END:VCARD\r\n", "").into_bytes()),
        ("plain text", b"hello, not a card".to_vec()),
        ("an iCalendar object", event.clone().into_bytes()),
        ("invalid UTF-8", replace_bytes(&card, "FN:Bad", b"FN:B\xff\xfed")),
        ("a NUL byte", replace_bytes(&card, "FN:Bad", b"FN:B\x00d")),
    ] {
        // RFC 6352 §6.3.2.1: valid-address-data.
        cat.add(
            format!("PUT of {what} into an address book"),
            put(&book, "text/vcard", body),
            cond(403, "valid-address-data"),
        );
    }
}

fn path_abuse(cat: &mut Catalogue) {
    let evil = ics("evil", "EVIL");
    let targets = [
        ("dot-dot into bob's space", "/dav/calendars/alice/../bob/calendar/bob.ics"),
        ("encoded dot-dot", "/dav/calendars/alice/%2e%2e/bob/calendar/bob.ics"),
        ("encoded slashes", "/dav/calendars/alice/calendar/..%2f..%2fbob%2fcalendar%2fbob.ics"),
        ("backslashes", "/dav/calendars/alice/calendar/..\\..\\bob\\calendar\\bob.ics"),
        ("an encoded NUL", "/dav/calendars/alice/calendar/a%00.ics"),
        ("overlong UTF-8 dots", "/dav/calendars/alice/calendar/%c0%ae%c0%ae/x.ics"),
        ("invalid UTF-8", "/dav/calendars/alice/calendar/%ff%fe.ics"),
        ("an empty segment", "/dav/calendars/alice//calendar/x.ics"),
        ("a dot segment", "/dav/calendars/alice/./calendar/x.ics"),
    ];
    for (what, target) in targets {
        cat.add(format!("GET with {what}"), req("GET", target), status(404));
        if what == "backslashes" {
            // A backslash is an ordinary character in a name: such a PUT stays in alice's
            // calendar and is no traversal (bob's snapshot at the end would show one).
            continue;
        }
        cat.add(
            format!("PUT with {what}"),
            req("PUT", target).header("Content-Type", "text/calendar").body(evil.clone()),
            status(404),
        );
    }
    cat.add(
        "PUT 33 segments deep",
        req("PUT", &format!("{HOME}{}x.ics", "s/".repeat(33))).body(evil.clone()),
        status(404),
    );
    cat.add(
        "PUT of a 300-byte name",
        req("PUT", &format!("{CAL}{}.ics", "n".repeat(300))).body(evil.clone()),
        status(404),
    );
    cat.add(
        "PUT into bob's calendar",
        req("PUT", &format!("{BOB_CAL}planted.ics"))
            .header("Content-Type", "text/calendar")
            .body(evil.clone()),
        status(403),
    );
    cat.add("GET of bob's object", req("GET", BOB_OBJECT), status(403));
    cat.add("PROPPATCH of bob's calendar", xml_request("PROPPATCH", BOB_CAL, format!("<D:propertyupdate {DAV_NS}><D:set><D:prop><D:displayname>owned</D:displayname></D:prop></D:set></D:propertyupdate>")), status(403));
    cat.add("PUT on a principal", req("PUT", "/dav/principals/alice/x.ics").body(evil.clone()), status(404));
    cat.add(
        "PUT on a collection URL",
        req("PUT", CAL).header("Content-Type", "text/calendar").body(evil.clone()),
        status(405),
    );
    cat.add("DELETE of the home", req("DELETE", HOME), status(403));
    cat.add("DELETE of the DAV root", req("DELETE", "/dav/"), status(403));
    cat.add("MKCOL over an existing calendar", req("MKCOL", CAL), status(405));
    cat.add("MKCALENDAR inside a calendar", req("MKCALENDAR", &format!("{CAL}inner/")), status(403));
    cat.add(
        "MOVE of a calendar into itself",
        req("MOVE", CAL).header("Destination", &format!("{CAL}inner/")),
        status(409),
    );
    cat.add("COPY of the home", req("COPY", HOME).header("Destination", NEW_COLL), status(403));
    cat.add("MOVE onto itself", req("MOVE", OBJECT).header("Destination", OBJECT), status(403));
    cat.add(
        "COPY to bob's calendar",
        req("COPY", OBJECT).header("Destination", &format!("{BOB_CAL}stolen.ics")),
        status(403),
    );
    cat.add(
        "If-Match that is not an entity tag",
        req("DELETE", OBJECT).header("If-Match", "not-quoted"),
        // Matches nothing, so the precondition fails.
        status(412),
    );
    cat.add(
        "PUT with a JSON content type into a calendar",
        req("PUT", NEW_OBJECT).header("Content-Type", "application/json").body("{\"calendar\": true}"),
        // RFC 4791 §5.3.2.1: supported-calendar-data or valid-calendar-data.
        cond(403, "calendar-data"),
    );
}

/// Last, because an accepted case leaves 16 MiB of properties behind that slow down every
/// later snapshot.
fn huge_properties(cat: &mut Catalogue) {
    // A property value far larger than any client needs must not be stored.
    let huge_name = format!(
        "<D:propertyupdate {DAV_NS}><D:set><D:prop><D:displayname>{}</D:displayname></D:prop></D:set>\
         </D:propertyupdate>",
        "n".repeat(8 << 20)
    );
    // RFC 4918 §9.2.1: 507 (Insufficient Storage) for a property the server will not record.
    cat.add(
        "PROPPATCH of an 8 MiB displayname",
        xml_request("PROPPATCH", CAL, huge_name),
        cond(207, "HTTP/1.1 507"),
    );
    let huge_dead = format!(
        "<D:propertyupdate {DAV_NS}><D:set><D:prop><x:notes xmlns:x=\"urn:x\">{}</x:notes></D:prop></D:set>\
         </D:propertyupdate>",
        "n".repeat(8 << 20)
    );
    cat.add(
        "PROPPATCH of an 8 MiB dead property",
        xml_request("PROPPATCH", OBJECT, huge_dead),
        cond(207, "HTTP/1.1 507"),
    );
}

fn slow_cases(cat: &mut Catalogue) {
    let pf = req("PROPFIND", CAL)
        .header("Depth", "1")
        .xml(format!("<D:propfind {DAV_NS}><D:prop><D:getetag/></D:prop></D:propfind>"));
    let bytes = pf.bytes(&cat.host);
    cat.add_raw(
        "PROPFIND sent byte by byte in 40 pieces",
        bytes,
        status(207),
        Delivery::Trickle(40, Duration::from_millis(25)),
    );
    let put = req("PUT", NEW_OBJECT)
        .header("Content-Type", "text/calendar")
        .no_length()
        .header("Content-Length", "5000")
        .body(ics("slow", "Slow"));
    cat.add_raw(
        "PUT whose body stops short, slowly, then EOF",
        put.bytes(&cat.host),
        status(400),
        Delivery::TrickleThenClose(10, Duration::from_millis(50)),
    );
}

/// The status line (and condition) an answer must have, or why it does not.
fn judge(case: &Case, answer: &Answer) -> Option<String> {
    for leak in LEAKS {
        if answer.body.contains(leak) {
            return Some(format!("the answer contains {leak:?}"));
        }
    }
    match (case.expect, answer.status) {
        (Expect::Closed, None) => None,
        (Expect::MultiWithout(need, never), Some(207)) => {
            if !answer.body.contains(need) {
                Some(format!("207 without {need:?}: {}", answer.body.chars().take(300).collect::<String>()))
            } else if answer.body.contains(never) {
                Some(format!("207 with {never:?}: {}", answer.body.chars().take(300).collect::<String>()))
            } else {
                None
            }
        }
        (Expect::MultiWithout(..), Some(got)) => Some(format!("expected 207, got {got}")),
        (Expect::MultiWithout(..), None) => Some("expected 207, the connection closed".to_owned()),
        (Expect::Closed, Some(s)) => Some(format!("expected the connection closed, got {s}")),
        (Expect::Status(want, _), None) => Some(format!(
            "expected {want}, the connection closed without an answer ({} bytes)",
            answer.raw_len
        )),
        (Expect::Status(want, condition), Some(got)) => {
            if want != got {
                let body: String = answer.body.chars().take(300).collect();
                return Some(format!("expected {want}, got {got}: {body}"));
            }
            match condition {
                Some(c) if !answer.body.contains(c) => Some(format!(
                    "{want} but without {c:?} in the body: {}",
                    answer.body.chars().take(300).collect::<String>()
                )),
                _ => None,
            }
        }
    }
}

/// The first line where two snapshots differ, shortened.
fn first_difference(before: &str, after: &str) -> String {
    let short = |s: &str| s.chars().take(160).collect::<String>();
    for (a, b) in before.lines().zip(after.lines()) {
        if a != b {
            let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count().saturating_sub(40);
            let cut = |s: &str| short(&s.chars().skip(at).collect::<String>());
            return format!("was …{}… now …{}…", cut(a), cut(b));
        }
    }
    format!("{} lines before, {} after", before.lines().count(), after.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_of_hostile_requests_changes_nothing() {
    let server = server_with_data().await;
    let store = server.store();
    let cal_of = |user: &str| {
        let p = store.principal_by_slug(user).unwrap().unwrap();
        let home = store.home(p.id, HomeKind::Calendar).unwrap().unwrap();
        store.child_collection(home.id, "calendar").unwrap().unwrap().id
    };
    let (cal_id, bob_cal_id) = (cal_of("alice"), cal_of("bob"));
    let mut cat = Catalogue { host: server.addr.to_string(), cases: Vec::new() };
    xml_attacks(&mut cat);
    size_and_framing(&mut cat);
    protocol_garbage(&mut cat);
    header_limits(&mut cat);
    depth_abuse(&mut cat);
    report_abuse(&mut cat, cal_id, bob_cal_id);
    query_abuse(&mut cat);
    bad_objects(&mut cat);
    path_abuse(&mut cat);
    slow_cases(&mut cat);
    huge_properties(&mut cat);
    let total = cat.cases.len();
    println!("hostile catalogue: {total} requests");
    assert!(total >= 100, "the catalogue has only {total} cases");

    let mut alice_before = server.snapshot("alice").await;
    let bob_before = server.snapshot("bob").await;
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for case in &cat.cases {
        let t = Instant::now();
        let verdict = match exchange(server.addr, &case.bytes, case.delivery).await {
            Ok(answer) => {
                // DAVIT_HOSTILE_SHOW=text prints the whole answer of the cases named like that.
                if std::env::var("DAVIT_HOSTILE_SHOW").is_ok_and(|s| case.name.contains(&s)) {
                    eprintln!("--- {}: {:?}\n{}", case.name, answer.status, answer.body);
                }
                judge(case, &answer)
            }
            Err(e) => Some(e),
        };
        let took = t.elapsed();
        if std::env::var_os("DAVIT_HOSTILE_TRACE").is_some() {
            eprintln!(
                "[{:6.1}s] {:5}ms {}: {:?}",
                started.elapsed().as_secs_f64(),
                took.as_millis(),
                case.name,
                verdict
            );
        }
        if took > slowest.0 {
            slowest = (took, case.name.clone());
        }
        if let Some(v) = verdict {
            failures.push(format!("{}: {v}", case.name));
        }
        let now = server.snapshot("alice").await;
        if now != alice_before {
            failures.push(format!(
                "{}: CHANGED THE STORE: {}",
                case.name,
                first_difference(&alice_before, &now)
            ));
            // Go on against the changed store, so that one run reports every problem.
            alice_before = now;
        }
    }
    assert_eq!(bob_before, server.snapshot("bob").await, "bob's data changed");
    println!(
        "hostile catalogue: {total} requests in {:.1} s, slowest {:?} ({}); {} mismatches",
        started.elapsed().as_secs_f64(),
        slowest.0,
        slowest.1,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

// --- slow clients --------------------------------------------------------------------------

/// A normal request's latency while the slow connections are open.
async fn timed_propfind(server: &TestServer) -> Duration {
    let c = server.client("alice");
    let t = Instant::now();
    c.propfind(CAL, "1", &crate::harness::propfind_body(&["D:getetag"])).await.assert_status(207);
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_slow_header_and_fifty_slow_body_connections_do_not_starve_others() {
    let server = server_with_data().await;
    let before = server.snapshot("alice").await;
    let baseline = timed_propfind(&server).await;
    let credentials = STANDARD.encode(format!("alice:{PASSWORD}"));
    // Slow headers: a request head that never ends, one byte at a time.
    let mut slow_heads = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(format!("PUT {CAL}slow-{i}.ics HTTP/1.1\r\nHost: x\r\n").as_bytes()).await.unwrap();
        slow_heads.push(s);
    }
    // Slow bodies: a complete head, then a body that stalls halfway.
    let mut slow_bodies = Vec::new();
    for i in 0..50 {
        let body = ics(&format!("slow-body-{i}"), "Slow");
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "PUT {CAL}slow-body-{i}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {credentials}\r\n\
             Content-Type: text/calendar\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
        slow_bodies.push(s);
    }
    // Keep trickling header bytes for a few seconds while normal clients are served.
    let mut worst = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut served = 0;
    while Instant::now() < deadline {
        for s in &mut slow_heads {
            let _ = s.write_all(b"X").await;
        }
        for _ in 0..5 {
            worst = worst.max(timed_propfind(&server).await);
            served += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "slow clients: 50 slow heads + 50 stalled bodies open; {served} normal PROPFINDs, worst {worst:?} \
         (baseline {baseline:?})"
    );
    assert!(
        worst < Duration::from_secs(2),
        "a normal request took {worst:?} while slow clients were connected"
    );
    // None of the half-sent PUTs was stored, and nothing else changed.
    drop(slow_bodies);
    drop(slow_heads);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

/// Writes `head` (and keeps trickling header lines if `trickle`), then waits up to `limit` for
/// the server to answer or close. Returns how long that took.
async fn cut_off_after(
    addr: std::net::SocketAddr,
    head: String,
    trickle: bool,
    limit: Duration,
) -> Option<Duration> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    while started.elapsed() < limit {
        if trickle && s.write_all(b"X-Slow: 1\r\n").await.is_err() {
            return Some(started.elapsed());
        }
        let mut buf = [0u8; 512];
        // An answer (408, 400) or EOF: the server gave up on the request.
        if tokio::time::timeout(Duration::from_millis(1000), s.read(&mut buf)).await.is_ok() {
            return Some(started.elapsed());
        }
    }
    None
}

/// Slowloris defences, watched side by side: hyper's header read timeout (30 s in
/// `src/http/server.rs`) cuts off a request head that trickles in for ever, and a request body
/// that stalls must not hold its connection (and its task) for ever either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_heads_and_stalled_bodies_are_cut_off() {
    let server = server_with_data().await;
    let before = server.snapshot("alice").await;
    let credentials = STANDARD.encode(format!("alice:{PASSWORD}"));
    let head = format!("GET {OBJECT} HTTP/1.1\r\nHost: x\r\n");
    let stalled = |auth: &str| {
        format!(
            "PUT {CAL}stalled.ics HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: text/calendar\r\n\
             Content-Length: 1000\r\n\r\nBEGIN:VCALENDAR\r\n"
        )
    };
    let limit = Duration::from_secs(60);
    let slow_head = tokio::spawn(cut_off_after(server.addr, head, true, limit));
    let slow_body = tokio::spawn(cut_off_after(
        server.addr,
        stalled(&format!("Authorization: Basic {credentials}\r\n")),
        false,
        limit,
    ));
    // Without credentials the body is never awaited: 401 at once.
    let anonymous = cut_off_after(server.addr, stalled(""), false, Duration::from_secs(5)).await;
    assert!(anonymous.is_some(), "an unauthenticated stalled PUT was not answered within 5 s");
    // Meanwhile the server keeps serving.
    assert!(timed_propfind(&server).await < Duration::from_secs(2));
    let slow_head = slow_head.await.unwrap();
    let slow_body = slow_body.await.unwrap();
    println!("slowloris: trickling head cut off after {slow_head:?}, stalled body after {slow_body:?}");
    let slow_head = slow_head.expect("a trickling request head was still accepted after 60 s");
    assert!(slow_head >= Duration::from_secs(25), "head cut off suspiciously early: {slow_head:?}");
    assert!(slow_body.is_some(), "a stalled request body still held its connection after 60 s");
    assert_eq!(before, server.snapshot("alice").await);
    server.stop().await;
}

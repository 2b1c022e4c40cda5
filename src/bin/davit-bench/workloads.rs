//! The workloads. Each one is prepared against a running, seeded server and then yields a
//! request generator; a workload the server cannot serve (yet) is reported as not available
//! instead of failing the run. Adding a workload = a variant here, its `prepare` arm, and
//! its place in `ALL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::load::{self, Expect, Gen, Req, Target};
use crate::seed::{self, Rng};
use crate::servers::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    #[value(name = "propfind")]
    PropfindDepth1,
    #[value(name = "calendar-query")]
    CalendarQueryMonth,
    #[value(name = "multiget")]
    Multiget100,
    #[value(name = "sync")]
    SyncAfterOneChange,
    #[value(name = "addressbook-query")]
    AddressbookQuery,
    #[value(name = "feed")]
    Feed,
    #[value(name = "put")]
    PutNew,
}

impl Workload {
    /// In run order: reads first, then the feed, then PUT (which grows the calendar).
    pub const ALL: [Workload; 7] = [
        Workload::PropfindDepth1,
        Workload::CalendarQueryMonth,
        Workload::Multiget100,
        Workload::SyncAfterOneChange,
        Workload::AddressbookQuery,
        Workload::Feed,
        Workload::PutNew,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Workload::PropfindDepth1 => "PROPFIND Depth 1, big calendar",
            Workload::CalendarQueryMonth => "calendar-query 1 month + data",
            Workload::Multiget100 => "calendar-multiget 100 hrefs",
            Workload::SyncAfterOneChange => "sync-collection after 1 change",
            Workload::AddressbookQuery => "addressbook-query FN contains",
            Workload::Feed => "GET public feed, big calendar",
            Workload::PutNew => "PUT new event",
        }
    }

    /// Whether the p99 < 50 ms target applies.
    pub fn p99_target_applies(self) -> bool {
        !matches!(self, Workload::PropfindDepth1 | Workload::Feed)
    }
}

/// What was seeded, as the server names it.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub event_hrefs: Vec<String>,
    pub card_hrefs: Vec<String>,
}

pub enum Prepared {
    /// `target` overrides the server's authenticated target (the public feed is anonymous).
    Ready {
        make_req: Gen,
        expect: Expect,
        note: String,
        target: Option<Arc<Target>>,
    },
    NotAvailable(String),
}

pub async fn prepare(w: Workload, server: &Server, catalog: &Catalog) -> anyhow::Result<Prepared> {
    let cal = server.calendar.clone();
    let book = server.addressbook.clone();
    Ok(match w {
        Workload::PropfindDepth1 => {
            let body: Arc<[u8]> = Arc::from(
                &br#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>"#[..],
            );
            let make_req: Gen = Arc::new(move |_, _| {
                Req::new("PROPFIND", cal.clone())
                    .header("Depth", "1")
                    .header("Content-Type", "application/xml; charset=utf-8")
                    .shared_body(body.clone())
            });
            Prepared::Ready {
                make_req,
                expect: Expect::status(207),
                note: format!("{} members", catalog.event_hrefs.len()),
                target: None,
            }
        }
        Workload::CalendarQueryMonth => {
            // Months of 2025 and 2026 in turn: all inside the seeded span.
            let make_req: Gen = Arc::new(move |_, seq| {
                let m = (seq % 24) as u32;
                let (y, mo) = (2025 + m / 12, 1 + m % 12);
                let (ny, nmo) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
                let body = format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{y}{mo:02}01T000000Z" end="{ny}{nmo:02}01T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
                );
                Req::new("REPORT", cal.clone())
                    .header("Depth", "1")
                    .header("Content-Type", "application/xml; charset=utf-8")
                    .body(body)
            });
            Prepared::Ready {
                make_req,
                expect: Expect::status(207),
                note: "months of 2025-2026 in turn".into(),
                target: None,
            }
        }
        Workload::Multiget100 => {
            if catalog.event_hrefs.len() < 100 {
                return Ok(Prepared::NotAvailable(format!("only {} events", catalog.event_hrefs.len())));
            }
            let hrefs = Arc::new(catalog.event_hrefs.clone());
            let make_req: Gen = Arc::new(move |_, seq| {
                let mut rng = Rng::new(0x3417_0000 ^ seq);
                let mut body = String::with_capacity(100 * 80 + 300);
                body.push_str(r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>"#);
                for _ in 0..100 {
                    body.push_str("<D:href>");
                    let href: &String = rng.pick(&hrefs[..]);
                    body.push_str(href);
                    body.push_str("</D:href>");
                }
                body.push_str("</C:calendar-multiget>");
                Req::new("REPORT", cal.clone())
                    .header("Depth", "1")
                    .header("Content-Type", "application/xml; charset=utf-8")
                    .body(body)
            });
            Prepared::Ready {
                make_req,
                expect: Expect::status(207),
                note: "100 random hrefs".into(),
                target: None,
            }
        }
        Workload::SyncAfterOneChange => sync_after_one_change(server, &cal).await?,
        Workload::AddressbookQuery => {
            let make_req: Gen = Arc::new(move |_, seq| {
                let term = seed::NAME_TERMS[(seq % seed::NAME_TERMS.len() as u64) as usize];
                let body = format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop><CR:filter><CR:prop-filter name="FN"><CR:text-match collation="i;unicode-casemap" match-type="contains">{term}</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>"#
                );
                Req::new("REPORT", book.clone())
                    .header("Depth", "1")
                    .header("Content-Type", "application/xml; charset=utf-8")
                    .body(body)
            });
            Prepared::Ready {
                make_req,
                expect: Expect::status(207),
                note: format!("{} cards, {} terms in turn", catalog.card_hrefs.len(), seed::NAME_TERMS.len()),
                target: None,
            }
        }
        Workload::Feed => match server.feed() {
            Err(why) => Prepared::NotAvailable(why),
            Ok((target, path, note)) => {
                let make_req: Gen = Arc::new(move |_, _| Req::new("GET", path.clone()));
                Prepared::Ready { make_req, expect: Expect::status(200), note, target: Some(target) }
            }
        },
        Workload::PutNew => {
            // Its own counter, so that the warm-up, solo and concurrent runs never collide.
            let counter = Arc::new(AtomicU64::new(0));
            let stamp = std::process::id();
            let make_req: Gen = Arc::new(move |_, _| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let uid = format!("put-{stamp}-{n}@davit.bench");
                Req::new("PUT", format!("{cal}put-{stamp}-{n}.ics"))
                    .header("Content-Type", "text/calendar; charset=utf-8")
                    .header("If-None-Match", "*")
                    .body(seed::new_event(&uid, n))
            });
            Prepared::Ready {
                make_req,
                expect: Expect::status(201),
                note: "If-None-Match: *".into(),
                target: None,
            }
        }
    })
}

const SETUP_TIMEOUT: Duration = Duration::from_secs(600);

/// Takes the collection's current sync token, changes one member (a new event), and returns
/// a generator that asks for the changes since that token — always exactly one.
pub async fn sync_after_one_change(server: &Server, collection: &str) -> anyhow::Result<Prepared> {
    let token = sync_token(server, collection).await?;
    let uid = format!("sync-change-{}@davit.bench", std::process::id());
    let put = Req::new("PUT", format!("{collection}sync-change-{}.ics", std::process::id()))
        .header("Content-Type", "text/calendar; charset=utf-8")
        .body(seed::small_event(&uid, 1));
    let r = load::once(&server.target, &put, SETUP_TIMEOUT).await?;
    if !(200..300).contains(&r.status) {
        bail!("the one change (PUT) got {}: {}", r.status, r.text());
    }
    let body: Arc<[u8]> = Arc::from(
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:sync-collection>"#
        )
        .into_bytes(),
    );
    let coll = collection.to_owned();
    let make_req: Gen = Arc::new(move |_, _| {
        Req::new("REPORT", coll.clone())
            .header("Depth", "0")
            .header("Content-Type", "application/xml; charset=utf-8")
            .shared_body(body.clone())
    });
    // Check once that the answer really carries one change.
    let probe = load::once(&server.target, &make_req(0, 0), SETUP_TIMEOUT).await?;
    if probe.status != 207 {
        bail!("sync-collection probe got {}: {}", probe.status, probe.text());
    }
    let n = count_elements(&probe.text(), "response");
    let note = if n == 1 {
        "1 change reported".to_owned()
    } else {
        format!("WARNING: {n} changes reported, expected 1")
    };
    Ok(Prepared::Ready { make_req, expect: Expect::status(207), note, target: None })
}

pub async fn sync_token(server: &Server, collection: &str) -> anyhow::Result<String> {
    let req = Req::new("PROPFIND", collection)
        .header("Depth", "0")
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>"#);
    let r = load::once(&server.target, &req, SETUP_TIMEOUT).await?;
    if r.status != 207 {
        bail!("PROPFIND sync-token on {collection} got {}: {}", r.status, r.text());
    }
    element_texts(&r.text(), "sync-token")
        .into_iter()
        .find(|t| !t.is_empty())
        .with_context(|| format!("no sync-token in the PROPFIND answer for {collection}"))
}

/// Hrefs of the members of `collection` (PROPFIND Depth 1, the collection itself left out).
pub async fn list_members(server: &Server, collection: &str) -> anyhow::Result<Vec<String>> {
    let req = Req::new("PROPFIND", collection)
        .header("Depth", "1")
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#);
    let r = load::once(&server.target, &req, SETUP_TIMEOUT).await?;
    if r.status != 207 {
        bail!("PROPFIND Depth 1 on {collection} got {}: {}", r.status, r.text());
    }
    Ok(element_texts(&r.text(), "href").into_iter().filter(|h| !h.ends_with('/')).collect())
}

/// Text content of every element with local name `local` (any or no prefix). Enough for
/// the multistatus answers of davit and Radicale; not a general XML parser.
pub fn element_texts(xml: &str, local: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[..gt];
        let name = tag.split_whitespace().next().unwrap_or("");
        let name_local = name.rsplit(':').next().unwrap_or("");
        if !tag.starts_with('/') && !tag.ends_with('/') && name_local == local {
            let after = &rest[gt + 1..];
            if let Some(end) = after.find("</") {
                out.push(unescape(after[..end].trim()));
            }
        }
        rest = &rest[gt + 1..];
    }
    out
}

pub fn count_elements(xml: &str, local: &str) -> usize {
    let mut n = 0;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let name = rest.split(|c: char| c.is_whitespace() || c == '>' || c == '/').next().unwrap_or("");
        if name.rsplit(':').next() == Some(local) && !name.is_empty() {
            n += 1;
        }
    }
    n
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hrefs_with_any_prefix() {
        let x = r#"<multistatus xmlns="DAV:"><response><href>/a/</href></response><D:response><D:href>/a/b.ics</D:href></D:response><ns0:sync-token>t&amp;1</ns0:sync-token></multistatus>"#;
        assert_eq!(element_texts(x, "href"), vec!["/a/", "/a/b.ics"]);
        assert_eq!(element_texts(x, "sync-token"), vec!["t&1"]);
        assert_eq!(count_elements(x, "response"), 2);
    }
}

//! `{base}/feeds/{token}.ics`: the anonymous, read-only calendar feed.
//!
//! * GET and HEAD serve the feed, OPTIONS says what is allowed; every other method is `405`
//!   with `Allow: GET, HEAD, OPTIONS`, whatever the token (so a write cannot probe tokens).
//! * The answer never depends on `Accept`: Google Calendar sends none at all, others send
//!   anything; it is always `200 text/calendar; charset=utf-8` (CLIENTS.md §7).
//! * An unknown token, a revoked one and a malformed feed path get the very same `404`.
//! * Caching: a strong ETag computed from what the content depends on (see [`entity_tag`]),
//!   `Last-Modified` from the collection's last member change, `If-None-Match` /
//!   `If-Modified-Since` → `304` (RFC 9110 §13). `Cache-Control: no-cache` lets caches keep
//!   the feed but makes them ask every time, so switching a feed off takes effect at once.
//! * `Accept-Encoding: gzip` → gzip, with `Vary: Accept-Encoding` and its own ETag (RFC 9110
//!   §8.8.3: another content coding is another representation).
//! * `Range` is ignored and the whole feed sent with `200` (RFC 9110 §14.2 allows that; we say
//!   `Accept-Ranges: none`): the body is generated on the fly, possibly compressed, so byte
//!   offsets would cost a full render per request, and calendar clients never resume a feed.
//! * The body streams from the store in batches (`object_bodies_after`), so memory stays flat
//!   however large the calendar; it runs on the blocking pool one batch at a time.
//! * Anyone may embed the feed in a web page (`Access-Control-Allow-Origin: *`): it is
//!   public by construction and the request carries no credentials.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sha2::{Digest, Sha256};

use super::cache::{FeedKey, RenderedFeeds};
use super::render::{self, Renderer};
use super::token::token_hash;
use crate::state::AppState;
use crate::store::{Collection, Feed, FeedSettings, Store};

/// Bump when the rendered output changes for the same stored data (new privacy rule, new
/// header line, another order of the events): every ETag changes with it, so subscribers
/// refetch. 2: events in member-name order (schema version 10), not creation order.
pub const FORMAT_VERSION: &str = "davit-feed-2";

/// Stored objects read and rendered per chunk.
pub const BATCH: usize = 200;

pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// A request to the feed space, as the router hands it over.
pub struct FeedRequest {
    pub method: Method,
    /// The path after `{base}/feeds/`: `{token}.ics` for a well-formed feed URL.
    pub rest: String,
    pub headers: HeaderMap,
}

pub enum FeedBody {
    Bytes(Vec<u8>),
    /// The feed as rendered before for the same entity tag (see `cache`).
    Rendered(Bytes),
    /// The feed itself; the HTTP layer drives [`FeedStream::next_chunk`] on the blocking pool.
    Stream(Box<FeedStream>),
}

/// Answers one request; blocking (it reads the store).
pub fn respond(state: &AppState, req: &FeedRequest) -> Response<FeedBody> {
    if req.method == Method::OPTIONS {
        let mut r = bytes(StatusCode::OK, "", None);
        let h = r.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("If-None-Match, If-Modified-Since"),
        );
        return r;
    }
    if req.method != Method::GET && req.method != Method::HEAD {
        let mut r = bytes(StatusCode::METHOD_NOT_ALLOWED, "a public feed is read-only\n", Some(TEXT_PLAIN));
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        return r;
    }
    let Some(token) = req.rest.strip_suffix(".ics").filter(|t| !t.is_empty() && !t.contains('/')) else {
        return not_found();
    };
    let feed = match state.store.feed_by_token_hash(&token_hash(token)) {
        Ok(Some(feed)) => feed,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "feed look-up failed");
            return bytes(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n", Some(TEXT_PLAIN));
        }
    };
    let gzip = accepts_gzip(&req.headers);
    let tag = entity_tag(&feed.collection, &feed.settings);
    let etag = if gzip { format!("\"{tag}-gzip\"") } else { format!("\"{tag}\"") };
    let last_modified = http_date(feed.collection.modified_at);
    let not_modified = match req.headers.get(header::IF_NONE_MATCH) {
        // RFC 9110 §13.2.2: If-Modified-Since only counts without If-None-Match.
        Some(value) => none_match(value.to_str().unwrap_or(""), &tag),
        None => req
            .headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| unix(since) >= feed.collection.modified_at),
    };
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, FeedBody::Bytes(Vec::new()))
    } else if req.method == Method::HEAD {
        (StatusCode::OK, FeedBody::Bytes(Vec::new()))
    } else {
        let key = FeedKey { collection: feed.collection.id, gzip, tag };
        let body = match state.feeds.get(&key) {
            Some(body) => FeedBody::Rendered(body),
            None => FeedBody::Stream(Box::new(
                FeedStream::new(state.store.clone(), feed, gzip).recording(state.feeds.clone(), key),
            )),
        };
        (StatusCode::OK, body)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, header::ETAG, &etag);
    set(h, header::LAST_MODIFIED, &last_modified);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag"));
    if status == StatusCode::OK {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_CALENDAR));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    r
}

const TEXT_CALENDAR: &str = "text/calendar; charset=utf-8";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The one 404 of the feed space: byte for byte the router's, whether the token never
/// existed, was revoked or is malformed.
pub fn not_found() -> Response<FeedBody> {
    bytes(StatusCode::NOT_FOUND, "not found\n", Some(TEXT_PLAIN))
}

fn bytes(status: StatusCode, text: &str, content_type: Option<&'static str>) -> Response<FeedBody> {
    let mut r = Response::new(FeedBody::Bytes(text.as_bytes().to_vec()));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

/// The opaque part of the strong ETag (32 hex digits): a hash of everything the published
/// content depends on — the collection (its revision moves with every member change), the
/// name and description shown in the header, the privacy settings, and the renderer's
/// [`FORMAT_VERSION`]. Same inputs, same bytes; any change to them, a new tag. A change to a
/// private event changes the tag without changing the output: a refetch, never a stale feed.
pub fn entity_tag(collection: &Collection, settings: &FeedSettings) -> String {
    let input = format!(
        "{FORMAT_VERSION}\n{:?}",
        (
            collection.id,
            collection.rev,
            &collection.segment,
            &collection.props.displayname,
            &collection.props.description,
            settings.busy_only,
            settings.show_attendees,
        )
    );
    hex::encode(&Sha256::digest(input.as_bytes())[..16])
}

/// `If-None-Match` with the weak comparison RFC 9110 §13.1.2 asks for: `*`, or any listed tag
/// equal to ours in either content coding (both describe the same content state).
fn none_match(value: &str, tag: &str) -> bool {
    value.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        let opaque = candidate.strip_prefix("W/").unwrap_or(candidate);
        let Some(inner) = opaque.strip_prefix('"').and_then(|o| o.strip_suffix('"')) else { return false };
        inner == tag || inner.strip_suffix("-gzip") == Some(tag)
    })
}

/// Whether `Accept-Encoding` admits gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*` with a
/// non-zero q-value, an explicit `gzip;q=0` winning over `*`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q > 0.0),
                "*" => any = Some(q > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn http_date(unix_seconds: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_seconds.max(0) as u64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Objects,
    Footer,
    Done,
}

/// The feed body, produced one chunk at a time: the header, one chunk per batch of stored
/// objects, the footer. Holds one batch at most.
pub struct FeedStream {
    store: Arc<dyn Store>,
    collection: Collection,
    renderer: Renderer,
    /// The segment of the last object streamed (`""` before the first).
    after: String,
    phase: Phase,
    gzip: Option<GzEncoder<Vec<u8>>>,
    skipped: usize,
    /// The body so far, to be kept for its tag once complete.
    recording: Option<(Arc<RenderedFeeds>, FeedKey, Vec<u8>)>,
}

impl FeedStream {
    pub fn new(store: Arc<dyn Store>, feed: Feed, gzip: bool) -> FeedStream {
        FeedStream {
            store,
            renderer: Renderer::new(&feed.settings),
            collection: feed.collection,
            after: String::new(),
            phase: Phase::Header,
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::default())),
            skipped: 0,
            recording: None,
        }
    }

    /// Keeps the complete body in `feeds` under `key` (unless it grows too big to keep or
    /// objects were skipped), so the next request for the same tag need not render it.
    pub fn recording(mut self, feeds: Arc<RenderedFeeds>, key: FeedKey) -> FeedStream {
        self.recording = Some((feeds, key, Vec::new()));
        self
    }

    /// The next piece of the body; `Ok(None)` after the last. A store error ends the feed
    /// with an error (the HTTP layer then aborts the response rather than truncate it).
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let text = match self.phase {
                Phase::Header => {
                    self.phase = Phase::Objects;
                    render::header(&self.collection)
                }
                Phase::Objects => self.next_batch()?,
                Phase::Footer => {
                    self.phase = Phase::Done;
                    render::FOOTER.to_owned()
                }
                Phase::Done => {
                    self.keep_recording();
                    return Ok(None);
                }
            };
            let chunk = self.encode(text)?;
            if let Some((_, _, so_far)) = &mut self.recording {
                so_far.extend_from_slice(&chunk);
                if !RenderedFeeds::may_keep(so_far.len()) {
                    self.recording = None;
                }
            }
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
        }
    }

    /// A complete body is kept for its tag; not one with skipped objects (a later version
    /// of the renderer might read them, and the log should keep saying so).
    fn keep_recording(&mut self) {
        if let Some((feeds, key, body)) = self.recording.take()
            && self.skipped == 0
        {
            feeds.put(key, Bytes::from(body));
        }
    }

    fn next_batch(&mut self) -> io::Result<String> {
        let mut batch =
            self.store.object_bodies_after(self.collection.id, &self.after, BATCH).map_err(|e| {
                tracing::error!(collection = self.collection.id, error = %e, "feed: reading objects failed");
                io::Error::other(e.to_string())
            })?;
        if batch.len() < BATCH {
            self.phase = Phase::Footer;
        }
        let mut out = String::new();
        for (segment, body) in &batch {
            if let Err(e) = self.renderer.object(body, &mut out) {
                self.skipped += 1;
                tracing::warn!(
                    collection = self.collection.id,
                    object = ?segment,
                    error = %e,
                    "feed: skipping a stored object that does not parse"
                );
            }
        }
        if let Some((last, _)) = batch.pop() {
            self.after = last;
        }
        Ok(out)
    }

    fn encode(&mut self, text: String) -> io::Result<Bytes> {
        let Some(encoder) = self.gzip.as_mut() else { return Ok(Bytes::from(text.into_bytes())) };
        encoder.write_all(text.as_bytes())?;
        if self.phase == Phase::Done {
            let finished = self.gzip.take().map(GzEncoder::finish).transpose()?.unwrap_or_default();
            return Ok(Bytes::from(finished));
        }
        // Whatever the compressor has emitted so far; it keeps at most its window.
        Ok(Bytes::from(std::mem::take(encoder.get_mut())))
    }

    /// Stored objects skipped so far because they did not parse.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(!accepts_gzip(&headers(&[])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "gzip")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "deflate, gzip;q=0.5, br")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "x-gzip")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "*, gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "identity, br")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "*;q=0")])));
    }

    #[test]
    fn if_none_match_uses_weak_comparison_across_codings() {
        assert!(none_match("\"abc\"", "abc"));
        assert!(none_match("W/\"abc\"", "abc"));
        assert!(none_match("\"x\", \"abc-gzip\"", "abc"));
        assert!(none_match("*", "abc"));
        assert!(!none_match("\"abcd\"", "abc"));
        assert!(!none_match("abc", "abc"), "unquoted is not an entity tag");
        assert!(!none_match("", "abc"));
    }

    #[test]
    fn entity_tag_follows_what_is_published() {
        let collection = Collection {
            id: 7,
            owner_id: 1,
            parent_id: Some(2),
            kind: crate::store::CollectionKind::Calendar,
            segment: "calendar".into(),
            props: Default::default(),
            rev: 3,
            sync_floor: 0,
            created_at: 0,
            modified_at: 10,
        };
        let open = FeedSettings { busy_only: false, show_attendees: false };
        let base = entity_tag(&collection, &open);
        assert_eq!(base.len(), 32);
        assert_eq!(base, entity_tag(&collection.clone(), &open.clone()), "deterministic");
        let later = Collection { modified_at: 99, created_at: 5, ..collection.clone() };
        assert_eq!(base, entity_tag(&later, &open), "timestamps alone publish nothing new");
        let changed = [
            entity_tag(&Collection { rev: 4, ..collection.clone() }, &open),
            entity_tag(&Collection { id: 8, ..collection.clone() }, &open),
            entity_tag(
                &Collection {
                    props: crate::store::CollectionProps {
                        displayname: Some("Team".into()),
                        ..Default::default()
                    },
                    ..collection.clone()
                },
                &open,
            ),
            entity_tag(&collection, &FeedSettings { busy_only: true, show_attendees: false }),
            entity_tag(&collection, &FeedSettings { busy_only: false, show_attendees: true }),
        ];
        for tag in changed {
            assert_ne!(tag, base);
        }
    }
}

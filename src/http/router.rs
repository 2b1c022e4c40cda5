//! Routes a request: well-known redirects, health and public feeds need no credentials;
//! everything in the DAV space is authenticated, its body read within the limit, and handed to
//! `dav::handle` on the blocking pool. One access-log line per request; a feed's path is logged
//! as `{base}/feeds/<token>.ics`, never with its secret token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, StatusCode, header};
use hyper::body::Incoming;

use super::auth::{authenticate, refusal_response};
use super::body::{self, BodyError, ResponseBody, read_bounded};
use crate::dav::{self, DavRequest, Handled};
use crate::feeds::handler::{FeedBody, FeedRequest};
use crate::state::AppState;

enum Route {
    WellKnown,
    Health,
    Dav,
    /// `{base}/feeds/…`: anonymous, read-only; holds what follows `/feeds/` (the secret).
    Feed(String),
    /// `{base}/api/v1/…`: the JSON management API; holds what follows `/api/v1/`.
    Api(String),
    /// `{base}/web` and below: the server-rendered pages; holds what follows `/web`.
    Web(String),
    NotFound,
}

fn route_of(base: &str, path: &str) -> Route {
    let rel = if base.is_empty() { Some(path) } else { path.strip_prefix(base) };
    // RFC 6764 §5: the well-known URIs live at the host root; accept them under the prefix too.
    let trimmed = path.trim_end_matches('/');
    if trimmed == "/.well-known/caldav" || trimmed == "/.well-known/carddav" {
        return Route::WellKnown;
    }
    match rel {
        Some(r) if matches!(r.trim_end_matches('/'), "/.well-known/caldav" | "/.well-known/carddav") => {
            Route::WellKnown
        }
        Some("/health") => Route::Health,
        Some(r) if r == "/feeds" || r.starts_with("/feeds/") => {
            Route::Feed(r.strip_prefix("/feeds/").unwrap_or_default().to_owned())
        }
        Some(r) if r == "/api" || r.starts_with("/api/") => match r.strip_prefix("/api/v1/") {
            Some(rest) => Route::Api(rest.to_owned()),
            None => Route::NotFound,
        },
        Some(r) if r == "/web" || r.starts_with("/web/") => Route::Web(r["/web".len()..].to_owned()),
        Some(r) if r.is_empty() || r.starts_with('/') => Route::Dav,
        _ => Route::NotFound,
    }
}

pub async fn route(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> hyper::Response<ResponseBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let target = route_of(&state.config.base_path, req.uri().path());
    let path = match target {
        // The token is the feed's only secret: it never reaches the log.
        Route::Feed(_) => format!("{}/feeds/<token>.ics", state.config.base_path),
        _ => req.uri().path().to_owned(),
    };
    let (response, user) = respond(&state, peer, target, req).await;
    let status = response.status().as_u16();
    tracing::info!(
        target: super::ACCESS_LOG_TARGET,
        %method,
        path = %path,
        status,
        ms = started.elapsed().as_millis() as u64,
        user = user.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

async fn respond(
    state: &Arc<AppState>,
    peer: SocketAddr,
    target: Route,
    req: hyper::Request<Incoming>,
) -> (http::Response<ResponseBody>, Option<String>) {
    let base = state.config.base_path.clone();
    let whole = |r: http::Response<Vec<u8>>| r.map(body::whole);
    // RFC 9112 §3.2: an HTTP/1.1 request with no Host header, or more than one, is a 400.
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if req.version() == http::Version::HTTP_11 && hosts != 1 {
        return (whole(plain(StatusCode::BAD_REQUEST, "exactly one Host header is required\n")), None);
    }
    // `OPTIONS *` asks about the server as a whole (RFC 9110 §9.3.7).
    if req.method() == http::Method::OPTIONS && req.uri() == "*" {
        return (whole(anonymous_options()), None);
    }
    match target {
        Route::WellKnown => (whole(redirect(&format!("{base}/dav/"))), None),
        Route::Health => (whole(plain(StatusCode::OK, "ok\n")), None),
        Route::NotFound => (whole(plain(StatusCode::NOT_FOUND, "not found\n")), None),
        Route::Feed(rest) => (serve_feed(state, rest, req).await, None),
        Route::Web(rest) => match read_small_body(req, crate::web::MAX_FORM_BYTES).await {
            Ok((parts, body)) => {
                let request =
                    crate::web::WebRequest { method: parts.method, path: rest, headers: parts.headers, body };
                let (response, user) = crate::web::handle(state, peer.ip(), request).await;
                (whole(response), user)
            }
            Err(refusal) => (whole(refusal), None),
        },
        Route::Api(rest) => match read_small_body(req, crate::api::body_limit(&rest)).await {
            Ok((parts, body)) => {
                let query = parts.uri.query().map(str::to_owned);
                let request = crate::api::ApiRequest {
                    method: parts.method,
                    path: rest,
                    query,
                    headers: parts.headers,
                    body,
                };
                let (response, user) = crate::api::handle(state, peer.ip(), request).await;
                (whole(response), user)
            }
            Err(refusal) => {
                let error = match refusal.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        crate::api::ApiError::too_large(crate::api::body_limit(&rest))
                    }
                    _ => crate::api::ApiError::bad_request("could not read the request body"),
                };
                let mut r = crate::api::error_response(state, &error);
                if let Some(close) = refusal.headers().get(header::CONNECTION) {
                    r.headers_mut().insert(header::CONNECTION, close.clone());
                }
                (whole(r), None)
            }
        },
        Route::Dav => {
            // RFC 4918 §10.1: every OPTIONS answer carries the DAV header. Without credentials
            // it describes the server, never a resource, so nothing about existence leaks.
            if req.method() == http::Method::OPTIONS && !req.headers().contains_key(header::AUTHORIZATION) {
                return (whole(anonymous_options()), None);
            }
            if req.headers().contains_key(header::AUTHORIZATION)
                && let Some(declared) = small_body(req.headers(), state.config.max_body_bytes)
            {
                return serve_dav_small(state, peer, req, declared).await;
            }
            let subject = match authenticate(state, req.headers(), peer.ip()).await {
                Ok(s) => s,
                Err(refusal) => return (whole(refuse(state, refusal, req).await), None),
            };
            let user = subject.principal.slug.clone();
            (whole(serve_dav(state, subject, req).await), Some(user))
        }
    }
}

fn anonymous_options() -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(Vec::new());
    let h = r.headers_mut();
    h.insert("dav", HeaderValue::from_static(crate::dav::capabilities::DAV_HEADER));
    h.insert(header::ALLOW, HeaderValue::from_static(crate::dav::capabilities::ALLOW_ANY));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// Bodies up to this size are read and dropped before an authentication refusal, so the
/// connection stays usable for the client's retry with credentials.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// A 401/429 in the DAV space: carries the DAV header, and either drains a small request body
/// or announces `Connection: close`, since an unread body would otherwise make hyper drop
/// the connection without saying so (RFC 9112 §9.6).
async fn refuse(
    state: &Arc<AppState>,
    refusal: super::auth::Refusal,
    req: hyper::Request<Incoming>,
) -> http::Response<Vec<u8>> {
    let mut r = refusal_response(state, refusal);
    r.headers_mut().insert("dav", HeaderValue::from_static(crate::dav::capabilities::DAV_HEADER));
    let declared = declared_length(req.headers());
    let has_body = declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body {
        let drained = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            read_bounded(req.into_body(), declared, DRAIN_LIMIT),
        )
        .await;
        if !matches!(drained, Ok(Ok(_))) {
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    r
}

/// A public feed: looked up on the blocking pool (a store read), then streamed from it. A
/// request body is never read (a feed takes no uploads), so such a connection is announced
/// closed rather than dropped silently (RFC 9112 §9.6).
async fn serve_feed(
    state: &Arc<AppState>,
    rest: String,
    req: hyper::Request<Incoming>,
) -> http::Response<ResponseBody> {
    let (parts, _body) = req.into_parts();
    let has_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let request = FeedRequest { method: parts.method, rest, headers: parts.headers };
    let state = state.clone();
    let response =
        tokio::task::spawn_blocking(move || crate::feeds::handler::respond(&state, &request)).await;
    let mut response = match response {
        Ok(r) => r.map(|b| match b {
            FeedBody::Bytes(bytes) => body::full(bytes),
            FeedBody::Rendered(bytes) => body::full(bytes),
            FeedBody::Stream(mut stream) => body::streamed(move || stream.next_chunk()),
        }),
        Err(e) => {
            tracing::error!(error = %e, "feed handler panicked");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").map(body::full)
        }
    };
    if has_body {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads a small body (API, web forms) within `limit`; a refusal is a 413, or a 400 that
/// closes the connection since the rest of the body is unread.
async fn read_small_body(
    req: hyper::Request<Incoming>,
    limit: u64,
) -> Result<(http::request::Parts, Vec<u8>), http::Response<Vec<u8>>> {
    let (parts, body) = req.into_parts();
    let declared = declared_length(&parts.headers);
    match read_bounded(body, declared, limit).await {
        Ok(b) => Ok((parts, b.to_vec())),
        Err(BodyError::TooLarge) => {
            let mut r =
                plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request body exceeds {limit} bytes\n"));
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(r)
        }
        Err(BodyError::Io(e)) => {
            let mut r = plain(StatusCode::BAD_REQUEST, &format!("could not read the body: {e}\n"));
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(r)
        }
    }
}

async fn serve_dav(
    state: &Arc<AppState>,
    subject: crate::acl::Subject,
    req: hyper::Request<Incoming>,
) -> http::Response<Vec<u8>> {
    let (parts, body) = req.into_parts();
    let declared = declared_length(&parts.headers);
    let body = match read_bounded(body, declared, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return body_refusal(state, e),
    };
    let request =
        DavRequest { method: parts.method, path: parts.uri.path().to_owned(), headers: parts.headers, body };
    let state = state.clone();
    match tokio::task::spawn_blocking(move || dav::handle(&state, subject, request)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "request handler panicked");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// The answer to a request body that could not be read whole.
fn body_refusal(state: &AppState, e: BodyError) -> http::Response<Vec<u8>> {
    match e {
        BodyError::TooLarge => {
            let msg = format!("the request body exceeds {} bytes\n", state.config.max_body_bytes);
            plain(StatusCode::PAYLOAD_TOO_LARGE, &msg)
        }
        BodyError::Io(e) => {
            // The rest of the body is unread: the connection cannot be reused.
            let mut r = plain(StatusCode::BAD_REQUEST, &format!("could not read the body: {e}\n"));
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// The declared length of a body small enough to read before authenticating: one that a
/// refusal would drain anyway (`DRAIN_LIMIT`) and within the configured limit; 0 without a
/// body. `None` for larger or chunked bodies, which are only read once the client is known.
fn small_body(headers: &http::HeaderMap, max_body_bytes: u64) -> Option<Option<u64>> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        return Some(None);
    }
    let n = declared_length(headers)?;
    (n <= DRAIN_LIMIT.min(max_body_bytes)).then_some(Some(n))
}

/// The Content-Length a request declares, if it is a number.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
}

/// A DAV request with a small body (the common case: every PROPFIND, REPORT and PUT of one
/// event or card): the body is read first, then authentication and the handler run in one
/// step, inline on this worker when one is to spare (`crate::inline`), else as one task on
/// the blocking pool. A PUT leaves the worker once its write is queued and awaits the group
/// commit as a task. What a client sees is the same as on the general path: a refusal drains
/// such a body too.
async fn serve_dav_small(
    state: &Arc<AppState>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
    declared: Option<u64>,
) -> (http::Response<ResponseBody>, Option<String>) {
    let (parts, body) = req.into_parts();
    let read = read_bounded(body, declared, state.config.max_body_bytes).await;
    let state = state.clone();
    let ip = peer.ip();
    let work = move || {
        let subject = super::auth::authenticate_blocking(&state, &parts.headers, ip);
        match (subject, read) {
            (Err(refusal), read) => {
                let mut r = refusal_response(&state, refusal);
                r.headers_mut().insert("dav", HeaderValue::from_static(crate::dav::capabilities::DAV_HEADER));
                if read.is_err() {
                    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                (Handled::Answered(r), None)
            }
            (Ok(subject), Err(e)) => {
                (Handled::Answered(body_refusal(&state, e)), Some(subject.principal.slug))
            }
            (Ok(subject), Ok(body)) => {
                let user = subject.principal.slug.clone();
                let path = parts.uri.path().to_owned();
                let request = DavRequest { method: parts.method, path, headers: parts.headers, body };
                (dav::handle_deferring(&state, subject, request), Some(user))
            }
        }
    };
    let outcome = match crate::inline::Slot::take() {
        Some(slot) => slot.run(work).map_err(|panic| {
            let message = panic.downcast_ref::<&str>().map(|s| s.to_string());
            message
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into())
        }),
        None => tokio::task::spawn_blocking(work).await.map_err(|e| e.to_string()),
    };
    match outcome {
        Ok((Handled::Answered(r), user)) => (r.map(body::whole), user),
        // The worker is free while the group commit runs (`dav::handle_deferring`).
        Ok((Handled::Writing { write, answer }, user)) => {
            (answer.respond(write.await).map(body::whole), user)
        }
        Err(e) => {
            tracing::error!(error = %e, "request handler panicked");
            (plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").map(body::full), None)
        }
    }
}

fn plain(status: StatusCode, text: &str) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(text.as_bytes().to_vec());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// 301, not 308: Outlook CalDav Synchronizer does not follow 308.
fn redirect(location: &str) -> http::Response<Vec<u8>> {
    let mut r = plain(StatusCode::MOVED_PERMANENTLY, "moved\n");
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route_of("", "/.well-known/caldav"), Route::WellKnown));
        assert!(matches!(route_of("/cal", "/.well-known/carddav/"), Route::WellKnown));
        assert!(matches!(route_of("/cal", "/cal/.well-known/caldav"), Route::WellKnown));
        assert!(matches!(route_of("", "/health"), Route::Health));
        assert!(matches!(route_of("", "/dav/x"), Route::Dav));
        assert!(matches!(route_of("/cal", "/cal"), Route::Dav));
        assert!(matches!(route_of("/cal", "/other/dav/"), Route::NotFound));
        assert!(matches!(route_of("/cal", "/calendar"), Route::NotFound));
        assert!(matches!(route_of("", "/feeds/abc.ics"), Route::Feed(t) if t == "abc.ics"));
        assert!(matches!(route_of("/cal", "/cal/feeds/abc.ics"), Route::Feed(t) if t == "abc.ics"));
        assert!(matches!(route_of("", "/feeds"), Route::Feed(t) if t.is_empty()));
        assert!(matches!(route_of("/cal", "/feeds/abc.ics"), Route::NotFound));
        assert!(matches!(route_of("", "/feedsx/abc.ics"), Route::Dav));
        assert!(matches!(route_of("/cal", "/cal/api/v1/me"), Route::Api(r) if r == "me"));
        assert!(matches!(route_of("", "/api/v1/"), Route::Api(r) if r.is_empty()));
        assert!(matches!(route_of("", "/api/v2/me"), Route::NotFound));
        assert!(matches!(route_of("", "/api"), Route::NotFound));
        assert!(matches!(route_of("/cal", "/cal/web/login"), Route::Web(r) if r == "/login"));
        assert!(matches!(route_of("", "/web"), Route::Web(r) if r.is_empty()));
        assert!(matches!(route_of("", "/website"), Route::Dav));
    }
}

//! Routes a request: well-known redirects and health need no credentials; everything in the
//! DAV space is authenticated, its body read within the limit, and handed to `dav::handle`
//! on the blocking pool. One access-log line per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{authenticate, refusal_response};
use super::body::{BodyError, ResponseBody, read_bounded};
use crate::dav::{self, DavRequest};
use crate::state::AppState;

enum Route {
    WellKnown,
    Health,
    Dav,
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
    let path = req.uri().path().to_owned();
    let (response, user) = respond(&state, peer, req).await;
    let status = response.status().as_u16();
    tracing::info!(
        target: "davit::access",
        %method,
        path = %path,
        status,
        ms = started.elapsed().as_millis() as u64,
        user = user.as_deref().unwrap_or("-"),
        "request"
    );
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, Full::new(Bytes::from(body)))
}

async fn respond(
    state: &Arc<AppState>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> (http::Response<Vec<u8>>, Option<String>) {
    let base = state.config.base_path.clone();
    match route_of(&base, req.uri().path()) {
        Route::WellKnown => (redirect(&format!("{base}/dav/")), None),
        Route::Health => (plain(StatusCode::OK, "ok\n"), None),
        Route::NotFound => (plain(StatusCode::NOT_FOUND, "not found\n"), None),
        Route::Dav => {
            let subject = match authenticate(state, req.headers(), peer.ip()).await {
                Ok(s) => s,
                Err(refusal) => return (refusal_response(state, refusal), None),
            };
            let user = subject.principal.slug.clone();
            (serve_dav(state, subject, req).await, Some(user))
        }
    }
}

async fn serve_dav(
    state: &Arc<AppState>,
    subject: crate::acl::Subject,
    req: hyper::Request<Incoming>,
) -> http::Response<Vec<u8>> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match read_bounded(body, declared, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let msg = format!("the request body exceeds {} bytes\n", state.config.max_body_bytes);
            return plain(StatusCode::PAYLOAD_TOO_LARGE, &msg);
        }
        Err(BodyError::Io(e)) => {
            return plain(StatusCode::BAD_REQUEST, &format!("could not read the body: {e}\n"));
        }
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
    }
}

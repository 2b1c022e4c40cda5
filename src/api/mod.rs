//! The JSON management API under `{base}/api/v1/` (documented in `docs/api.md`).
//!
//! This file is the infrastructure every endpoint shares: authentication (Basic, through the
//! same `http::auth::authenticate` as DAV, or a web session cookie, which then needs its CSRF
//! token in `X-CSRF-Token` on every state-changing method), JSON in and out, one error type
//! ([`ApiError`]) that becomes a status and `{"error": "<code>", "message": "<text>"}`, and
//! the dispatch: a match on the first path segments that hands the rest to one module, which
//! matches on (method, remaining segments). A new area is one module and one arm in
//! [`dispatch`].
//!
//! State-changing methods must send `Content-Type: application/json` (even with an empty
//! body): a cross-site HTML form cannot, so a browser that remembers Basic credentials for
//! this site cannot be made to change anything from another site.
//!
//! Handlers run on the blocking pool, are synchronous, and reach the store only through the
//! same `auth`/`feeds` functions as the CLI and the web pages.

mod account;
mod feeds;
mod import;
mod org;
mod two_factor;

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::acl::Subject;
use crate::auth::session;
use crate::http::auth::{Refusal, authenticate, subject_of, use_app_password_message};
use crate::state::AppState;
use crate::store::StoreError;

/// Largest request body the API reads: its requests are a few small JSON fields.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The most a request body may hold below `path`: an import carries a whole file.
pub fn body_limit(path: &str) -> u64 {
    if import::is_import_path(path) { crate::import::limits::MAX_BYTES as u64 } else { MAX_BODY_BYTES }
}

/// The header that carries the session's CSRF token on cookie-authenticated calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request below `{base}/api/v1/`, body already read.
pub struct ApiRequest {
    pub method: Method,
    /// The path after `{base}/api/v1/`, still percent-encoded.
    pub path: String,
    /// The query string, if any (without `?`).
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Basic auth: the main password, or an app password (then `Subject::scope` is set).
    Basic,
    /// A web session cookie (CSRF token already checked for state-changing methods).
    Session,
}

/// Who is calling and from where; every handler gets one.
pub struct ApiContext<'a> {
    pub state: &'a AppState,
    pub subject: Subject,
    pub credential: Credential,
    pub ip: IpAddr,
}

impl ApiContext<'_> {
    pub fn store(&self) -> &dyn crate::store::Store {
        self.state.store.as_ref()
    }

    /// Managing credentials (app passwords, two-factor login) takes the main password or a web
    /// session: an app password, possibly scoped, must not mint or remove credentials.
    pub fn require_full_login(&self) -> Result<(), ApiError> {
        match self.subject.scope {
            None => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "app_password_not_allowed",
                "app passwords cannot manage credentials; use your main password or the web account page",
            )),
        }
    }
}

/// A successful answer: a status, a JSON body (none for 204) and maybe a `Location`.
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Option<serde_json::Value>,
    pub location: Option<String>,
}

impl ApiResponse {
    pub fn ok(body: serde_json::Value) -> Self {
        ApiResponse { status: StatusCode::OK, body: Some(body), location: None }
    }
    pub fn created(body: serde_json::Value, location: String) -> Self {
        ApiResponse { status: StatusCode::CREATED, body: Some(body), location: Some(location) }
    }
    pub fn no_content() -> Self {
        ApiResponse { status: StatusCode::NO_CONTENT, body: None, location: None }
    }
}

/// Every failure of the API: a status, a stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
    /// Methods for `Allow` (405).
    pub allow: Option<&'static str>,
    /// Whether to send a Basic challenge with a 401.
    pub challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, allow: None, challenge: false }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn throttled(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message) }
    }
    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this endpoint allows {allow}"),
            )
        }
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    }
    /// A server-side failure: the detail goes to the log, the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "management API failure");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
    fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError { challenge: true, ..Self::new(StatusCode::UNAUTHORIZED, code, message) }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "the database is busy; try again")
            }
            other => ApiError::internal(other),
        }
    }
}

/// The request body as `T`. An empty body reads as `{}`, so requests whose fields are all
/// optional may omit it. Unknown fields are refused by the types (`deny_unknown_fields`).
pub fn json_body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, ApiError> {
    let body: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &req.body };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// The URL to give a CalDAV/CardDAV client: clients discover everything below it.
pub fn server_url(config: &crate::config::Config) -> String {
    format!("{}{}/", config.public_base(), config.base_path)
}

/// Unix seconds as RFC 3339 UTC (`2026-01-31T09:30:00Z`), the API's one time format.
pub fn timestamp(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The path below `/api/v1/` as decoded segments; a trailing slash is ignored.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok(Vec::new());
    }
    path.split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| ApiError::bad_request("the path is not valid UTF-8"))
        })
        .collect()
}

/// Picks the module for a path. Each module matches (method, remaining segments) itself.
fn dispatch(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let segments = segments(&req.path)?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["me", "two-factor", rest @ ..] => two_factor::route(ctx, req, rest),
        ["me", rest @ ..] => account::route(ctx, req, rest),
        ["calendars", owner, calendar, "feed", rest @ ..] => feeds::route(ctx, req, owner, calendar, rest),
        ["calendars", owner, calendar, "import"] => import::route(ctx, req, owner, calendar, true),
        ["addressbooks", owner, book, "import"] => import::route(ctx, req, owner, book, false),
        ["org", rest @ ..] => org::route_org(ctx, req, rest),
        ["teams", rest @ ..] => org::route_groups(ctx, req, crate::store::PrincipalKind::Team, rest),
        ["rooms", rest @ ..] => org::route_groups(ctx, req, crate::store::PrincipalKind::Room, rest),
        ["grants", rest @ ..] => org::route_grants(ctx, req, rest),
        ["collections", owner, name, "shares", rest @ ..] => org::route_shares(ctx, req, owner, name, rest),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

/// Handles one API request: authenticates, checks CSRF and content type, dispatches on the
/// blocking pool. Returns the response and the user's name for the access log.
pub async fn handle(
    state: &Arc<AppState>,
    ip: IpAddr,
    req: ApiRequest,
) -> (http::Response<Vec<u8>>, Option<String>) {
    let (subject, credential) = match authenticate_call(state, &req, ip).await {
        Ok(found) => found,
        Err(e) => return (error_response(state, &e), None),
    };
    let user = subject.principal.slug.clone();
    let state = state.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let ctx = ApiContext { state: &state, subject, credential, ip };
        let result = check_content_type(&req).and_then(|()| dispatch(&ctx, &req));
        match result {
            Ok(r) => success_response(r),
            Err(e) => error_response(&state, &e),
        }
    })
    .await;
    let response = answer.unwrap_or_else(|e| {
        let e = ApiError::internal(format!("API handler panicked: {e}"));
        json_response(e.status, Some(&error_json(&e)))
    });
    (response, Some(user))
}

/// Basic credentials if present, else the session cookie; a cookie-authenticated
/// state-changing call must carry the session's CSRF token.
async fn authenticate_call(
    state: &Arc<AppState>,
    req: &ApiRequest,
    ip: IpAddr,
) -> Result<(Subject, Credential), ApiError> {
    if req.headers.contains_key(header::AUTHORIZATION) {
        return match authenticate(state, &req.headers, ip).await {
            Ok(subject) => Ok((subject, Credential::Basic)),
            Err(refusal) => Err(refusal_error(state, refusal)),
        };
    }
    let cookies = req.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
    let Some(cookie) = session::cookie_value(cookies, session::COOKIE_NAME).map(str::to_owned) else {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "authentication required: Basic credentials or a web session",
        ));
    };
    let presented = req.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let needs_csrf = !req.method.is_safe();
    let state = state.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<Subject, ApiError> {
        let store = state.store.as_ref();
        let live = session::resume(store, &cookie, session::unix_now())?
            .filter(|s| !s.second_factor_pending)
            // No Basic challenge: a browser must not pop up a password dialog for a cookie.
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "session_expired",
                    "the session has ended; log in again",
                )
            })?;
        if needs_csrf && !session::csrf_matches(&live.csrf_token, presented.as_deref()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_token_invalid",
                format!(
                    "a missing or wrong {CSRF_HEADER} header: state-changing calls with a session cookie \
                     need the session's CSRF token"
                ),
            ));
        }
        subject_of(store, live.user_id, None).map_err(|refusal| refusal_error(&state, refusal))
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(e)))?;
    Ok((found, Credential::Session))
}

fn refusal_error(state: &AppState, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Challenge => ApiError::unauthorized("unauthorized", "wrong or missing credentials"),
        Refusal::Throttled(secs) => ApiError::throttled(
            "too_many_attempts",
            format!("too many failed logins; retry in {secs} seconds"),
            secs,
        ),
        Refusal::UseAppPassword => {
            ApiError::unauthorized("app_password_required", use_app_password_message(state))
        }
        Refusal::Internal => ApiError::internal("authentication failed internally"),
    }
}

/// State-changing methods must say they send JSON (see the module comment for why); an
/// import sends its file with a file type instead (`import::accepts_media`).
fn check_content_type(req: &ApiRequest) -> Result<(), ApiError> {
    let sends_body = matches!(req.method, Method::POST | Method::PUT | Method::PATCH) || !req.body.is_empty();
    if !sends_body {
        return Ok(());
    }
    let content_type = req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if import::is_import_path(&req.path) {
        return if import::accepts_media(media) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the file with Content-Type text/csv, text/vcard, text/calendar or application/octet-stream",
            ))
        };
    }
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request with Content-Type: application/json",
        ))
    }
}

fn success_response(r: ApiResponse) -> http::Response<Vec<u8>> {
    let mut response = json_response(r.status, r.body.as_ref());
    if let Some(location) = r.location
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn error_json(e: &ApiError) -> serde_json::Value {
    serde_json::json!({ "error": e.code, "message": e.message })
}

/// The HTTP answer for an error, with `WWW-Authenticate`, `Retry-After` or `Allow` as it needs.
pub fn error_response(state: &AppState, e: &ApiError) -> http::Response<Vec<u8>> {
    let mut response = json_response(e.status, Some(&error_json(e)));
    let h = response.headers_mut();
    if e.challenge
        && let Ok(v) =
            HeaderValue::from_str(&format!("Basic realm=\"{}\", charset=\"UTF-8\"", state.config.realm))
    {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(secs) = e.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(allow) = e.allow {
        h.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    response
}

fn json_response(status: StatusCode, body: Option<&serde_json::Value>) -> http::Response<Vec<u8>> {
    let bytes = match body {
        Some(v) => {
            let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
            b.push(b'\n');
            b
        }
        None => Vec::new(),
    };
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    let h = response.headers_mut();
    if body.is_some() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    // Answers carry passwords, keys and recovery codes shown once: never store them.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_decoded_segments() {
        assert_eq!(segments("me").unwrap(), ["me"]);
        assert_eq!(segments("me/").unwrap(), ["me"]);
        assert_eq!(segments("").unwrap(), Vec::<String>::new());
        assert_eq!(
            segments("calendars/alice/my%20cal/feed").unwrap(),
            ["calendars", "alice", "my cal", "feed"]
        );
        assert!(segments("calendars/%ff/x").is_err());
    }

    #[test]
    fn errors_are_json_with_code_and_message() {
        let state = AppState::new(
            crate::config::Config::default(),
            std::sync::Arc::new(
                crate::store::sqlite::SqliteStore::open(&tempfile::tempdir().unwrap().path().join("db"))
                    .unwrap(),
            ),
        );
        let r = error_response(&state, &ApiError::throttled("too_many_attempts", "slow down", 4));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "4");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body, serde_json::json!({"error": "too_many_attempts", "message": "slow down"}));
        let r = error_response(&state, &ApiError::method_not_allowed("GET, PUT"));
        assert_eq!(r.headers()[header::ALLOW], "GET, PUT");
    }

    #[test]
    fn state_changing_calls_must_send_json() {
        let req = |method: Method, content_type: Option<&str>, body: &[u8]| {
            let mut headers = HeaderMap::new();
            if let Some(ct) = content_type {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            }
            ApiRequest { method, path: String::new(), query: None, headers, body: body.to_vec() }
        };
        assert!(check_content_type(&req(Method::GET, None, b"")).is_ok());
        assert!(check_content_type(&req(Method::DELETE, None, b"")).is_ok());
        assert!(check_content_type(&req(Method::POST, Some("application/json; charset=utf-8"), b"")).is_ok());
        for bad in [None, Some("application/x-www-form-urlencoded"), Some("text/plain")] {
            let e = check_content_type(&req(Method::POST, bad, b"label=x")).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad:?}");
        }
        assert!(check_content_type(&req(Method::DELETE, Some("text/plain"), b"{}")).is_err());
    }
}

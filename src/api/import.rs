//! `POST /api/v1/addressbooks/{owner}/{name}/import` and
//! `POST /api/v1/calendars/{owner}/{name}/import`: the request body is the file (vCard or CSV
//! contacts; iCalendar), `?create=true` creates the collection for its owner, the answer is the
//! import report. Access and behaviour are `import::contacts|calendar`, as for `davit import`.
//!
//! The body is a file, not JSON, so the JSON content-type rule of `api/mod.rs` becomes: a file
//! type no cross-site form can send (see [`accepts_media`]), which keeps the same CSRF
//! protection for Basic-authenticated browsers.

use http::StatusCode;

use super::{ApiContext, ApiError, ApiRequest, ApiResponse};
use crate::import::{self, ImportError};
use crate::org::Actor;

/// Media types an import body may have. `text/plain`, `multipart/form-data` and
/// `application/x-www-form-urlencoded` are missing on purpose: an HTML form on another site
/// can send those without a CORS preflight.
const MEDIA: &[&str] = &[
    "text/csv",
    "text/comma-separated-values",
    "text/tab-separated-values",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
    "text/calendar",
    "application/octet-stream",
];

/// Whether `path` (below `/api/v1/`) is an import endpoint: its body is a file of up to the
/// import limit, not a small JSON document.
pub fn is_import_path(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    (p.starts_with("addressbooks/") || p.starts_with("calendars/")) && p.ends_with("/import")
}

pub fn accepts_media(media: &str) -> bool {
    MEDIA.iter().any(|m| m.eq_ignore_ascii_case(media))
}

pub fn route(
    ctx: &ApiContext<'_>,
    req: &ApiRequest,
    owner: &str,
    name: &str,
    calendar: bool,
) -> Result<ApiResponse, ApiError> {
    if req.method != http::Method::POST {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let create = match query_flag(req.query.as_deref(), "create") {
        Ok(v) => v,
        Err(m) => return Err(ApiError::bad_request(m)),
    };
    let path = format!("{owner}/{name}");
    let run = if calendar { import::calendar } else { import::contacts };
    let report =
        run(ctx.store(), Actor::User(&ctx.subject), &path, &req.body, create).map_err(import_error)?;
    let body = serde_json::to_value(&report).map_err(ApiError::internal)?;
    Ok(if report.imported() == 0 && !report.items.is_empty() {
        // Nothing could be stored: the report says why, with a status that says it failed.
        ApiResponse { status: StatusCode::UNPROCESSABLE_ENTITY, body: Some(body), location: None }
    } else {
        ApiResponse::ok(body)
    })
}

/// `create=true|false|1|0` in the query string; absent is false.
fn query_flag(query: Option<&str>, name: &str) -> Result<bool, String> {
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if k == name {
            return match v {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(format!("{name}={v}: expected true or false")),
            };
        }
    }
    Ok(false)
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "import_too_large", m),
        ImportError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "no_such_collection", m),
        ImportError::Forbidden(m) => ApiError::forbidden(m),
        ImportError::Invalid(m) => ApiError::bad_request(m),
        ImportError::Store(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_paths_and_flags() {
        assert!(is_import_path("addressbooks/alice/contacts/import"));
        assert!(is_import_path("calendars/alice/work/import/"));
        assert!(!is_import_path("calendars/alice/work/feed"));
        assert!(!is_import_path("me"));
        assert_eq!(query_flag(Some("create=true"), "create"), Ok(true));
        assert_eq!(query_flag(Some("x=1&create"), "create"), Ok(true));
        assert_eq!(query_flag(None, "create"), Ok(false));
        assert!(query_flag(Some("create=maybe"), "create").is_err());
        assert!(accepts_media("text/CSV") && !accepts_media("text/plain"));
    }
}

//! `/api/v1/calendars/{owner}/{calendar}/feed`: publish a calendar at a secret URL, re-key it,
//! stop publishing it. Access is `feeds::may_manage` (the ACL), the actions are
//! `feeds::enable|disable|regenerate`, the same ones as `davit feed`.

use serde::Deserialize;
use serde_json::json;

use super::{ApiContext, ApiError, ApiRequest, ApiResponse, json_body};
use crate::feeds::{self, FeedError};
use crate::store::{Collection, FeedSettings};

pub fn route(
    ctx: &ApiContext<'_>,
    req: &ApiRequest,
    owner: &str,
    calendar: &str,
    rest: &[&str],
) -> Result<ApiResponse, ApiError> {
    let allow = match rest {
        [] => "GET, PUT, DELETE",
        ["regenerate"] => "POST",
        _ => return Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    };
    let name = format!("{owner}/{calendar}");
    let collection = feeds::find_calendar(ctx.store(), &name).map_err(feed_error)?;
    if !feeds::may_manage(ctx.store(), &ctx.subject, &collection) {
        return Err(ApiError::forbidden(format!("you may not publish or unpublish {name}")));
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => show(ctx, &collection),
        ("PUT", []) => enable(ctx, req, &collection),
        ("DELETE", []) => {
            feeds::disable(ctx.store(), &collection).map_err(feed_error)?;
            Ok(ApiResponse::no_content())
        }
        ("POST", ["regenerate"]) => {
            let token = feeds::regenerate(ctx.store(), &collection).map_err(feed_error)?;
            Ok(ApiResponse::ok(urls(ctx, &token)))
        }
        _ => Err(ApiError::method_not_allowed(allow)),
    }
}

/// Whether the calendar is public and how. The URL itself cannot be shown again: only its
/// hash is stored (regenerate makes a new one).
fn show(ctx: &ApiContext<'_>, collection: &Collection) -> Result<ApiResponse, ApiError> {
    let settings = ctx.store().feed_of(collection.id)?;
    Ok(ApiResponse::ok(json!({
        "published": settings.is_some(),
        "busy_only": settings.as_ref().is_some_and(|s| s.busy_only),
        "show_attendees": settings.as_ref().is_some_and(|s| s.show_attendees),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableRequest {
    busy_only: Option<bool>,
    show_attendees: Option<bool>,
}

/// Publishes under a new URL; omitted settings keep their current value (off when new).
fn enable(ctx: &ApiContext<'_>, req: &ApiRequest, collection: &Collection) -> Result<ApiResponse, ApiError> {
    let body: EnableRequest = json_body(req)?;
    let current = ctx.store().feed_of(collection.id)?;
    let settings = FeedSettings {
        busy_only: body.busy_only.unwrap_or(current.as_ref().is_some_and(|s| s.busy_only)),
        show_attendees: body.show_attendees.unwrap_or(current.as_ref().is_some_and(|s| s.show_attendees)),
    };
    let token = feeds::enable(ctx.store(), collection, &settings).map_err(feed_error)?;
    let mut answer = urls(ctx, &token);
    answer["busy_only"] = settings.busy_only.into();
    answer["show_attendees"] = settings.show_attendees.into();
    Ok(ApiResponse::ok(answer))
}

fn urls(ctx: &ApiContext<'_>, token: &str) -> serde_json::Value {
    json!({
        "url": feeds::feed_url(&ctx.state.config, token),
        "webcal": feeds::webcal_url(&ctx.state.config, token),
    })
}

fn feed_error(e: FeedError) -> ApiError {
    match e {
        FeedError::NoSuchCalendar(_) | FeedError::NotACalendar(_) => {
            ApiError::new(http::StatusCode::NOT_FOUND, "no_such_calendar", e.to_string())
        }
        FeedError::NotPublished(_) => ApiError::conflict("not_published", e.to_string()),
        FeedError::Random(e) => ApiError::internal(e),
        FeedError::Store(e) => e.into(),
    }
}

//! `/api/v1/me` and `/api/v1/me/app-passwords`: the signed-in user's account and their
//! per-device app passwords (created, listed and revoked through `auth::app_password`, the
//! same code path as `davit app-password`).

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ApiContext, ApiError, ApiRequest, ApiResponse, json_body, server_url, timestamp};
use crate::auth::app_password::{self, IssueError};
use crate::auth::password_change::{self, PasswordChangeError};
use crate::auth::two_factor;
use crate::store::{AppPasswordInfo, AppPasswordScope};

pub fn route(ctx: &ApiContext<'_>, req: &ApiRequest, rest: &[&str]) -> Result<ApiResponse, ApiError> {
    match (req.method.as_str(), rest) {
        ("GET", []) => me(ctx),
        ("GET", ["app-passwords"]) => list(ctx),
        ("POST", ["app-passwords"]) => create(ctx, req),
        ("DELETE", ["app-passwords", id]) => revoke(ctx, id),
        ("POST", ["password"]) => change_password(ctx, req),
        (_, []) => Err(ApiError::method_not_allowed("GET")),
        (_, ["app-passwords"]) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, ["app-passwords", _]) => Err(ApiError::method_not_allowed("DELETE")),
        (_, ["password"]) => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

fn me(ctx: &ApiContext<'_>) -> Result<ApiResponse, ApiError> {
    let p = &ctx.subject.principal;
    Ok(ApiResponse::ok(json!({
        "username": p.slug,
        "display_name": p.display_name,
        "email": p.email,
        "server_url": server_url(&ctx.state.config),
        "two_factor_enabled": two_factor::is_on(ctx.store(), p.id)?,
    })))
}

fn list(ctx: &ApiContext<'_>) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let passwords = ctx.store().app_passwords(ctx.subject.principal.id)?;
    let listed = passwords.iter().map(|p| describe(ctx, p)).collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ApiResponse::ok(json!({ "app_passwords": listed })))
}

fn describe(ctx: &ApiContext<'_>, p: &AppPasswordInfo) -> Result<serde_json::Value, ApiError> {
    Ok(json!({
        "id": p.id,
        "label": p.label,
        "created_at": timestamp(p.created_at),
        "last_used_at": p.last_used_at.and_then(timestamp),
        "last_user_agent": p.last_user_agent,
        "last_ip": p.last_ip,
        "read_only": p.scope.read_only,
        "collections": collection_names(ctx, &p.scope)?,
    }))
}

/// `null` for every collection, else the `OWNER/NAME` of each (deleted ones are left out).
fn collection_names(ctx: &ApiContext<'_>, scope: &AppPasswordScope) -> Result<Option<Vec<String>>, ApiError> {
    let Some(ids) = &scope.collections else { return Ok(None) };
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(name) = app_password::collection_name(ctx.store(), *id)? {
            names.push(name);
        }
    }
    Ok(Some(names))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    label: String,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    collections: Vec<String>,
}

fn create(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: CreateRequest = json_body(req)?;
    let store = ctx.store();
    let scope = app_password::scope_for_subject(store, &ctx.subject, body.read_only, &body.collections)
        .map_err(issue_error)?;
    let user = &ctx.subject.principal;
    let (id, secret) = app_password::issue(store, user.id, &body.label, &scope).map_err(issue_error)?;
    let location = format!("{}/api/v1/me/app-passwords/{id}", ctx.state.config.base_path);
    Ok(ApiResponse::created(
        json!({
            "id": id,
            "label": body.label.trim(),
            "username": user.slug,
            "password": secret,
            "read_only": scope.read_only,
            "collections": collection_names(ctx, &scope)?,
            "server_url": server_url(&ctx.state.config),
        }),
        location,
    ))
}

fn issue_error(e: IssueError) -> ApiError {
    match e {
        IssueError::Label => ApiError::invalid("invalid_label", e.to_string()),
        IssueError::Collection(_) => {
            ApiError::invalid("unknown_collection", "one of the collections does not exist")
        }
        IssueError::TooManyCollections => ApiError::invalid("too_many_collections", e.to_string()),
        IssueError::Random(e) => ApiError::internal(e),
        IssueError::Store(e) => e.into(),
    }
}

fn revoke(ctx: &ApiContext<'_>, id: &str) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let missing =
        || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no active app password {id}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    // App passwords are checked against the store on every request (never cached), so this
    // takes effect on the next one.
    if ctx.store().revoke_app_password(ctx.subject.principal.id, id)? {
        Ok(ApiResponse::no_content())
    } else {
        Err(missing())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

/// Every web session of the user ends with the change, a cookie-authenticated caller's own
/// included; Basic-auth callers and app passwords are unaffected.
fn change_password(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: PasswordRequest = json_body(req)?;
    let (auth, user) = (&ctx.state.auth, &ctx.subject.principal);
    password_change::change_password(
        auth,
        ctx.store(),
        user,
        &body.current_password,
        &body.new_password,
        ctx.ip,
    )
    .map_err(|e| {
        let message = e.to_string();
        match e {
            PasswordChangeError::WrongPassword => {
                ApiError::new(StatusCode::FORBIDDEN, "wrong_password", message)
            }
            PasswordChangeError::Throttled(secs) => ApiError::throttled("too_many_attempts", message, secs),
            PasswordChangeError::Rejected(_) => ApiError::invalid("invalid_password", message),
            PasswordChangeError::Hash(e) => ApiError::internal(e),
            PasswordChangeError::Store(e) => e.into(),
        }
    })?;
    Ok(ApiResponse::no_content())
}

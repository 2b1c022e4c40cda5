//! `/api/v1/me/two-factor`: enrol (password → key, otpauth URI, QR code), confirm (first code
//! → on, recovery codes shown once), turn off (password and a code). All through
//! `auth::two_factor`, the same service as the web account page.

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ApiContext, ApiError, ApiRequest, ApiResponse, json_body};
use crate::auth::session::unix_now;
use crate::auth::two_factor::{self, TwoFactorError};

pub fn route(ctx: &ApiContext<'_>, req: &ApiRequest, rest: &[&str]) -> Result<ApiResponse, ApiError> {
    match (req.method.as_str(), rest) {
        ("POST", ["enroll"]) => enroll(ctx, req),
        ("POST", ["confirm"]) => confirm(ctx, req),
        ("DELETE", []) => disable(ctx, req),
        (_, ["enroll"] | ["confirm"]) => Err(ApiError::method_not_allowed("POST")),
        (_, []) => Err(ApiError::method_not_allowed("DELETE")),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    password: String,
}

fn enroll(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: EnrollRequest = json_body(req)?;
    let enrollment =
        two_factor::enroll(&ctx.state.auth, ctx.store(), &ctx.subject.principal, &body.password, ctx.ip)
            .map_err(two_factor_error)?;
    Ok(ApiResponse::ok(json!({
        "secret": enrollment.secret_base32,
        "otpauth_uri": enrollment.otpauth_uri,
        "qr_svg": enrollment.qr_svg,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    code: String,
}

fn confirm(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: ConfirmRequest = json_body(req)?;
    let user_id = ctx.subject.principal.id;
    let codes = two_factor::confirm(&ctx.state.auth, ctx.store(), user_id, &body.code, ctx.ip, unix_now())
        .map_err(two_factor_error)?;
    Ok(ApiResponse::ok(json!({ "two_factor_enabled": true, "recovery_codes": codes })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableRequest {
    password: String,
    code: String,
}

fn disable(ctx: &ApiContext<'_>, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: DisableRequest = json_body(req)?;
    let user = &ctx.subject.principal;
    two_factor::disable(&ctx.state.auth, ctx.store(), user, &body.password, &body.code, ctx.ip, unix_now())
        .map_err(two_factor_error)?;
    Ok(ApiResponse::no_content())
}

/// Shared with nothing else on purpose: the web pages render the same errors as HTML.
fn two_factor_error(e: TwoFactorError) -> ApiError {
    let message = e.to_string();
    match e {
        TwoFactorError::AlreadyOn => ApiError::conflict("two_factor_already_on", message),
        TwoFactorError::NotOn => ApiError::conflict("two_factor_not_on", message),
        TwoFactorError::NoEnrollment => ApiError::conflict("no_enrollment", message),
        TwoFactorError::WrongPassword => ApiError::new(StatusCode::FORBIDDEN, "wrong_password", message),
        TwoFactorError::WrongCode => ApiError::new(StatusCode::FORBIDDEN, "wrong_code", message),
        TwoFactorError::Throttled(secs) => ApiError::throttled("too_many_attempts", message, secs),
        TwoFactorError::Random(e) => ApiError::internal(e),
        TwoFactorError::Store(e) => e.into(),
    }
}

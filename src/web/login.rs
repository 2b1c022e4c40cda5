//! Logging in and out. Step one takes a username or e-mail address and the password (same
//! back-off as Basic auth, the same answer for an unknown user and a wrong password); when
//! two-factor login is on, it opens a short-lived session good only for step two, which takes
//! a TOTP or recovery code and then replaces it with a full session under a new id.

use http::{HeaderValue, StatusCode, header};

use super::html::{self, escape};
use super::{PageResult, WebContext, csrf_refused, set_cookie};
use crate::auth::session::{self, csrf_matches, unix_now};
use crate::auth::two_factor::{self, TwoFactorError};
use crate::auth::{AuthOutcome, Authenticator};

/// The double-submit cookie of the login form (it has no session to hold a CSRF token).
const LOGIN_COOKIE: &str = "davit_login";
const LOGIN_COOKIE_SECONDS: i64 = 3600;

pub fn show(ctx: &WebContext<'_>) -> PageResult {
    if ctx.session()?.is_some_and(|s| !s.second_factor_pending) {
        return Ok((html::redirect(&ctx.url("/account")), None));
    }
    login_page(ctx, StatusCode::OK, "")
}

/// The login form with `message` (HTML) above it, and a fresh double-submit token.
pub(crate) fn login_page(ctx: &WebContext<'_>, status: StatusCode, message: &str) -> PageResult {
    let token = session::random_token()?;
    let body = format!(
        "<h1>Log in</h1>{message}<form method=\"post\" action=\"{action}\">{csrf}\
         <label>Username or e-mail address<br><input type=\"text\" name=\"login\" autocomplete=\"username\" \
         required autofocus></label>\
         <label>Password<br><input type=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required></label><p><button type=\"submit\">Log in</button></p></form>",
        action = escape(&ctx.url("/login")),
        csrf = html::csrf_field(&token),
    );
    let mut response = html::response(status, html::page("Log in", &body));
    set_cookie(&mut response, &ctx.cookies.set(LOGIN_COOKIE, &token, LOGIN_COOKIE_SECONDS));
    Ok((response, None))
}

pub fn submit(ctx: &WebContext<'_>, form: &super::Form) -> PageResult {
    if !csrf_matches(ctx.cookie(LOGIN_COOKIE).unwrap_or(""), form.get("csrf")) {
        return Ok((csrf_refused(), None));
    }
    let login = form.text("login").trim();
    let password = form.text("password");
    if login.is_empty() || password.is_empty() {
        let message = html::error("Enter your username or e-mail address and your password.");
        return login_page(ctx, StatusCode::BAD_REQUEST, &message);
    }
    let auth: &Authenticator = &ctx.state.auth;
    match two_factor::check_main_password(auth, ctx.store(), login, password, ctx.ip) {
        AuthOutcome::Authenticated { user_id, .. } => {
            let second_factor = two_factor::is_on(ctx.store(), user_id)?;
            let new = session::start(ctx.store(), user_id, second_factor, unix_now())?;
            let next = if second_factor { "/login/code" } else { "/account" };
            let mut response = html::redirect(&ctx.url(next));
            set_cookie(&mut response, &ctx.cookies.set(session::COOKIE_NAME, &new.cookie_value, new.max_age));
            set_cookie(&mut response, &ctx.cookies.clear(LOGIN_COOKIE));
            let user = ctx.store().principal_by_id(user_id)?.map(|p| p.slug);
            Ok((response, user))
        }
        AuthOutcome::Throttled { retry_after } => {
            let secs = retry_after.as_secs().max(1);
            let message = html::error(&format!("Too many failed attempts. Try again in {secs} seconds."));
            let (mut response, user) = login_page(ctx, StatusCode::TOO_MANY_REQUESTS, &message)?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            Ok((response, user))
        }
        // Unknown user and wrong password: one message, so the page tells nobody which.
        AuthOutcome::Rejected | AuthOutcome::SecondFactorRequired { .. } => {
            login_page(ctx, StatusCode::UNAUTHORIZED, &html::error("Wrong username or password."))
        }
    }
}

pub fn show_code(ctx: &WebContext<'_>) -> PageResult {
    match ctx.session()? {
        Some(s) if s.second_factor_pending => code_page(ctx, StatusCode::OK, "", &s.csrf_token),
        Some(_) => Ok((html::redirect(&ctx.url("/account")), None)),
        None => Ok((html::redirect(&ctx.url("/login")), None)),
    }
}

fn code_page(ctx: &WebContext<'_>, status: StatusCode, message: &str, csrf: &str) -> PageResult {
    let body = format!(
        "<h1>Two-factor login</h1>{message}<form method=\"post\" action=\"{action}\">{csrf}\
         <label>Code from your authenticator app<br><input type=\"text\" name=\"code\" \
         autocomplete=\"one-time-code\" required autofocus></label>\
         <p>Lost your phone? Enter one of your recovery codes instead.</p>\
         <p><button type=\"submit\">Continue</button></p></form>",
        action = escape(&ctx.url("/login/code")),
        csrf = html::csrf_field(csrf),
    );
    Ok((html::response(status, html::page("Two-factor login", &body)), None))
}

pub fn submit_code(ctx: &WebContext<'_>, form: &super::Form) -> PageResult {
    let pending = match ctx.session()? {
        Some(s) if s.second_factor_pending => s,
        Some(_) => return Ok((html::redirect(&ctx.url("/account")), None)),
        None => return Ok((html::redirect(&ctx.url("/login")), None)),
    };
    if !csrf_matches(&pending.csrf_token, form.get("csrf")) {
        return Ok((csrf_refused(), None));
    }
    let code = form.text("code").trim();
    let auth: &Authenticator = &ctx.state.auth;
    match two_factor::check_code(auth, ctx.store(), pending.user_id, code, ctx.ip, unix_now()) {
        Ok(()) => {
            // A new id for the full session: whatever saw the half-logged-in cookie gains nothing.
            ctx.store().delete_web_session(&pending.id_hash)?;
            let new = session::start(ctx.store(), pending.user_id, false, unix_now())?;
            let mut response = html::redirect(&ctx.url("/account"));
            set_cookie(&mut response, &ctx.cookies.set(session::COOKIE_NAME, &new.cookie_value, new.max_age));
            let user = ctx.store().principal_by_id(pending.user_id)?.map(|p| p.slug);
            Ok((response, user))
        }
        Err(TwoFactorError::WrongCode) => {
            let message = html::error("That code is wrong, expired or already used.");
            code_page(ctx, StatusCode::UNAUTHORIZED, &message, &pending.csrf_token)
        }
        Err(TwoFactorError::Throttled(secs)) => {
            let message = html::error(&format!("Too many wrong codes. Try again in {secs} seconds."));
            let (mut response, user) =
                code_page(ctx, StatusCode::TOO_MANY_REQUESTS, &message, &pending.csrf_token)?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            Ok((response, user))
        }
        // Turned off meanwhile (elsewhere): start over with the password.
        Err(TwoFactorError::NotOn) => {
            ctx.store().delete_web_session(&pending.id_hash)?;
            Ok((html::redirect(&ctx.url("/login")), None))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn logout(ctx: &WebContext<'_>, form: &super::Form) -> PageResult {
    let Some(current) = ctx.session()? else {
        return Ok((html::redirect(&ctx.url("/login")), None));
    };
    if !csrf_matches(&current.csrf_token, form.get("csrf")) {
        return Ok((csrf_refused(), None));
    }
    ctx.store().delete_web_session(&current.id_hash)?;
    let mut response = html::redirect(&ctx.url("/login"));
    set_cookie(&mut response, &ctx.cookies.clear(session::COOKIE_NAME));
    Ok((response, None))
}

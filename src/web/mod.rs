//! Server-rendered web pages under `{base}/web/`: log in (password, then a TOTP or recovery
//! code when two-factor login is on), log out, and the account page (server URL, app
//! passwords, two-factor login). Plain HTML forms, no scripts.
//!
//! Sessions and CSRF tokens come from `auth::session`; every state-changing form carries the
//! session's token in a hidden `csrf` field. The login form, which has no session yet, is
//! protected by a double-submit token: a random value in a cookie and in the form, which a
//! foreign site can neither read nor set. The actions themselves are the `auth` services the
//! management API uses, so both front ends behave alike.

mod account;
mod html;
mod login;

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::auth::session::{self, ActiveSession, CookiePolicy};
use crate::state::AppState;

/// Largest form body read: the forms have a few short fields.
pub const MAX_FORM_BYTES: u64 = 16 * 1024;

/// A request below `{base}/web`, body already read.
pub struct WebRequest {
    pub method: Method,
    /// The path after `{base}/web` (`""`, `/login`, `/account`, …).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What every page handler gets.
pub(crate) struct WebContext<'a> {
    pub state: &'a AppState,
    pub ip: IpAddr,
    pub headers: &'a HeaderMap,
    pub cookies: CookiePolicy,
}

impl WebContext<'_> {
    pub fn store(&self) -> &dyn crate::store::Store {
        self.state.store.as_ref()
    }

    /// An absolute path below `{base}/web`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/web{path}", self.state.config.base_path)
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        let values = self.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        session::cookie_value(values, name)
    }

    /// The live session named by the cookie, if any.
    pub fn session(&self) -> Result<Option<ActiveSession>, crate::store::StoreError> {
        match self.cookie(session::COOKIE_NAME) {
            Some(value) => session::resume(self.store(), value, session::unix_now()),
            None => Ok(None),
        }
    }
}

/// A submitted `application/x-www-form-urlencoded` body.
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let decode = |s: &str| {
            let spaced = s.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
        };
        let text = String::from_utf8_lossy(body);
        let fields = text
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(pair), String::new()),
            })
            .collect();
        Form { fields }
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The field's value, or "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

/// Handles one request below `{base}/web`; returns the response and the user for the log.
pub async fn handle(
    state: &Arc<AppState>,
    ip: IpAddr,
    req: WebRequest,
) -> (http::Response<Vec<u8>>, Option<String>) {
    let state = state.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let ctx = WebContext {
            state: &state,
            ip,
            headers: &req.headers,
            cookies: CookiePolicy::new(&state.config.base_path, &state.config.public_url),
        };
        let form = Form::parse(&req.body);
        respond(&ctx, &req.method, &req.path, &form)
    })
    .await;
    match answer {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "web page failed");
            (failure(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on the server."), None)
        }
        Err(e) => {
            tracing::error!(error = %e, "web page panicked");
            (failure(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on the server."), None)
        }
    }
}

/// A page and the user for the access log; an error is a 500 (logged, not shown).
pub(crate) type PageResult = anyhow::Result<(http::Response<Vec<u8>>, Option<String>)>;

fn respond(ctx: &WebContext<'_>, method: &Method, path: &str, form: &Form) -> PageResult {
    match (method.as_str(), path) {
        ("GET" | "HEAD", "" | "/") => Ok((html::redirect(&ctx.url("/account")), None)),
        ("GET" | "HEAD", "/login") => login::show(ctx),
        ("POST", "/login") => login::submit(ctx, form),
        ("GET" | "HEAD", "/login/code") => login::show_code(ctx),
        ("POST", "/login/code") => login::submit_code(ctx, form),
        ("POST", "/logout") => login::logout(ctx, form),
        ("GET" | "HEAD", "/account") => account::show(ctx),
        ("POST", "/account/app-passwords") => account::create_app_password(ctx, form),
        ("POST", "/account/app-passwords/revoke") => account::revoke_app_password(ctx, form),
        ("POST", "/account/two-factor/enroll") => account::enroll(ctx, form),
        ("POST", "/account/two-factor/confirm") => account::confirm(ctx, form),
        ("POST", "/account/two-factor/disable") => account::disable(ctx, form),
        ("POST", "/account/password") => account::change_password(ctx, form),
        (_, "" | "/" | "/login" | "/login/code" | "/account") => {
            let mut r = failure(StatusCode::METHOD_NOT_ALLOWED, "This page does not take that method.");
            let allow =
                if path == "/login" || path == "/login/code" { "GET, HEAD, POST" } else { "GET, HEAD" };
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            Ok((r, None))
        }
        _ => Ok((failure(StatusCode::NOT_FOUND, "There is no such page."), None)),
    }
}

/// A short error page.
pub(crate) fn failure(status: StatusCode, message: &str) -> http::Response<Vec<u8>> {
    let title = status.canonical_reason().unwrap_or("Error");
    html::response(
        status,
        html::page(title, &format!("<h1>{}</h1>{}", html::escape(title), html::error(message))),
    )
}

/// The refusal of a state-changing form without the right CSRF token.
pub(crate) fn csrf_refused() -> http::Response<Vec<u8>> {
    failure(
        StatusCode::FORBIDDEN,
        "This form has expired or was sent from another site. Reload the page and try again.",
    )
}

/// Adds a `Set-Cookie` header (several may be set on one response).
pub(crate) fn set_cookie(response: &mut http::Response<Vec<u8>>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_decoded() {
        let form = Form::parse(b"login=alice%40example.org&password=a+b%26c&empty=&flag&login=second");
        assert_eq!(form.get("login"), Some("alice@example.org"), "the first value wins");
        assert_eq!(form.get("password"), Some("a b&c"));
        assert_eq!(form.get("empty"), Some(""));
        assert_eq!(form.get("flag"), Some(""));
        assert_eq!(form.get("missing"), None);
        assert_eq!(form.text("missing"), "");
        assert_eq!(Form::parse(b"x=%ff").get("x"), Some("\u{fffd}"));
    }
}

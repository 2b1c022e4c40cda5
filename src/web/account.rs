//! The account page: what to type into a sync client, the app passwords (list, create with
//! the new one shown once, revoke) and two-factor login (turn on with a QR code, confirm and
//! get the recovery codes once, turn off). Each action is a form with the session's CSRF
//! token, carried out by the same `auth` functions as the management API.

use http::{HeaderValue, StatusCode, header};

use super::html::{self, escape};
use super::{Form, PageResult, WebContext, csrf_refused, set_cookie};
use crate::acl::Subject;
use crate::auth::app_password::{self, IssueError};
use crate::auth::password_change::{self, MIN_PASSWORD_CHARS, PasswordChangeError};
use crate::auth::session::{self, ActiveSession, csrf_matches, unix_now};
use crate::auth::two_factor::{self, Enrollment, TwoFactorError};
use crate::store::AppPasswordScope;

/// The signed-in user of a full session.
struct SignedIn {
    session: ActiveSession,
    subject: Subject,
}

fn signed_in(ctx: &WebContext<'_>) -> anyhow::Result<Option<SignedIn>> {
    let Some(session) = ctx.session()?.filter(|s| !s.second_factor_pending) else { return Ok(None) };
    let store = ctx.store();
    let principal = match store.principal_by_id(session.user_id)? {
        Some(p) => p,
        None => return Ok(None),
    };
    let (organization, role) = match store.role_of(principal.id)? {
        Some((org, role)) => (Some(org), Some(role)),
        None => (None, None),
    };
    Ok(Some(SignedIn { session, subject: Subject { principal, organization, role, scope: None } }))
}

/// Runs a form action for a signed-in user whose form carries the session's CSRF token.
fn action(ctx: &WebContext<'_>, form: &Form, run: impl FnOnce(&SignedIn) -> PageResult) -> PageResult {
    let Some(me) = signed_in(ctx)? else {
        return Ok((html::redirect(&ctx.url("/login")), None));
    };
    if !csrf_matches(&me.session.csrf_token, form.get("csrf")) {
        return Ok((csrf_refused(), Some(me.subject.principal.slug.clone())));
    }
    run(&me)
}

pub fn show(ctx: &WebContext<'_>) -> PageResult {
    match signed_in(ctx)? {
        Some(me) => page(ctx, &me, StatusCode::OK, "", None),
        None => Ok((html::redirect(&ctx.url("/login")), None)),
    }
}

pub fn create_app_password(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let names: Vec<String> = form
            .text("collections")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let read_only = form.get("read_only").is_some();
        let label = form.text("label");
        let issued = app_password::scope_for_subject(ctx.store(), &me.subject, read_only, &names)
            .and_then(|scope| app_password::issue(ctx.store(), me.subject.principal.id, label, &scope));
        match issued {
            Ok((_, secret)) => {
                let top = format!(
                    "<div class=\"notice\"><p>New app password for “{}”. It is shown only now: copy it into \
                     your app together with the username <code>{}</code>.</p>\
                     <p><span class=\"secret\">{}</span></p></div>",
                    escape(label.trim()),
                    escape(&me.subject.principal.slug),
                    escape(&secret)
                );
                page(ctx, me, StatusCode::OK, &top, None)
            }
            Err(IssueError::Random(e)) => Err(e.into()),
            Err(IssueError::Store(e)) => Err(e.into()),
            Err(e) => page(ctx, me, StatusCode::UNPROCESSABLE_ENTITY, &html::error(&e.to_string()), None),
        }
    })
}

pub fn revoke_app_password(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let id = form.text("id").parse::<i64>().ok();
        let revoked = match id {
            Some(id) => ctx.store().revoke_app_password(me.subject.principal.id, id)?,
            None => false,
        };
        match revoked {
            true => page(ctx, me, StatusCode::OK, &html::notice("The app password is revoked."), None),
            false => {
                page(ctx, me, StatusCode::NOT_FOUND, &html::error("There is no such app password."), None)
            }
        }
    })
}

pub fn enroll(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let auth = &ctx.state.auth;
        match two_factor::enroll(auth, ctx.store(), &me.subject.principal, form.text("password"), ctx.ip) {
            Ok(enrollment) => page(ctx, me, StatusCode::OK, "", Some(&enrollment)),
            Err(e) => two_factor_failure(ctx, me, e),
        }
    })
}

pub fn confirm(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let user_id = me.subject.principal.id;
        match two_factor::confirm(
            &ctx.state.auth,
            ctx.store(),
            user_id,
            form.text("code"),
            ctx.ip,
            unix_now(),
        ) {
            Ok(codes) => {
                let items: String =
                    codes.iter().map(|c| format!("<li><code>{}</code></li>", escape(c))).collect();
                let top = format!(
                    "<div class=\"notice\"><p>Two-factor login is on, and every other session has ended. \
                     These recovery codes are shown only now: keep them somewhere safe. Each one works \
                     once, in place of a code from your app.</p><ul>{items}</ul></div>"
                );
                // The store ended every session, this one too: this browser just proved the code.
                stay_signed_in(ctx, me, |me| page(ctx, me, StatusCode::OK, &top, None))
            }
            Err(e) => two_factor_failure(ctx, me, e),
        }
    })
}

pub fn disable(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let (user, password, code) = (&me.subject.principal, form.text("password"), form.text("code"));
        match two_factor::disable(&ctx.state.auth, ctx.store(), user, password, code, ctx.ip, unix_now()) {
            Ok(()) => {
                // Every session ended with it, this one included.
                let notice = html::notice("Two-factor login is off. Every session has ended: log in again.");
                let (mut response, _) = super::login::login_page(ctx, StatusCode::OK, &notice)?;
                set_cookie(&mut response, &ctx.cookies.clear(session::COOKIE_NAME));
                Ok((response, Some(user.slug.clone())))
            }
            Err(e) => two_factor_failure(ctx, me, e),
        }
    })
}

/// A password change with its confirmation; other sessions end, this browser stays signed in.
pub fn change_password(ctx: &WebContext<'_>, form: &Form) -> PageResult {
    action(ctx, form, |me| {
        let (current, new) = (form.text("current_password"), form.text("new_password"));
        if new != form.text("confirm_password") {
            let message = html::error("The new password and its confirmation differ.");
            return page(ctx, me, StatusCode::UNPROCESSABLE_ENTITY, &message, None);
        }
        let user = &me.subject.principal;
        match password_change::change_password(&ctx.state.auth, ctx.store(), user, current, new, ctx.ip) {
            Ok(()) => {
                let notice = html::notice(
                    "Your password is changed. Every other session has ended; app passwords keep working.",
                );
                stay_signed_in(ctx, me, |me| page(ctx, me, StatusCode::OK, &notice, None))
            }
            Err(e) => {
                let (status, retry_after) = match &e {
                    PasswordChangeError::WrongPassword => (StatusCode::FORBIDDEN, None),
                    PasswordChangeError::Throttled(secs) => (StatusCode::TOO_MANY_REQUESTS, Some(*secs)),
                    PasswordChangeError::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
                    PasswordChangeError::Hash(_) | PasswordChangeError::Store(_) => return Err(e.into()),
                };
                failure_page(ctx, me, status, retry_after, &e.to_string())
            }
        }
    })
}

/// After a change that ended all of the user's sessions: a new full session for this browser,
/// its cookie set on the page `render` makes with it.
fn stay_signed_in(
    ctx: &WebContext<'_>,
    me: &SignedIn,
    render: impl FnOnce(&SignedIn) -> PageResult,
) -> PageResult {
    let user_id = me.subject.principal.id;
    let new = session::start(ctx.store(), user_id, false, unix_now())?;
    let renewed = SignedIn {
        session: ActiveSession {
            id_hash: session::id_hash(&new.cookie_value),
            user_id,
            csrf_token: new.csrf_token.clone(),
            second_factor_pending: false,
        },
        subject: me.subject.clone(),
    };
    let (mut response, user) = render(&renewed)?;
    set_cookie(&mut response, &ctx.cookies.set(session::COOKIE_NAME, &new.cookie_value, new.max_age));
    Ok((response, user))
}

fn two_factor_failure(ctx: &WebContext<'_>, me: &SignedIn, e: TwoFactorError) -> PageResult {
    let (status, retry_after) = match &e {
        TwoFactorError::WrongPassword | TwoFactorError::WrongCode => (StatusCode::FORBIDDEN, None),
        TwoFactorError::Throttled(secs) => (StatusCode::TOO_MANY_REQUESTS, Some(*secs)),
        TwoFactorError::AlreadyOn | TwoFactorError::NotOn | TwoFactorError::NoEnrollment => {
            (StatusCode::CONFLICT, None)
        }
        TwoFactorError::Random(_) | TwoFactorError::Store(_) => return Err(e.into()),
    };
    failure_page(ctx, me, status, retry_after, &e.to_string())
}

/// The account page with `message` as an error above it; a throttled attempt says when to
/// try again in `Retry-After` too (RFC 6585 §4), as the login page does.
fn failure_page(
    ctx: &WebContext<'_>,
    me: &SignedIn,
    status: StatusCode,
    retry_after: Option<u64>,
    message: &str,
) -> PageResult {
    let (mut response, user) = page(ctx, me, status, &html::error(&capitalized(message)), None)?;
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok((response, user))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// The whole account page with `top` (HTML) above it; `enrollment` is one just started.
fn page(
    ctx: &WebContext<'_>,
    me: &SignedIn,
    status: StatusCode,
    top: &str,
    enrollment: Option<&Enrollment>,
) -> PageResult {
    let user = &me.subject.principal;
    let csrf = html::csrf_field(&me.session.csrf_token);
    let two_factor_on = two_factor::is_on(ctx.store(), user.id)?;
    let pending = match enrollment {
        Some(_) => None,
        None => two_factor::pending_enrollment(ctx.store(), user)?,
    };
    let body = format!(
        "<h1>Your account</h1><p>Signed in as <b>{name}</b>. \
         <form class=\"inline\" method=\"post\" action=\"{logout}\">{csrf}<button type=\"submit\">Log out\
         </button></form></p>{top}\
         <h2>Connect a calendar or contacts app</h2>\
         <p>Server address: <code>{server}</code><br>Username: <code>{name}</code><br>Password: {password}</p>\
         <h2>App passwords</h2>{passwords}\
         <h2>Two-factor login</h2>{two_factor}\
         <h2>Password</h2>{password_form}",
        name = escape(&user.slug),
        logout = escape(&ctx.url("/logout")),
        server = escape(&crate::api::server_url(&ctx.state.config)),
        password = if two_factor_on {
            "an app password (your account password works only here, with a code)"
        } else {
            "an app password (recommended: one per device, revocable) or your account password"
        },
        passwords = app_passwords_section(ctx, me, &csrf)?,
        two_factor = two_factor_section(ctx, me, &csrf, two_factor_on, enrollment.or(pending.as_ref()))?,
        password_form = password_section(ctx, &csrf),
    );
    Ok((html::response(status, html::page("Your account", &body)), Some(user.slug.clone())))
}

fn app_passwords_section(ctx: &WebContext<'_>, me: &SignedIn, csrf: &str) -> anyhow::Result<String> {
    let store = ctx.store();
    let mut rows = String::new();
    for p in store.app_passwords(me.subject.principal.id)? {
        let revoke = format!(
            "<form class=\"inline\" method=\"post\" action=\"{}\">{csrf}\
             <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\">Revoke</button></form>",
            escape(&ctx.url("/account/app-passwords/revoke")),
            p.id
        );
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
            escape(&p.label),
            escape(&describe_scope(ctx, &p.scope)?),
            html::time(p.created_at),
            p.last_used_at.map(html::time).unwrap_or_else(|| "never".into()),
            escape(p.last_user_agent.as_deref().unwrap_or("-")),
            escape(p.last_ip.as_deref().unwrap_or("-")),
        ));
    }
    let table = if rows.is_empty() {
        "<p>No app passwords yet.</p>".to_owned()
    } else {
        format!(
            "<table><tr><th>Label</th><th>Access</th><th>Created</th><th>Last used</th><th>Last client</th>\
             <th>Address</th><th></th></tr>{rows}</table>"
        )
    };
    Ok(format!(
        "{table}<form method=\"post\" action=\"{action}\">{csrf}\
         <label>Label (e.g. “Phone – DAVx5”)<br><input type=\"text\" name=\"label\" required maxlength=\"100\">\
         </label><label><input type=\"checkbox\" name=\"read_only\"> Read-only</label>\
         <label>Only these calendars or address books (OWNER/NAME, comma-separated; empty = all)<br>\
         <input type=\"text\" name=\"collections\"></label>\
         <p><button type=\"submit\">Create app password</button></p></form>",
        action = escape(&ctx.url("/account/app-passwords")),
    ))
}

fn describe_scope(ctx: &WebContext<'_>, scope: &AppPasswordScope) -> anyhow::Result<String> {
    let access = if scope.read_only { "read-only" } else { "read-write" };
    let Some(ids) = &scope.collections else { return Ok(format!("{access}, everything")) };
    let mut names = Vec::new();
    for id in ids {
        if let Some(name) = app_password::collection_name(ctx.store(), *id)? {
            names.push(name);
        }
    }
    Ok(format!("{access}, {}", names.join(", ")))
}

fn two_factor_section(
    ctx: &WebContext<'_>,
    me: &SignedIn,
    csrf: &str,
    on: bool,
    enrollment: Option<&Enrollment>,
) -> anyhow::Result<String> {
    if on {
        let left = ctx.store().recovery_codes_left(me.subject.principal.id)?;
        return Ok(format!(
            "<p>On: logging in here asks for a code from your authenticator app. {left} recovery codes \
             left.</p><form method=\"post\" action=\"{action}\">{csrf}\
             <label>Password<br><input type=\"password\" name=\"password\" autocomplete=\"current-password\" \
             required></label><label>Code from your app, or a recovery code<br><input type=\"text\" \
             name=\"code\" autocomplete=\"one-time-code\" required></label>\
             <p><button type=\"submit\">Turn two-factor login off</button></p></form>",
            action = escape(&ctx.url("/account/two-factor/disable")),
        ));
    }
    if let Some(e) = enrollment {
        return Ok(format!(
            "<p>Scan this code with your authenticator app, or type the key in, then enter the code the app \
             shows.</p><div>{qr}</div><p>Key: <span class=\"secret\">{key}</span></p>\
             <form method=\"post\" action=\"{action}\">{csrf}<label>Code from your app<br><input type=\"text\" \
             name=\"code\" autocomplete=\"one-time-code\" required></label>\
             <p><button type=\"submit\">Turn two-factor login on</button></p></form>",
            // Made by the qrcode crate from our own URI: markup we produced, not user input.
            qr = e.qr_svg,
            key = escape(&e.secret_base32),
            action = escape(&ctx.url("/account/two-factor/confirm")),
        ));
    }
    Ok(format!(
        "<p>Off. With it on, logging in here also asks for a code from an authenticator app, and sync \
         clients need app passwords.</p><form method=\"post\" action=\"{action}\">{csrf}\
         <label>Password<br><input type=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required></label><p><button type=\"submit\">Set up two-factor login</button></p></form>",
        action = escape(&ctx.url("/account/two-factor/enroll")),
    ))
}

fn password_section(ctx: &WebContext<'_>, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">{csrf}\
         <label>Current password<br><input type=\"password\" name=\"current_password\" \
         autocomplete=\"current-password\" required></label>\
         <label>New password (at least {MIN_PASSWORD_CHARS} characters)<br><input type=\"password\" \
         name=\"new_password\" autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_CHARS}\" required></label>\
         <label>New password again<br><input type=\"password\" name=\"confirm_password\" \
         autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_CHARS}\" required></label>\
         <p><button type=\"submit\">Change password</button></p></form>\
         <p>Changing it ends your other sessions here; app passwords keep working.</p>",
        action = escape(&ctx.url("/account/password")),
    )
}

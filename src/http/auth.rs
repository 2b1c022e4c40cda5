//! HTTP Basic authentication → `acl::Subject`. argon2 and store look-ups are blocking work,
//! so they run on the blocking pool. The Authorization header is never logged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::acl::Subject;
use crate::auth::app_password::looks_like_app_password;
use crate::auth::{AuthOutcome, BasicCredentials, Credential, StoredCredentials, parse_basic};
use crate::state::AppState;
use crate::store::{AppPasswordScope, AppPasswordSecret, LoginRecord, Store};

pub enum Refusal {
    /// 401 with a challenge (Apple and DAVx5 send a first request without credentials).
    Challenge,
    /// 429: too many recent failures for this login or address.
    Throttled(u64),
    /// 401: the main password of a user with two-factor login on, which only the web login
    /// (that asks for the code) accepts; sync clients need an app password.
    UseAppPassword,
    Internal,
}

pub async fn authenticate(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Subject, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Err(Refusal::Challenge) };
    let Some(creds) = parse_basic(value.as_bytes()) else { return Err(Refusal::Challenge) };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let state = state.clone();
    tokio::task::spawn_blocking(move || verify(&state, &creds, ip, user_agent.as_deref()))
        .await
        .unwrap_or(Err(Refusal::Internal))
}

/// `authenticate` on the calling thread, which must be allowed to block (argon2 on a cache
/// miss): for a request handled on the blocking pool as a whole.
pub fn authenticate_blocking(state: &AppState, headers: &HeaderMap, ip: IpAddr) -> Result<Subject, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Err(Refusal::Challenge) };
    let Some(creds) = parse_basic(value.as_bytes()) else { return Err(Refusal::Challenge) };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    verify(state, &creds, ip, user_agent)
}

fn verify(
    state: &AppState,
    creds: &BasicCredentials,
    ip: IpAddr,
    user_agent: Option<&str>,
) -> Result<Subject, Refusal> {
    let store = state.store.as_ref();
    let mut app_passwords: Vec<AppPasswordSecret> = Vec::new();
    let mut record: Option<LoginRecord> = None;
    // Only a password of the app-password form can be one: the others never need the list.
    let may_be_app_password = looks_like_app_password(&creds.password);
    let outcome = state.auth.authenticate(
        creds,
        ip,
        |login| {
            // One read, on every request, never cached: revoking an app password, turning
            // two-factor login on, a role change or the removal of a member take effect at once.
            // If the read fails, the login is refused as unknown.
            let (found, secrets) =
                store.login_with_app_passwords(login, may_be_app_password).ok().flatten()?;
            app_passwords = secrets;
            let stored = StoredCredentials {
                user_id: found.credentials.user_id,
                password_hash: found.credentials.password_hash.clone(),
                app_passwords: app_passwords.iter().map(|p| (p.id, p.secret_hash.clone())).collect(),
                main_password_allowed: !found.two_factor_on,
            };
            record = Some(found);
            Some(stored)
        },
        Instant::now(),
    );
    let subject = |user_id: i64, scope| match record {
        Some(r) if r.credentials.user_id == user_id => Ok(subject_from(r, scope)),
        _ => Err(Refusal::Internal),
    };
    match outcome {
        AuthOutcome::Authenticated { user_id, credential: Credential::Password } => subject(user_id, None),
        AuthOutcome::Authenticated { user_id, credential: Credential::AppPassword(id) } => {
            if state.auth.should_record_use(id, Instant::now())
                && let Err(e) = store.record_app_password_use(id, user_agent, &ip.to_string())
            {
                tracing::warn!(error = %e, "could not record app password use");
            }
            let scope = app_passwords.into_iter().find(|p| p.id == id).map(|p| p.scope).unwrap_or_default();
            subject(user_id, Some(scope))
        }
        AuthOutcome::Rejected => Err(Refusal::Challenge),
        AuthOutcome::SecondFactorRequired { .. } => Err(Refusal::UseAppPassword),
        AuthOutcome::Throttled { retry_after } => Err(Refusal::Throttled(retry_after.as_secs().max(1))),
    }
}

fn subject_from(record: LoginRecord, scope: Option<AppPasswordScope>) -> Subject {
    let (organization, role) = match record.membership {
        Some((org, role)) => (Some(org), Some(role)),
        None => (None, None),
    };
    Subject { principal: record.principal, organization, role, scope }
}

pub(crate) fn subject_of(
    store: &dyn Store,
    user_id: i64,
    scope: Option<AppPasswordScope>,
) -> Result<Subject, Refusal> {
    let principal =
        store.principal_by_id(user_id).map_err(|_| Refusal::Internal)?.ok_or(Refusal::Challenge)?;
    let (organization, role) = match store.role_of(user_id).map_err(|_| Refusal::Internal)? {
        Some((org, role)) => (Some(org), Some(role)),
        None => (None, None),
    };
    Ok(Subject { principal, organization, role, scope })
}

pub fn refusal_response(state: &AppState, refusal: Refusal) -> http::Response<Vec<u8>> {
    let (status, message, header_value) = match refusal {
        Refusal::Challenge => (
            StatusCode::UNAUTHORIZED,
            "authentication required\n".to_owned(),
            Some((
                header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{}\", charset=\"UTF-8\"", state.config.realm),
            )),
        ),
        Refusal::Throttled(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins; retry in {secs} seconds\n"),
            Some((header::RETRY_AFTER, secs.to_string())),
        ),
        Refusal::UseAppPassword => (
            StatusCode::UNAUTHORIZED,
            format!("{}\n", use_app_password_message(state)),
            Some((
                header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{}\", charset=\"UTF-8\"", state.config.realm),
            )),
        ),
        Refusal::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".to_owned(), None),
    };
    let mut r = http::Response::new(message.into_bytes());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if let Some((name, value)) = header_value
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        r.headers_mut().insert(name, v);
    }
    r
}

/// What a sync client shows when its user turned two-factor login on and still uses the main
/// password: where to get an app password.
pub fn use_app_password_message(state: &AppState) -> String {
    format!(
        "two-factor login is on for this account: use an app password for sync clients \
         (create one at {}{}/web/account)",
        state.config.public_base(),
        state.config.base_path
    )
}

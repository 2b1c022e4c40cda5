//! HTTP Basic authentication → `acl::Subject`. argon2 and store look-ups are blocking work,
//! so they run on the blocking pool. The Authorization header is never logged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::acl::Subject;
use crate::auth::{AuthOutcome, StoredCredentials, parse_basic};
use crate::state::AppState;

pub enum Refusal {
    /// 401 with a challenge (Apple and DAVx5 send a first request without credentials).
    Challenge,
    /// 429: too many recent failures for this login or address.
    Throttled(u64),
    Internal,
}

pub async fn authenticate(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Subject, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Challenge);
    };
    let Some(creds) = parse_basic(value.as_bytes()) else {
        return Err(Refusal::Challenge);
    };
    let state = state.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let store = state.store.clone();
        let outcome = state.auth.authenticate(
            &creds,
            ip,
            |login| {
                let found = store.login_credentials(login).ok().flatten();
                found.map(|c| StoredCredentials { user_id: c.user_id, password_hash: c.password_hash })
            },
            Instant::now(),
        );
        match outcome {
            AuthOutcome::Authenticated { user_id } => subject_of(&state, user_id),
            AuthOutcome::Rejected => Err(Refusal::Challenge),
            AuthOutcome::Throttled { retry_after } => Err(Refusal::Throttled(retry_after.as_secs().max(1))),
        }
    })
    .await;
    outcome.unwrap_or(Err(Refusal::Internal))
}

fn subject_of(state: &AppState, user_id: i64) -> Result<Subject, Refusal> {
    let store = state.store.as_ref();
    let principal =
        store.principal_by_id(user_id).map_err(|_| Refusal::Internal)?.ok_or(Refusal::Challenge)?;
    let (organization, role) = match store.role_of(user_id).map_err(|_| Refusal::Internal)? {
        Some((org, role)) => (Some(org), Some(role)),
        None => (None, None),
    };
    Ok(Subject { principal, organization, role })
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

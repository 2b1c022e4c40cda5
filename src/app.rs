//! Building the application: open the store, bootstrap the first start, assemble `AppState`.
//! `main` and the tests both go through here.

use std::sync::Arc;

use crate::auth::{self, AuthError};
use crate::config::Config;
use crate::state::AppState;
use crate::store::sqlite::SqliteStore;
use crate::store::{Collection, HomeKind, NewUser, Role, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Invalid(String),
}

/// The owner account created on the very first start; its password is shown once.
pub struct FirstStart {
    pub organization: String,
    pub username: String,
    pub password: String,
}

pub fn open_store(config: &Config) -> Result<Arc<SqliteStore>, AppError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| AppError::DataDir { path: config.data_dir.display().to_string(), source })?;
    Ok(Arc::new(SqliteStore::open(&config.database_path())?))
}

/// What `build` assembles: the shared state, the store (for a clean shutdown) and, on the
/// very first start, the generated owner account.
pub struct App {
    pub state: Arc<AppState>,
    pub store: Arc<SqliteStore>,
    pub first_start: Option<FirstStart>,
}

/// Opens everything the server needs. On a database without users, creates the initial
/// organization and its owner with a generated password.
pub fn build(mut config: Config) -> Result<App, AppError> {
    config.validate().map_err(|e| AppError::Invalid(e.to_string()))?;
    let store = open_store(&config)?;
    let first_start = bootstrap(store.as_ref(), &config)?;
    spawn_backfill(store.clone());
    let state = Arc::new(AppState::new(config, store.clone()));
    Ok(App { state, store, first_start })
}

/// Calendar objects stored before the instance lists existed get theirs in the background
/// (a query answers them exactly meanwhile); a no-op read once they all have one.
fn spawn_backfill(store: Arc<SqliteStore>) {
    let run = move || match crate::caldav::backfill::backfill_instance_lists(store.as_ref()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "computed the calendar-query instance lists of older objects"),
        Err(e) => tracing::warn!(error = %e, "computing instance lists of older objects failed"),
    };
    if let Err(e) = std::thread::Builder::new().name("instance-backfill".into()).spawn(run) {
        tracing::warn!(error = %e, "cannot start the instance list back-fill");
    }
}

fn bootstrap(store: &dyn Store, config: &Config) -> Result<Option<FirstStart>, AppError> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let org_id = organization_for(store, None, &config.initial_organization)?.0;
    let password = auth::generate_password()?;
    store.create_user(&NewUser {
        slug: config.initial_owner.clone(),
        display_name: config.initial_owner.clone(),
        email: None,
        password_hash: auth::hash_password(&password)?,
        org_id,
        role: Role::Owner,
    })?;
    Ok(Some(FirstStart {
        organization: config.initial_organization.clone(),
        username: config.initial_owner.clone(),
        password,
    }))
}

/// The organization a new user joins: the named one (created if new), else the first one,
/// else a new one named `fallback`. Returns its id and whether it was just created.
pub fn organization_for(
    store: &dyn Store,
    name: Option<&str>,
    fallback: &str,
) -> Result<(i64, bool), AppError> {
    if let Some(name) = name {
        return match store.organization_by_name(name)? {
            Some(org) => Ok((org.id, false)),
            None => Ok((store.create_organization(name)?, true)),
        };
    }
    match store.organizations()?.first() {
        Some(org) => Ok((org.id, false)),
        None => Ok((store.create_organization(fallback)?, true)),
    }
}

/// The calendar or address book named `OWNER/NAME` (NAME is the last path segment of the
/// collection: `alice/calendar`, `alice/contacts`), searched in the calendar home first.
pub fn collection_by_spec(store: &dyn Store, spec: &str) -> Result<Collection, AppError> {
    let invalid = || AppError::Invalid(format!("{spec:?} is not OWNER/COLLECTION (e.g. alice/calendar)"));
    let (owner, name) = spec.trim_matches('/').split_once('/').ok_or_else(invalid)?;
    let principal =
        store.principal_by_slug(owner)?.ok_or_else(|| AppError::Invalid(format!("no user {owner:?}")))?;
    for kind in [HomeKind::Calendar, HomeKind::Addressbook] {
        if let Some(home) = store.home(principal.id, kind)?
            && let Some(coll) = store.child_collection(home.id, name)?
        {
            return Ok(coll);
        }
    }
    Err(AppError::Invalid(format!("{owner} has no calendar or address book named {name:?}")))
}

/// Usernames become URL segments and logins: keep them to a safe, unambiguous alphabet.
pub fn validate_username(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "invalid username {name:?}: use 1–64 letters, digits, '.', '_', '-' or '@', not starting with '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_owner_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().into(), ..Config::default() };
        let App { store, first_start, .. } = build(config.clone()).unwrap();
        let first = first_start.expect("first start creates the owner");
        assert_eq!(first.username, "admin");
        let users = store.users().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].role, Role::Owner);
        let creds = store.login_credentials("admin").unwrap().unwrap();
        assert!(auth::verify_password(&creds.password_hash, &first.password));
        drop(store);
        let again = build(config).unwrap();
        assert!(again.first_start.is_none(), "the password is generated and shown only once");
    }

    #[test]
    fn usernames() {
        for good in ["alice", "bob.smith", "a_b-c", "x@example.org"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", "../x", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }
}

//! Per-device app passwords: long random secrets, shown once, stored only as a SHA-256 hash.
//!
//! A fast hash is enough here, unlike for main passwords: a secret of 150 random bits cannot
//! be guessed or brute-forced from its hash, so a slow KDF would only cost every sync request
//! an argon2 run without making anything safer.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AuthError;
use super::password::grouped_random;

/// Lower-case letters and digits without look-alikes (no 0/o, 1/l/i): easy to type on a phone.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const GROUPS: usize = 6;
const GROUP_LEN: usize = 5;

/// A new secret such as `k7mqz-ah3xp-…`: 30 characters in six groups (~148 bits).
pub fn generate() -> Result<String, AuthError> {
    grouped_random(ALPHABET, GROUPS, GROUP_LEN)
}

/// The stored form. Dashes, spaces and case are ignored, so a secret typed with or without
/// its grouping matches.
pub fn hash(secret: &str) -> String {
    let normalized: String =
        secret.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_lowercase()).collect();
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// Whether `presented` (already hashed) equals `stored`, compared in constant time.
pub fn matches(presented_hash: &str, stored_hash: &str) -> bool {
    presented_hash.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Whether a presented password could be an app password at all (cheap pre-check).
pub fn looks_like_app_password(password: &str) -> bool {
    let compact: Vec<char> = password.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    compact.len() == GROUPS * GROUP_LEN && compact.iter().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_grouped_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.len(), GROUPS);
        assert!(groups.iter().all(|g| g.len() == GROUP_LEN && g.bytes().all(|c| ALPHABET.contains(&c))));
        assert!(looks_like_app_password(&a));
    }

    #[test]
    fn hashing_ignores_grouping_and_case() {
        let secret = "abcde-fghjk-mnpqr-stuvw-xyz23-45678";
        let h = hash(secret);
        assert!(matches(&hash("ABCDEFGHJKMNPQRSTUVWXYZ2345678"), &h));
        assert!(matches(&hash("abcde fghjk mnpqr stuvw xyz23 45678"), &h));
        assert!(!matches(&hash("abcde-fghjk-mnpqr-stuvw-xyz23-45679"), &h));
        assert_eq!(h.len(), 64);
    }
}

/// Creates an app password for `user_id`; returns its id and the secret, which exists
/// nowhere else afterwards (only its hash is stored).
pub fn issue(
    store: &dyn crate::store::Store,
    user_id: i64,
    label: &str,
    scope: &crate::store::AppPasswordScope,
) -> Result<(i64, String), IssueError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(IssueError::Label);
    }
    let secret = generate()?;
    let id = store.create_app_password(user_id, label, &hash(&secret), scope)?;
    Ok((id, secret))
}

/// Most collections one app password can be limited to (a bound on what a request can ask).
pub const MAX_SCOPE_COLLECTIONS: usize = 100;

/// The scope a read-only flag and a list of `OWNER/NAME` collections describe (an empty list
/// means every collection). The CLI and the management API both build scopes here.
pub fn scope_from_names(
    store: &dyn crate::store::Store,
    read_only: bool,
    names: &[String],
) -> Result<crate::store::AppPasswordScope, IssueError> {
    if names.len() > MAX_SCOPE_COLLECTIONS {
        return Err(IssueError::TooManyCollections);
    }
    let collections = match names.is_empty() {
        true => None,
        false => Some(
            names
                .iter()
                .map(|name| match crate::app::collection_by_spec(store, name) {
                    Ok(c) => Ok(c.id),
                    Err(crate::app::AppError::Store(e)) => Err(IssueError::Store(e)),
                    Err(other) => Err(IssueError::Collection(other.to_string())),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(crate::store::AppPasswordScope { read_only, collections })
}

/// Like [`scope_from_names`], for a password `subject` makes for themselves: a collection they
/// cannot read is refused like a missing one. (Such a scope would be harmless, since a scope
/// only narrows, but accepting it would confirm that the collection exists.)
pub fn scope_for_subject(
    store: &dyn crate::store::Store,
    subject: &crate::acl::Subject,
    read_only: bool,
    names: &[String],
) -> Result<crate::store::AppPasswordScope, IssueError> {
    use crate::acl::{Privilege, effective_privileges};
    let scope = scope_from_names(store, read_only, names)?;
    for id in scope.collections.iter().flatten() {
        // Shared and organization collections count too: the ACL decides, with their facts.
        let readable = store.collection(*id)?.is_some_and(|c| {
            crate::org::target_for(store, subject, &c)
                .is_ok_and(|target| effective_privileges(subject, target).contains(Privilege::Read))
        });
        if !readable {
            return Err(IssueError::Collection("one of the collections does not exist".into()));
        }
    }
    Ok(scope)
}

/// The `OWNER/NAME` of a collection, as `scope_from_names` takes it; `None` once deleted.
pub fn collection_name(
    store: &dyn crate::store::Store,
    id: crate::store::Id,
) -> Result<Option<String>, crate::store::StoreError> {
    let Some(collection) = store.collection(id)? else { return Ok(None) };
    let Some(owner) = store.principal_by_id(collection.owner_id)? else { return Ok(None) };
    Ok(Some(format!("{}/{}", owner.slug, collection.segment)))
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a label of 1 to 100 printable characters is required (e.g. \"Phone – DAVx5\")")]
    Label,
    #[error("{0}")]
    Collection(String),
    #[error("an app password can be limited to at most {MAX_SCOPE_COLLECTIONS} collections")]
    TooManyCollections,
    #[error("{0}")]
    Random(#[from] AuthError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

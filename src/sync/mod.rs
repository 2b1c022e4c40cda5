//! Collection synchronisation (RFC 6578): tokens are URIs naming the collection and its
//! revision; changes come from the per-collection change log, so the cost is proportional
//! to the number of changes since the token, never to the collection's size.

use http::StatusCode;

use crate::dav::body::Propfind;
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::methods::describe_member;
use crate::dav::multistatus::{Multistatus, Response, ResponseBody};
use crate::dav::paths::Hrefs;
use crate::dav::report::SyncLevel;
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response};
use crate::store::Collection;

/// Upper bound on changes in one answer; more are paged with a 507 on the request-URI.
pub const MAX_CHANGES_PER_REPORT: usize = 5000;

const TOKEN_PREFIX: &str = "urn:x-davit:sync:";

pub fn token(coll: &Collection) -> String {
    token_at(coll, coll.rev)
}

fn token_at(coll: &Collection, rev: i64) -> String {
    format!("{TOKEN_PREFIX}{}:{rev}", coll.id)
}

/// The revision a token names, if it is a token of this collection that is still
/// answerable; `None` for garbage, another collection's token, a future or an expired one.
pub fn parse_token(token: &str, coll: &Collection) -> Option<i64> {
    let (id, rev) = token.strip_prefix(TOKEN_PREFIX)?.split_once(':')?;
    let rev: i64 = rev.parse().ok()?;
    (id.parse::<i64>().ok()? == coll.id && rev >= coll.sync_floor && rev <= coll.rev).then_some(rev)
}

pub fn sync_collection(
    ctx: &Ctx<'_>,
    res: &Resource,
    token: &str,
    level: SyncLevel,
    limit: Option<usize>,
    props: &Propfind,
) -> DavResult<DavResponse> {
    // RFC 6578 §3.2 asks for Depth 0; Thunderbird sends 1, which is accepted (CLIENTS.md §8).
    // Anything else is a client error.
    if ctx.headers.depth == Some(crate::dav::headers::Depth::Infinity) {
        return Err(DavError::bad_request(
            "sync-collection takes Depth 0 (or 1); use sync-level for the scope",
        ));
    }
    let Resource::Collection { coll, .. } = res else {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::SupportedReport,
            "sync-collection applies to collections",
        ));
    };
    // Calendars and address books hold no collections, so "infinite" equals "1" there.
    if level == SyncLevel::Infinite
        && !matches!(
            coll.kind,
            crate::store::CollectionKind::Calendar | crate::store::CollectionKind::Addressbook
        )
    {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            crate::dav::error::Condition::Other(crate::dav::names::DAV, "sync-traversal-supported"),
            "sync-level infinite is supported on calendars and address books only",
        ));
    }
    let initial = token.is_empty();
    let since = if initial {
        0
    } else {
        parse_token(token, coll).ok_or_else(|| {
            DavError::with(
                StatusCode::FORBIDDEN,
                Condition::ValidSyncToken,
                "the sync token is unknown, of another collection or expired; sync again from an empty token",
            )
        })?
    };
    let limit = limit.unwrap_or(MAX_CHANGES_PER_REPORT).min(MAX_CHANGES_PER_REPORT);
    let set = ctx.store().changes_since(coll.id, since, limit)?;
    let collection_href = res.href(ctx.hrefs());
    let mut ms = Multistatus::default();
    for change in &set.changes {
        let href =
            Hrefs::member(&collection_href, change.segment.trim_end_matches('/'), change.is_collection);
        let member = if change.deleted { None } else { describe_member(ctx, res, &change.segment, props)? };
        match member {
            Some(response) => ms.responses.push(response),
            // A removed member is a 404 (RFC 6578 §3.5.2); on an initial sync it is not listed.
            None if !initial => {
                ms.responses.push(Response { href, body: ResponseBody::Status(StatusCode::NOT_FOUND, None) })
            }
            None => {}
        }
    }
    let reached = if set.truncated { set.changes.last().map_or(since, |c| c.rev) } else { set.current_rev };
    if set.truncated {
        ms.responses.push(Response {
            href: collection_href,
            body: ResponseBody::Status(
                StatusCode::INSUFFICIENT_STORAGE,
                Some(Condition::NumberOfMatchesWithinLimits),
            ),
        });
    }
    ms.sync_token = Some(token_at(coll, reached));
    Ok(multistatus_response(ctx, &ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CollectionKind, CollectionProps};

    fn coll(id: i64, rev: i64, floor: i64) -> Collection {
        Collection {
            id,
            owner_id: 1,
            parent_id: Some(1),
            kind: CollectionKind::Calendar,
            segment: "c".into(),
            props: CollectionProps::default(),
            rev,
            sync_floor: floor,
            created_at: 0,
            modified_at: 0,
        }
    }

    #[test]
    fn tokens_are_uris_of_one_collection() {
        let c = coll(7, 12, 3);
        let t = token(&c);
        assert!(t.contains(':'), "Evolution treats tokens without ':' as ctags");
        assert_eq!(parse_token(&t, &c), Some(12));
        assert_eq!(parse_token("urn:x-davit:sync:7:5", &c), Some(5));
        assert_eq!(parse_token("urn:x-davit:sync:8:5", &c), None, "another collection");
        assert_eq!(parse_token("urn:x-davit:sync:7:2", &c), None, "expired");
        assert_eq!(parse_token("urn:x-davit:sync:7:13", &c), None, "from the future");
        assert_eq!(parse_token("garbage", &c), None);
        assert_eq!(parse_token("urn:x-davit:sync:7:", &c), None, "truncated");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A token names its collection and revision: it parses back to that revision
            /// exactly while the revision is answerable, and never for another collection.
            #[test]
            fn tokens_parse_back_within_the_answerable_window(
                id in 2i64..i64::MAX,
                floor in 0i64..1_000_000,
                span in 0i64..1_000_000,
                at in 0i64..3_000_000,
            ) {
                let c = coll(id, floor + span, floor);
                let t = token_at(&c, at);
                let answerable = (floor..=floor + span).contains(&at);
                prop_assert_eq!(parse_token(&t, &c), answerable.then_some(at));
                prop_assert_eq!(parse_token(&token(&c), &c), Some(c.rev));
                let other = coll(id - 1, c.rev, floor);
                prop_assert_eq!(parse_token(&t, &other), None);
            }

            /// Anything a client sends as a token parses to a revision only when it has the
            /// token's exact shape.
            #[test]
            fn garbage_tokens_are_refused(text in any::<String>(), rev in 0i64..100) {
                let c = coll(7, 100, 0);
                let parsed = parse_token(&text, &c);
                if let Some(r) = parsed {
                    prop_assert!(text.starts_with(TOKEN_PREFIX) && (0..=100).contains(&r));
                }
                let garbled = format!("{}x{text}", token_at(&c, rev));
                prop_assert_eq!(parse_token(&garbled, &c), None);
            }
        }
    }
}

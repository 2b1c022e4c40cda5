//! The last rendered body of each public feed, by entity tag.
//!
//! Rendering parses and re-serialises every event (privacy rules), ~0.5 s for 10,000 events,
//! while subscribers (Google Calendar, Outlook, phones) fetch the same unchanged feed over and
//! over, many without `If-None-Match`. The entity tag already names exactly what the bytes
//! depend on (collection revision, names, settings, format version), so a body rendered for
//! a tag can be served again for that tag. Bounded: a feed above `MAX_ONE` bytes is not kept,
//! and all kept bodies together stay under `MAX_TOTAL`, oldest dropped first.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::store::Id;

const MAX_ONE: usize = 8 << 20;
const MAX_TOTAL: usize = 16 << 20;

/// Which feed body: one per collection and content coding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedKey {
    pub collection: Id,
    pub gzip: bool,
    pub tag: String,
}

#[derive(Default)]
pub struct RenderedFeeds {
    kept: Mutex<VecDeque<(FeedKey, Bytes)>>,
}

impl RenderedFeeds {
    /// The body rendered for exactly this key. A body kept for an older tag of the same feed
    /// is dropped: it will never be served again.
    pub fn get(&self, key: &FeedKey) -> Option<Bytes> {
        let mut kept = self.lock();
        let found = kept.iter().find(|(k, _)| k == key).map(|(_, b)| b.clone());
        if found.is_none() {
            kept.retain(|(k, _)| !(k.collection == key.collection && k.gzip == key.gzip));
        }
        found
    }

    pub fn put(&self, key: FeedKey, body: Bytes) {
        if body.len() > MAX_ONE {
            return;
        }
        let mut kept = self.lock();
        kept.retain(|(k, _)| !(k.collection == key.collection && k.gzip == key.gzip));
        kept.push_back((key, body));
        while kept.iter().map(|(_, b)| b.len()).sum::<usize>() > MAX_TOTAL {
            kept.pop_front();
        }
    }

    /// Whether a body of `len` bytes so far may still be kept (renderers stop recording past it).
    pub fn may_keep(len: usize) -> bool {
        len <= MAX_ONE
    }

    /// A cache loses nothing that matters if a panic left it half updated.
    fn lock(&self) -> MutexGuard<'_, VecDeque<(FeedKey, Bytes)>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(collection: Id, gzip: bool, tag: &str) -> FeedKey {
        FeedKey { collection, gzip, tag: tag.into() }
    }

    #[test]
    fn serves_only_the_tag_it_was_rendered_for() {
        let feeds = RenderedFeeds::default();
        feeds.put(key(1, false, "a"), Bytes::from_static(b"A"));
        feeds.put(key(1, true, "a"), Bytes::from_static(b"gz"));
        assert_eq!(feeds.get(&key(1, false, "a")).as_deref(), Some(&b"A"[..]));
        assert_eq!(feeds.get(&key(1, true, "a")).as_deref(), Some(&b"gz"[..]));
        assert_eq!(feeds.get(&key(2, false, "a")), None);
        // A new tag for the feed: the old body is dropped, the other coding's is not.
        assert_eq!(feeds.get(&key(1, false, "b")), None);
        assert_eq!(feeds.get(&key(1, false, "a")), None);
        assert!(feeds.get(&key(1, true, "a")).is_some());
    }

    #[test]
    fn stays_within_its_bounds() {
        let feeds = RenderedFeeds::default();
        feeds.put(key(1, false, "big"), Bytes::from(vec![0; MAX_ONE + 1]));
        assert_eq!(feeds.get(&key(1, false, "big")), None, "too big to keep");
        for id in 0..4 {
            feeds.put(key(id, false, "t"), Bytes::from(vec![0; MAX_ONE / 2 + 1]));
        }
        assert_eq!(feeds.get(&key(0, false, "t")), None, "the oldest went first");
        assert!(feeds.get(&key(3, false, "t")).is_some());
        assert!(feeds.lock().iter().map(|(_, b)| b.len()).sum::<usize>() <= MAX_TOTAL);
    }
}

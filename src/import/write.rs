//! Writes parsed items into the collection the way PUT does: the same validation and index
//! (`validate_member`'s checks), one `put_object` per item (its own transaction, revision
//! bump and change-log entry, so sync-collection reports the imports), and a compare-and-swap
//! on the ETag when an item replaces an existing one.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{Entry, ImportResult, Outcome, Parsed, Report};
use crate::store::{Collection, CollectionKind, Expect, Member, ObjectMeta, PutObject, Store, StoreError};

/// The largest single item, as PUT's `max-resource-size`.
const MAX_ITEM_BYTES: usize = crate::dav::props::MAX_RESOURCE_SIZE as usize;

pub fn apply(
    store: &dyn Store,
    collection: &Collection,
    path: &str,
    created: bool,
    parsed: Parsed,
) -> ImportResult<Report> {
    let mut report = Report::new(path, created, parsed.format);
    let mut by_uid: HashMap<String, ObjectMeta> = HashMap::new();
    let mut segments = std::collections::HashSet::new();
    for member in store.members(collection.id)? {
        if let Member::Object(meta) = member {
            segments.insert(meta.segment.clone());
            if let Some(uid) = meta.uid.clone() {
                by_uid.insert(uid, meta);
            }
        }
    }
    // UID → line of the item that wrote it in this run: a repeated UID is a duplicate in
    // the file, not an update.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut entries: Vec<Entry> = parsed.skipped;
    for item in parsed.items {
        let entry =
            write_one(store, collection, &item.body, item.line, &mut by_uid, &mut segments, &mut seen)?;
        entries.push(entry);
    }
    entries.sort_by_key(|e| e.line);
    for e in entries {
        report.push(e);
    }
    Ok(report)
}

fn write_one(
    store: &dyn Store,
    collection: &Collection,
    body: &[u8],
    line: usize,
    by_uid: &mut HashMap<String, ObjectMeta>,
    segments: &mut std::collections::HashSet<String>,
    seen: &mut HashMap<String, usize>,
) -> ImportResult<Entry> {
    if body.len() > MAX_ITEM_BYTES {
        return Ok(Entry::skipped(line, format!("larger than {MAX_ITEM_BYTES} bytes")));
    }
    let index = match validate(collection, body) {
        Ok(index) => index,
        Err(reason) => return Ok(Entry::skipped(line, reason)),
    };
    let Some(uid) = index.uid.clone() else { return Ok(Entry::skipped(line, "no UID")) };
    let entry = |outcome, reason: Option<String>| Entry { line, uid: Some(uid.clone()), outcome, reason };
    if let Some(first) = seen.get(&uid) {
        return Ok(entry(Outcome::Skipped, Some(format!("same UID as the entry at line {first}"))));
    }
    seen.insert(uid.clone(), line);
    let (segment, expect, outcome) = match by_uid.get(&uid) {
        Some(meta) => {
            if store.object_body(meta.id)?.as_deref() == Some(body) {
                return Ok(entry(Outcome::Unchanged, None));
            }
            (meta.segment.clone(), Expect::Etag(meta.etag.clone()), Outcome::Updated)
        }
        None => (new_segment(&uid, collection.kind, segments), Expect::Absent, Outcome::Created),
    };
    let content_type = match collection.kind {
        CollectionKind::Calendar => "text/calendar; charset=utf-8",
        _ => "text/vcard; charset=utf-8",
    };
    let put =
        PutObject { collection_id: collection.id, segment: &segment, body, content_type, expect, index };
    match store.put_object(&put) {
        Ok(_) => {
            segments.insert(segment);
            Ok(entry(outcome, None))
        }
        // Someone changed the collection meanwhile, or the UID is held under another name:
        // this item is skipped, the rest go on.
        Err(
            e @ (StoreError::PreconditionFailed | StoreError::UidConflict { .. } | StoreError::AlreadyExists),
        ) => Ok(entry(Outcome::Skipped, Some(format!("not stored: {e}")))),
        Err(e) => Err(e.into()),
    }
}

/// PUT's own checks for a member of this collection; the message says what is wrong.
fn validate(collection: &Collection, body: &[u8]) -> Result<crate::store::ObjectIndex, String> {
    let result = match collection.kind {
        CollectionKind::Calendar => crate::caldav::validate_put::validate(collection, body),
        _ => crate::carddav::validate_put::validate(body),
    };
    result.map_err(|e| e.message.into_owned())
}

/// The member name: the UID when it is a safe URL segment (as clients name them), else a
/// hash of it; never one already taken.
fn new_segment(uid: &str, kind: CollectionKind, taken: &std::collections::HashSet<String>) -> String {
    let ext = if kind == CollectionKind::Calendar { "ics" } else { "vcf" };
    let safe = uid.len() <= 100
        && !uid.starts_with('.')
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    let hashed = || {
        let digest = Sha256::digest(uid.as_bytes());
        hex::encode(&digest[..16])
    };
    let base = if safe { uid.to_owned() } else { hashed() };
    let mut candidate = format!("{base}.{ext}");
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}-{n}.{ext}");
        n += 1;
    }
    candidate
}

//! Importing whole files into one address book or calendar: vCard and CSV contacts, iCalendar
//! events, tasks and journal entries (PRODUCT.md "Importing contacts", and the Outlook on
//! macOS script that re-imports an Exchange calendar on a schedule).
//!
//! One code path for every front end (`davit import`, `POST /api/v1/…/import`): [`contacts`]
//! and [`calendar`] check the limits, resolve (or create) the collection and authorize the
//! actor with the ACL, read the file into items, and write each item the way PUT does (the
//! same validation, index, revision bump and change log), so sync clients see the imports.
//!
//! Importing is idempotent: items are matched by UID, and CSV rows, which have none, get one
//! derived from their content (see `csv::contact::stable_uid`). A bad item never aborts the
//! import; it is reported with its line and the reason.

pub mod csv;
pub mod ics;
pub mod limits;
pub mod report;
mod target;
pub mod vcf;
mod write;

pub use report::{Entry, Outcome, Report};

use crate::org::Actor;
use crate::store::{CollectionKind, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// 413: the file is over a limit; nothing was imported.
    #[error("{0}")]
    TooLarge(String),
    /// 404: no such collection (and not asked to create it).
    #[error("{0}")]
    NotFound(String),
    /// 403: the actor may not write to (or create) the collection.
    #[error("{0}")]
    Forbidden(String),
    /// 400/409: the request makes no sense (a calendar named as address book, a bad name…).
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

pub type ImportResult<T> = Result<T, ImportError>;

/// One thing to store, before validation: where it starts in the file and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: usize,
    pub body: Vec<u8>,
}

/// A file read into items, plus what could not be read, and how the file was understood.
#[derive(Debug, Default)]
pub struct Parsed {
    /// e.g. `vCard`, `CSV (Outlook, windows-1252)`, `iCalendar`.
    pub format: String,
    pub items: Vec<Item>,
    pub skipped: Vec<Entry>,
}

/// Imports a vCard or CSV file into the address book `OWNER/NAME` (created for its owner
/// when `create` is set and it does not exist).
pub fn contacts(
    store: &dyn Store,
    actor: Actor<'_>,
    path: &str,
    data: &[u8],
    create: bool,
) -> ImportResult<Report> {
    import_into(store, actor, path, data, create, CollectionKind::Addressbook, read_contacts)
}

/// Imports an iCalendar file into the calendar `OWNER/NAME` (created when `create` is set).
pub fn calendar(
    store: &dyn Store,
    actor: Actor<'_>,
    path: &str,
    data: &[u8],
    create: bool,
) -> ImportResult<Report> {
    import_into(store, actor, path, data, create, CollectionKind::Calendar, ics::split)
}

/// The one path of both imports: limits, then the target (authorised, maybe created), then
/// the file read by `read` and written item by item.
fn import_into(
    store: &dyn Store,
    actor: Actor<'_>,
    path: &str,
    data: &[u8],
    create: bool,
    kind: CollectionKind,
    read: fn(&[u8]) -> Parsed,
) -> ImportResult<Report> {
    limits::check(data)?;
    let (collection, created) = target::resolve(store, actor, path, kind, create)?;
    write::apply(store, &collection, path, created, read(data))
}

/// A contacts file is vCard when its first non-blank text is `BEGIN:VCARD`, else CSV: the
/// file name or Content-Type is not trusted (exports are often named `.txt`).
pub fn read_contacts(data: &[u8]) -> Parsed {
    let text = csv::encoding::decode(data).text;
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if start.get(..11).is_some_and(|h| h.eq_ignore_ascii_case("BEGIN:VCARD")) {
        vcf::split(data)
    } else {
        csv::read(data)
    }
}

/// A UID derived from content, for items that come without one: the same content gives the
/// same UID, so importing the file again finds the item instead of duplicating it.
pub(crate) fn content_uid(prefix: &str, content: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(content.as_bytes());
    let hex = hex::encode(&digest[..16]);
    format!("{prefix}-{hex}")
}

/// The property name of an unfolded content line (`item1.EMAIL;TYPE=work:…` → `EMAIL`),
/// upper-cased.
pub(crate) fn property_name(line: &str) -> String {
    let head = line.split([';', ':']).next().unwrap_or("");
    head.rsplit('.').next().unwrap_or(head).trim().to_ascii_uppercase()
}

#[cfg(test)]
mod tests;

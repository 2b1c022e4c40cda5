//! davit's only door to vCard: parsing, validation, indexing and 3.0 ↔ 4.0 conversion.
//!
//! Everything else in davit calls these functions and never touches `calcard` directly, so the
//! crate's known defects (DEPENDENCIES.md §2–3) are worked around in one place:
//!
//! * calcard's lenient parser silently drops junk lines, closes unterminated cards and reads
//!   only the first of several cards. [`parse`] lexes the body itself first (unfolding by octets,
//!   RFC 6350 §3.2) and rejects all of that, plus the RFC 6352 §5.1 / RFC 6350 / RFC 2426
//!   requirements calcard does not check (one card, VERSION, FN, UID).
//! * calcard's writer escapes the comma of `data:` URIs, adds `CHARSET=UTF-8` to 3.0 output,
//!   keeps 4.0-only properties in 3.0 output and maps none of Apple's group extensions.
//!   [`convert`] post-processes its output content line by content line.
//!
//! The stored bytes stay the client's own (DEPENDENCIES.md §3.5); [`convert`] is only for
//! RFC 6352 §5.1.1 content negotiation.

mod convert;
mod fold_table;
mod index;
mod line;
mod parse;

pub use convert::convert;
pub use index::{index, properties, unicode_casemap};
pub use parse::parse;

use calcard::vcard::VCard;

/// A vCard version davit can store and serve (RFC 6352 §6.2.2 supported-address-data).
///
/// vCard 2.1 bodies (Outlook exports) are accepted and read as 3.0 for conversion purposes:
/// 2.1 and 3.0 share property names and the legacy `ENCODING=b`/`TYPE=JPEG` media conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V3,
    V4,
}

impl Version {
    /// The `version` attribute value of `CARDDAV:address-data-type` (RFC 6352 §6.2.2).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3 => "3.0",
            Version::V4 => "4.0",
        }
    }

    /// Parses the `version` attribute of an `address-data` element (RFC 6352 §10.4).
    pub fn from_attr(value: &str) -> Option<Version> {
        match value.trim() {
            "3.0" => Some(Version::V3),
            "4.0" => Some(Version::V4),
            _ => None,
        }
    }
}

/// Why a body is not an acceptable address object resource. Both map to the
/// `CARDDAV:valid-address-data` precondition (RFC 6352 §6.3.2.1); the message is meant for
/// the client and names the line or the rule.
#[derive(Debug, thiserror::Error)]
pub enum VcardError {
    /// The body cannot be read as a vCard at all (encoding, framing, content-line grammar).
    #[error("vCard syntax error: {0}")]
    Syntax(String),
    /// The body is a vCard but breaks a rule of RFC 6352, RFC 6350 or RFC 2426.
    #[error("invalid vCard: {0}")]
    Invalid(String),
}

/// One parsed, validated address object resource.
#[derive(Debug, Clone)]
pub struct Card {
    /// Kept private: callers go through this module's functions, never through calcard.
    vcard: VCard,
    version: Version,
    legacy_21: bool,
    uid: String,
}

impl Card {
    /// The version the card was stored in (2.1 reads as [`Version::V3`]).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The card's UID (RFC 6352 §5.1: required and unique within the address book).
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// True for a vCard 2.1 body (Outlook export).
    pub fn is_v21(&self) -> bool {
        self.legacy_21
    }

    /// Whether serving this card as `to` needs [`convert`] rather than the stored bytes.
    /// A 2.1 body is converted even for 3.0, because a 3.0 client cannot read 2.1's bare
    /// parameters and QUOTED-PRINTABLE values.
    pub fn needs_conversion(&self, to: Version) -> bool {
        self.version != to || self.legacy_21
    }
}

/// RFC 6350 §6.1.4 KIND, with Apple's `X-ADDRESSBOOKSERVER-KIND` read as its 3.0 spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Individual,
    Group,
    Org,
    Location,
}

/// The properties addressbook-query most often filters on (RFC 6352 §10.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Fn,
    N,
    Email,
    Tel,
    Nickname,
    Org,
    Categories,
    Uid,
    Member,
}

/// Searchable fields of one card, for an index prefilter of addressbook-query. Values are raw
/// (unescaped) text, each indexed property's exact [`PropView`] value plus wider forms (see
/// [`index`]); fold them with [`unicode_casemap`] (or use [`CardIndex::folded`]) for
/// i;unicode-casemap matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardIndex {
    pub uid: String,
    pub version: Version,
    pub kind: Kind,
    pub fields: Vec<(Field, String)>,
}

/// One property as prop-filter / param-filter / text-match see it (RFC 6352 §10.5.1–10.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropView {
    pub group: Option<String>,
    /// Upper-cased property name, e.g. `EMAIL`, `X-ABLABEL`.
    pub name: String,
    /// Upper-cased parameter names with their values, one entry per name.
    pub params: Vec<(String, Vec<String>)>,
    /// The unescaped value; structured components joined by `;`, list items by `,`.
    pub value: String,
}

#[cfg(test)]
mod tests;

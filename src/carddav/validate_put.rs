//! PUT preconditions for address books (RFC 6352 §6.3.2.1): the body is parsed only to
//! validate it and to compute the index; it is stored as sent.

use http::StatusCode;

use crate::dav::error::{Condition, DavError, DavResult};
use crate::store::ObjectIndex;
use crate::vcard::{self, Field};

pub fn field_name(field: Field) -> &'static str {
    match field {
        Field::Fn => "FN",
        Field::N => "N",
        Field::Email => "EMAIL",
        Field::Tel => "TEL",
        Field::Nickname => "NICKNAME",
        Field::Org => "ORG",
        Field::Categories => "CATEGORIES",
        Field::Uid => "UID",
        Field::Member => "MEMBER",
    }
}

/// Names of the properties kept in the card index (the addressbook-query prefilter).
pub const INDEXED: &[&str] = &["FN", "N", "EMAIL", "TEL", "NICKNAME", "ORG", "CATEGORIES", "UID", "MEMBER"];

pub fn validate(body: &[u8]) -> DavResult<ObjectIndex> {
    let card = vcard::parse(body).map_err(|e| {
        DavError::with(StatusCode::FORBIDDEN, Condition::ValidAddressData, format!("invalid vCard data: {e}"))
    })?;
    let index = vcard::index(&card);
    Ok(ObjectIndex {
        uid: Some(index.uid.clone()),
        search: index.folded().into_iter().map(|(f, v)| (field_name(f).to_owned(), v)).collect(),
        ..Default::default()
    })
}

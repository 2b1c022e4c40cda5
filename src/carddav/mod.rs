//! CardDAV (RFC 6352): PUT validation, addressbook-query and address-data.

pub mod filter;
pub mod request;

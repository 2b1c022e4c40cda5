//! CardDAV (RFC 6352): PUT validation, addressbook-query and address-data.

pub mod address_data;
pub mod filter;
pub mod query;
pub mod request;
pub mod validate_put;

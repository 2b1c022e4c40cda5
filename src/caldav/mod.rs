//! CalDAV (RFC 4791): request types, filters and the calendar REPORTs.

pub mod request;

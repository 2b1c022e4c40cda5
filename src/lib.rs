//! davit: a standards-first CalDAV/CardDAV server keeping everything in one SQLite file.
//!
//! Dependency direction: `http → dav → (acl | store)`. Nothing below `http/` touches hyper;
//! nothing outside `store::sqlite` touches rusqlite.

pub mod acl;
pub mod api;
pub mod app;
pub mod auth;
pub mod caldav;
pub mod carddav;
pub mod cli;
pub mod config;
pub mod dav;
pub mod feeds;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ical;
pub mod import;
pub mod inline;
pub mod memory;
pub mod org;
pub mod principal_search;
pub mod state;
pub mod store;
pub mod sync;
pub mod vcard;
pub mod web;

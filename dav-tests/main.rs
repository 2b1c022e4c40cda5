//! Protocol-level tests: a real davit on 127.0.0.1:0 with a temporary database, real HTTP
//! requests, assertions on status, headers and XML. One module per area.

mod harness;

mod bad_input;
mod caldav_query;
mod carddav;
mod discovery;
mod methods;
mod operations;
mod sync;

//! Protocol-level tests: a real davit on 127.0.0.1:0 with a temporary database, real HTTP
//! requests, assertions on status, headers and XML. One module per area.

mod harness;

mod access_matrix;
mod account_api;
mod app_passwords;
mod bad_input;
mod caldav_data;
mod caldav_query;
mod carddav;
mod clients;
mod crash;
mod cs_sharing;
mod discovery;
mod feeds;
mod hostile;
mod import;
mod methods;
mod operations;
mod principal_search;
mod reliability;
mod sharing;
mod sync;
mod two_factor;

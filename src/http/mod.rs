//! The async edge: sockets, HTTP/1 and HTTP/2, routing, authentication, bounded bodies,
//! access logging and graceful shutdown. Everything else runs on the blocking pool, or inline
//! on a worker that is to spare (`crate::inline`).

pub(crate) mod auth;
mod body;
mod router;
pub mod server;

pub use server::run;

/// The tracing target of the one line logged per request (method, path, status, time, user).
pub const ACCESS_LOG_TARGET: &str = "davit::access";

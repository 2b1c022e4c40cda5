//! Bounded request bodies (413 past the limit) and the response body type.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

pub type ResponseBody = Full<Bytes>;

pub enum BodyError {
    TooLarge,
    Io(String),
}

/// Reads the whole body, refusing more than `limit` bytes, whether announced by
/// Content-Length or only discovered while streaming (chunked bodies, as Evolution sends).
pub async fn read_bounded(body: Incoming, declared: Option<u64>, limit: u64) -> Result<Bytes, BodyError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Io(e.to_string())),
    }
}

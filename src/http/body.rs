//! Bounded request bodies (413 past the limit) and the response body type: a whole buffer for
//! ordinary responses, or a stream fed chunk by chunk from the blocking pool (public feeds),
//! so a 100,000-event calendar never sits in memory at once.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::mpsc;

use crate::memory::buffers;

pub type ResponseBody = BoxBody<Bytes, io::Error>;

/// Chunks produced ahead of the client: a slow reader holds the producer back after this many,
/// which is what keeps memory flat.
const STREAM_AHEAD: usize = 2;

/// A whole, already built body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A whole body built by the handlers; a large buffer goes back to `memory::buffers` once
/// sent, for the next large answer.
pub fn whole(body: Vec<u8>) -> ResponseBody {
    full(buffers::into_bytes(body))
}

/// A body streamed from `next_chunk`, which runs on the blocking pool one call at a time and
/// returns `Ok(None)` at the end. Between calls no thread is held: a client that reads slowly
/// parks an async task, not a blocking thread. An error ends the body abnormally (the
/// connection is closed without the final chunk), so a client never takes a truncated body for
/// a complete one. A client that goes away stops the producer at its next chunk.
pub fn streamed<F>(next_chunk: F) -> ResponseBody
where
    F: FnMut() -> io::Result<Option<Bytes>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(STREAM_AHEAD);
    tokio::spawn(async move {
        let mut next_chunk = next_chunk;
        loop {
            let step = tokio::task::spawn_blocking(move || {
                let chunk = next_chunk();
                (next_chunk, chunk)
            })
            .await;
            let error = match step {
                Ok((again, Ok(Some(bytes)))) => {
                    next_chunk = again;
                    if tx.send(Ok(bytes)).await.is_err() {
                        break; // the client went away
                    }
                    continue;
                }
                Ok((_, Ok(None))) => break,
                Ok((_, Err(e))) => e,
                Err(e) => io::Error::other(format!("body producer panicked: {e}")),
            };
            let _ = tx.send(Err(error)).await;
            break;
        }
    });
    ChannelBody { rx }.boxed()
}

/// The receiving end of a bounded channel as an HTTP body.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

pub enum BodyError {
    TooLarge,
    Io(String),
}

/// Reads the whole body, refusing more than `limit` bytes, whether announced by
/// Content-Length or only discovered while streaming (chunked bodies, as Evolution sends).
///
/// A client that stops sending for `BODY_IDLE_TIMEOUT` loses the request, so a stalled body
/// (slowloris) cannot hold a connection and its memory for ever.
pub async fn read_bounded(body: Incoming, declared: Option<u64>, limit: u64) -> Result<Bytes, BodyError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = std::pin::pin!(Limited::new(body, limit));
    let mut buf = bytes::BytesMut::new();
    loop {
        let frame = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| BodyError::Io("the client stopped sending the body".into()))?;
        match frame {
            None => return Ok(buf.freeze()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge),
            Some(Err(e)) => return Err(BodyError::Io(e.to_string())),
        }
    }
}

/// How long a request body may stall between two chunks.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streamed_body_yields_every_chunk_then_ends() {
        let mut left = 3;
        let body = streamed(move || {
            if left == 0 {
                return Ok(None);
            }
            left -= 1;
            Ok(Some(Bytes::from(format!("chunk{left};"))))
        });
        let all = body.collect().await.expect("no error").to_bytes();
        assert_eq!(&all[..], b"chunk2;chunk1;chunk0;");
    }

    #[tokio::test]
    async fn streamed_body_error_is_an_error() {
        let mut first = true;
        let body = streamed(move || {
            if std::mem::take(&mut first) {
                Ok(Some(Bytes::from_static(b"partial")))
            } else {
                Err(io::Error::other("store failed"))
            }
        });
        assert!(body.collect().await.is_err(), "a failed producer must not look like a complete body");
    }

    #[tokio::test]
    async fn a_dropped_body_stops_the_producer() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let body = streamed(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some(Bytes::from_static(b"x")))
        });
        drop(body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let n = calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(n <= STREAM_AHEAD + 2, "producer kept running after the client left ({n} calls)");
    }
}

//! The request-body limit: bodies above 1 MiB are refused with EntityTooLarge, after reading
//! (and discarding) enough of the rest that the client sees the answer.

use std::pin::Pin;

use axum::body::{Body, Bytes};

use crate::emulator::error::ApiError;

/// Request bodies above this size are refused with EntityTooLarge (413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Past the limit, the rest of an upload is read and discarded up to this size, so the client
/// gets its EntityTooLarge answer instead of a reset connection.
const MAX_DRAIN_BYTES: usize = 16 * MAX_BODY_BYTES;

pub(super) async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    use axum::body::HttpBody;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "cannot read the request body: {e}"
                )))
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen = seen.saturating_add(data.len());
                    if seen <= MAX_BODY_BYTES {
                        buf.extend_from_slice(&data);
                    } else if seen > MAX_DRAIN_BYTES {
                        break;
                    }
                }
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    Ok(Bytes::from(buf))
}

//! calendar-data in REPORT answers (RFC 4791 §9.6): the stored body, or — when the request
//! selects components/properties, expands recurrences or limits the recurrence set — a
//! re-serialised object.

use chrono_tz::Tz;

use super::request::CalendarData;
use crate::dav::error::{DavError, DavResult};

/// Whether the request wants exactly the stored body.
pub fn is_verbatim(spec: &CalendarData) -> bool {
    spec.select.is_none() && spec.expand.is_none() && spec.limit_recurrence_set.is_none()
}

pub fn render(body: &[u8], spec: &CalendarData, _floating: Tz) -> DavResult<String> {
    if is_verbatim(spec) {
        return Ok(String::from_utf8_lossy(body).into_owned());
    }
    Err(DavError::new(
        http::StatusCode::NOT_IMPLEMENTED,
        "partial calendar-data retrieval is being implemented",
    ))
}

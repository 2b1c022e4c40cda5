//! PUT preconditions for calendar collections (RFC 4791 §5.3.2.1): the body is parsed only
//! to validate it and to compute the index; it is stored as sent.

use http::StatusCode;

use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::names::CALDAV;
use crate::ical::{self, IcalError};
use crate::store::{Collection, ObjectIndex};

fn refuse(element: &'static str, message: String) -> DavError {
    DavError::with(StatusCode::FORBIDDEN, Condition::Other(CALDAV, element), message)
}

/// The components a calendar accepts (`supported-calendar-component-set`).
pub fn accepted_components(coll: &Collection) -> Vec<String> {
    coll.props
        .components
        .as_deref()
        .unwrap_or("VEVENT,VTODO,VJOURNAL")
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .collect()
}

pub fn validate(coll: &Collection, body: &[u8]) -> DavResult<ObjectIndex> {
    let parsed = ical::parse(body).map_err(|e| {
        DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            format!("invalid iCalendar data: {e}"),
        )
    })?;
    let info = ical::inspect(&parsed).map_err(|e| match e {
        IcalError::Syntax(m) => DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidCalendarData,
            format!("invalid iCalendar data: {m}"),
        ),
        other => {
            refuse("valid-calendar-object-resource", format!("not a valid calendar object resource: {other}"))
        }
    })?;
    let comp = info.comp_type.name();
    if !accepted_components(coll).iter().any(|c| c == comp) {
        return Err(refuse(
            "supported-calendar-component",
            format!("this calendar accepts {}, not {comp}", accepted_components(coll).join(", ")),
        ));
    }
    Ok(ObjectIndex {
        uid: Some(info.uid),
        comp_type: Some(comp.to_owned()),
        first_start: info.first_start,
        last_end: info.last_end,
        search: Vec::new(),
    })
}

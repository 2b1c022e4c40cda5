//! Errors that map to an HTTP status and, where the RFCs define one, a precondition element
//! in a `DAV:error` body with a human message (RFC 4918 §16).

use std::borrow::Cow;

use http::StatusCode;

use super::names::{CALDAV, CARDDAV, DAV};
use crate::store::StoreError;

/// A precondition or postcondition code (RFC 4918 §16, RFC 4791 §1.3, RFC 6352 §6.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Href and privilege name, e.g. ("/dav/calendars/bob/", "write-content").
    NeedPrivileges(Vec<(String, &'static str)>),
    PropfindFiniteDepth,
    NoExternalEntities,
    CannotModifyProtectedProperty,
    ValidResourcetype,
    ValidSyncToken,
    NumberOfMatchesWithinLimits,
    CalendarCollectionLocationOk,
    ValidCalendarData,
    ValidAddressData,
    SupportedReport,
    /// `C:no-uid-conflict` or `CR:no-uid-conflict` with the href of the resource already
    /// holding the UID (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
    NoUidConflict {
        carddav: bool,
        href: String,
    },
    /// Any other element, e.g. ("urn:ietf:params:xml:ns:caldav", "valid-filter").
    Other(&'static str, &'static str),
}

impl Condition {
    pub fn element(&self) -> (&'static str, &'static str) {
        match self {
            Condition::NeedPrivileges(_) => (DAV, "need-privileges"),
            Condition::PropfindFiniteDepth => (DAV, "propfind-finite-depth"),
            Condition::NoExternalEntities => (DAV, "no-external-entities"),
            Condition::CannotModifyProtectedProperty => (DAV, "cannot-modify-protected-property"),
            Condition::ValidResourcetype => (DAV, "valid-resourcetype"),
            Condition::ValidSyncToken => (DAV, "valid-sync-token"),
            Condition::NumberOfMatchesWithinLimits => (DAV, "number-of-matches-within-limits"),
            Condition::SupportedReport => (DAV, "supported-report"),
            Condition::CalendarCollectionLocationOk => (CALDAV, "calendar-collection-location-ok"),
            Condition::ValidCalendarData => (CALDAV, "valid-calendar-data"),
            Condition::ValidAddressData => (CARDDAV, "valid-address-data"),
            Condition::NoUidConflict { carddav: false, .. } => (CALDAV, "no-uid-conflict"),
            Condition::NoUidConflict { carddav: true, .. } => (CARDDAV, "no-uid-conflict"),
            Condition::Other(ns, name) => (ns, name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DavError {
    pub status: StatusCode,
    pub condition: Option<Condition>,
    pub message: Cow<'static, str>,
}

pub type DavResult<T> = Result<T, DavError>;

impl DavError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        DavError { status, condition: None, message: message.into() }
    }
    pub fn with(status: StatusCode, condition: Condition, message: impl Into<Cow<'static, str>>) -> Self {
        DavError { status, condition: Some(condition), message: message.into() }
    }
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such resource")
    }
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn precondition_failed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, message)
    }
    pub fn method_not_allowed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

/// The one store → protocol table.
impl From<StoreError> for DavError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DavError::not_found(),
            StoreError::AlreadyExists => DavError::method_not_allowed("the resource already exists"),
            StoreError::PreconditionFailed => DavError::precondition_failed(
                "the resource changed or exists (If-Match / If-None-Match / Overwrite)",
            ),
            StoreError::UidConflict { segment } => DavError::with(
                StatusCode::CONFLICT,
                Condition::Other(CALDAV, "no-uid-conflict"),
                format!("the UID is already used by {segment}"),
            ),
            StoreError::ParentMissing => DavError::conflict("the parent collection does not exist"),
            StoreError::Conflict(m) => DavError::conflict(m),
            StoreError::Busy => {
                DavError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is busy, retry shortly")
            }
            StoreError::NewerSchema { .. } | StoreError::Internal(_) => {
                tracing::error!(error = %e, "store failure");
                DavError::internal()
            }
        }
    }
}

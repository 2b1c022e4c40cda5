//! What davit advertises, built from what is implemented: the `DAV` header, `Allow` per
//! resource, `supported-report-set`, and the sync-token format (RFC 6578: a URI).

use super::resource::{Located, Resource};
use crate::store::CollectionKind;

/// Class 1 and 3 (RFC 4918 §18), extended MKCOL (RFC 5689), CalDAV, CardDAV and the
/// calendarserver.org sharing extension (caldav-sharing §5.1: Apple offers sharing only when
/// this token is present). No class 2: davit has no LOCK.
pub const DAV_HEADER: &str = "1, 3, extended-mkcol, calendar-access, addressbook, calendarserver-sharing";

/// Every method davit implements somewhere, for an OPTIONS about the server as a whole.
pub const ALLOW_ANY: &str =
    "OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, COPY, MOVE, REPORT";

/// `Allow` per resource (MKCOL, MKCALENDAR and PUT of a new member apply to unmapped URLs; POST
/// only carries the sharing extension's documents, see `sharing::post`).
pub fn allow(located: &Located) -> &'static str {
    match located {
        Located::Missing { .. } => "OPTIONS, PUT, MKCOL, MKCALENDAR",
        Located::Found(Resource::Object { .. }) => {
            "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, COPY, MOVE"
        }
        Located::Found(Resource::Collection { coll, .. }) if coll.kind.is_home() => {
            "OPTIONS, GET, HEAD, POST, PROPFIND, PROPPATCH, REPORT"
        }
        Located::Found(Resource::Collection { coll, .. }) if super::sharing::is_shareable(coll.kind) => {
            "OPTIONS, GET, HEAD, POST, DELETE, PROPFIND, PROPPATCH, COPY, MOVE, REPORT"
        }
        Located::Found(Resource::Collection { .. }) => {
            "OPTIONS, GET, HEAD, DELETE, PROPFIND, PROPPATCH, COPY, MOVE, REPORT"
        }
        Located::Found(_) => "OPTIONS, GET, HEAD, PROPFIND, REPORT",
    }
}

/// Principal search (RFC 3744 §9.3–9.5) where the principals are: the principal collection
/// (§9.5 requires the property-set report there), the roots above it, and each principal.
const PRINCIPAL_REPORTS: &[&str] =
    &["D:principal-property-search", "D:principal-search-property-set", "D:principal-match"];

/// Homes and collections: principal-property-search with apply-to-principal-collection-set
/// (Evolution sends it to a calendar to look up an attendee), principal-match on DAV:owner.
const HOME_PRINCIPAL_REPORTS: &[&str] = &["D:principal-property-search", "D:principal-match"];

/// The REPORTs a resource answers (RFC 3253 §3.1.5), as `<D:supported-report>` elements.
pub fn supported_reports_xml(res: &Resource) -> String {
    let reports: &[&[&str]] = match res {
        Resource::Collection { coll, .. } => match coll.kind {
            CollectionKind::Calendar => &[
                &["D:sync-collection", "C:calendar-multiget", "C:calendar-query", "C:free-busy-query"],
                HOME_PRINCIPAL_REPORTS,
            ],
            CollectionKind::Addressbook => &[
                &["D:sync-collection", "CR:addressbook-multiget", "CR:addressbook-query"],
                HOME_PRINCIPAL_REPORTS,
            ],
            // Apple uses sync-collection only if the calendar home lists it.
            _ => &[&["D:sync-collection"], HOME_PRINCIPAL_REPORTS],
        },
        Resource::Root | Resource::DavRoot | Resource::Principals | Resource::Principal(_) => {
            &[PRINCIPAL_REPORTS]
        }
        Resource::Homes(_) | Resource::Object { .. } => &[],
    };
    reports
        .iter()
        .flat_map(|list| list.iter())
        .map(|r| format!("<D:supported-report><D:report><{r}/></D:report></D:supported-report>"))
        .collect()
}

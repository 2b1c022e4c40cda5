//! REPORT bodies (RFC 3253 §3.6) parsed into one typed enum before the handler runs.

use http::StatusCode;

use super::body::{Propfind, parse_xml};
use super::error::{Condition, DavError, DavResult};
use super::names::{CALDAV, CARDDAV, DAV, QName};
use super::xml::Element;
use crate::caldav::freebusy::{FreeBusyQuery, parse_free_busy_query};
use crate::caldav::request::{CalendarData, CalendarQuery, parse_calendar_data, parse_calendar_query};
use crate::carddav::request::{AddressData, AddressbookQuery, parse_address_data, parse_addressbook_query};
use crate::principal_search::request::{
    PrincipalMatch, PropertySearch, parse_principal_match, parse_property_search,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLevel {
    One,
    Infinite,
}

#[derive(Debug, Clone)]
pub enum Report {
    /// RFC 6578 §3.2.
    SyncCollection { token: String, level: SyncLevel, limit: Option<usize>, props: Propfind },
    /// RFC 4791 §7.9 and RFC 6352 §8.7: the same shape, told apart by `calendar`.
    Multiget {
        calendar: bool,
        props: Propfind,
        calendar_data: Option<CalendarData>,
        address_data: Option<AddressData>,
        hrefs: Vec<String>,
    },
    /// RFC 6352 §8.6.
    AddressbookQuery(AddressbookQuery),
    /// RFC 4791 §7.8.
    CalendarQuery(CalendarQuery),
    /// RFC 4791 §7.10.
    FreeBusyQuery(FreeBusyQuery),
    /// RFC 3744 §9.4.
    PrincipalPropertySearch(PropertySearch),
    /// RFC 3744 §9.5.
    PrincipalSearchPropertySet,
    /// RFC 3744 §9.3.
    PrincipalMatch(PrincipalMatch),
}

fn props_of(root: &Element) -> Propfind {
    for child in root.elements() {
        match (child.ns.as_str(), child.name.as_str()) {
            (DAV, "prop") => {
                return Propfind::Prop(child.elements().map(|e| QName::new(&e.ns, &e.name)).collect());
            }
            (DAV, "allprop") => return Propfind::AllProp { include: vec![] },
            (DAV, "propname") => return Propfind::PropName,
            _ => {}
        }
    }
    Propfind::AllProp { include: vec![] }
}

pub fn parse_report(body: &[u8]) -> DavResult<Report> {
    let root = parse_xml(body)?;
    match (root.ns.as_str(), root.name.as_str()) {
        (DAV, "sync-collection") => parse_sync_collection(&root),
        (CALDAV, "calendar-multiget") | (CARDDAV, "addressbook-multiget") => {
            let hrefs: Vec<String> =
                root.elements().filter(|e| e.is(DAV, "href")).map(|e| e.text().trim().to_owned()).collect();
            if hrefs.is_empty() {
                return Err(DavError::bad_request("a multiget needs at least one DAV:href"));
            }
            let calendar_data = root
                .child(DAV, "prop")
                .and_then(|p| p.child(CALDAV, "calendar-data"))
                .map(parse_calendar_data)
                .transpose()?;
            let address_data = root
                .child(DAV, "prop")
                .and_then(|p| p.child(CARDDAV, "address-data"))
                .map(parse_address_data)
                .transpose()?;
            Ok(Report::Multiget {
                calendar: root.ns == CALDAV,
                props: props_of(&root),
                calendar_data,
                address_data,
                hrefs,
            })
        }
        (CALDAV, "calendar-query") => Ok(Report::CalendarQuery(parse_calendar_query(&root)?)),
        (CALDAV, "free-busy-query") => Ok(Report::FreeBusyQuery(parse_free_busy_query(&root)?)),
        (CARDDAV, "addressbook-query") => Ok(Report::AddressbookQuery(parse_addressbook_query(&root)?)),
        (DAV, "principal-property-search") => {
            Ok(Report::PrincipalPropertySearch(parse_property_search(&root)?))
        }
        (DAV, "principal-search-property-set") => Ok(Report::PrincipalSearchPropertySet),
        (DAV, "principal-match") => Ok(Report::PrincipalMatch(parse_principal_match(&root)?)),
        (ns, name) => Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::SupportedReport,
            format!("the report {{{ns}}}{name} is not supported"),
        )),
    }
}

fn parse_sync_collection(root: &Element) -> DavResult<Report> {
    let token = root.child(DAV, "sync-token").map(|t| t.text().trim().to_owned()).unwrap_or_default();
    let level = match root.child(DAV, "sync-level").map(|l| l.text().trim().to_ascii_lowercase()) {
        // RFC 6578 Appendix A: a missing sync-level is treated as 1 (older clients).
        None => SyncLevel::One,
        Some(l) if l == "1" => SyncLevel::One,
        Some(l) if l == "infinite" || l == "infinity" => SyncLevel::Infinite,
        Some(l) => {
            return Err(DavError::bad_request(format!("sync-level must be 1 or infinite, not {l:?}")));
        }
    };
    let limit = match root.child(DAV, "limit").and_then(|l| l.child(DAV, "nresults")) {
        None => None,
        Some(n) => match n.text().trim().parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(DavError::bad_request("DAV:nresults must be a positive integer"));
            }
            Ok(n) => Some(n),
        },
    };
    Ok(Report::SyncCollection { token, level, limit, props: props_of(root) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_collection_body() {
        let r = parse_report(b"<D:sync-collection xmlns:D='DAV:'><D:sync-token/><D:sync-level>1</D:sync-level><D:limit><D:nresults>5</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>").unwrap();
        match r {
            Report::SyncCollection { token, level, limit, props } => {
                assert_eq!(token, "");
                assert_eq!(level, SyncLevel::One);
                assert_eq!(limit, Some(5));
                assert_eq!(props, Propfind::Prop(vec![QName::new(DAV, "getetag")]));
            }
            other => panic!("{other:?}"),
        }
        for bad in ["<D:nresults>0</D:nresults>", "<D:nresults>-1</D:nresults>", "<D:nresults>x</D:nresults>"]
        {
            let body = format!(
                "<D:sync-collection xmlns:D='DAV:'><D:sync-token/><D:limit>{bad}</D:limit></D:sync-collection>"
            );
            assert!(parse_report(body.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_report_is_supported_report_403() {
        let e = parse_report(b"<x:weird xmlns:x='urn:x'/>").unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.condition, Some(Condition::SupportedReport));
    }
}

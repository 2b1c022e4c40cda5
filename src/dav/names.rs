//! XML namespaces and the prefixes davit writes them with.

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub const CALENDARSERVER: &str = "http://calendarserver.org/ns/";
pub const APPLE_ICAL: &str = "http://apple.com/ns/ical/";
/// davit's own namespace, for human-readable error messages.
pub const DAVIT: &str = "https://davit.dev/ns/";

/// Prefixes declared on every multistatus/error root.
pub const PREFIXES: &[(&str, &str)] =
    &[("D", DAV), ("C", CALDAV), ("CR", CARDDAV), ("CS", CALENDARSERVER), ("A", APPLE_ICAL), ("x", DAVIT)];

pub fn prefix_of(ns: &str) -> Option<&'static str> {
    PREFIXES.iter().find(|(_, n)| *n == ns).map(|(p, _)| *p)
}

pub fn xmlns_attrs() -> Vec<(String, &'static str)> {
    PREFIXES.iter().map(|(p, ns)| (format!("xmlns:{p}"), *ns)).collect()
}

/// A qualified XML name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    pub ns: String,
    pub name: String,
}

impl QName {
    pub fn new(ns: &str, name: &str) -> Self {
        QName { ns: ns.to_owned(), name: name.to_owned() }
    }
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

//! The bodies of `principal-property-search` (RFC 3744 §9.4), `principal-search-property-set`
//! (§9.5) and `principal-match` (§9.3), parsed into types before any handler runs.

use crate::dav::error::{DavError, DavResult};
use crate::dav::names::{DAV, QName};
use crate::dav::xml::Element;
use crate::store::SearchMatch;

/// More criteria than any client sends; bounds the query a body can ask for.
pub const MAX_CRITERIA: usize = 32;

/// One property compared with one search text. RFC 3744 §9.4: every property of a
/// `property-search` is compared with its `match`, so a `prop` of two yields two criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub property: QName,
    pub text: String,
    pub how: SearchMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySearch {
    /// Empty when the body has no `property-search`: every principal in scope. RFC 3744's DTD
    /// wants at least one, but python-caldav's `search_principals()` without a name sends
    /// none, so davit treats it like a match of the empty string.
    pub criteria: Vec<Criterion>,
    /// `test="allof"` (the default: RFC 3744 §9.4 combines criteria with a logical AND) or
    /// `test="anyof"` (calendarserver.org extension, sent by Apple clients).
    pub all_of: bool,
    /// The properties to return for each match; none: a bare `200` per principal.
    pub props: Vec<QName>,
    pub apply_to_principal_collection_set: bool,
}

/// What a `principal-match` compares with the current user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchBy {
    /// `DAV:self`: principals that are the current user.
    CurrentUser,
    /// `DAV:principal-property`: resources whose property names the current user.
    Property(QName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalMatch {
    pub by: MatchBy,
    pub props: Vec<QName>,
}

fn qnames(prop: &Element) -> Vec<QName> {
    prop.elements().map(|e| QName::new(&e.ns, &e.name)).collect()
}

fn props_of(root: &Element) -> Vec<QName> {
    root.child(DAV, "prop").map(qnames).unwrap_or_default()
}

/// The `DAV:prop` of a principal-property-search. python-caldav (3.6, `search_principals()`)
/// writes the properties it wants beside an empty `DAV:prop` instead of inside it; those are
/// read as the list then, or its parser finds no displayname and no principal.
fn requested_props(root: &Element) -> Vec<QName> {
    let Some(prop) = root.child(DAV, "prop") else { return Vec::new() };
    if prop.elements().next().is_some() {
        return qnames(prop);
    }
    let structural = ["prop", "property-search", "apply-to-principal-collection-set"];
    root.elements()
        .filter(|e| !(e.ns == DAV && structural.contains(&e.name.as_str())))
        .map(|e| QName::new(&e.ns, &e.name))
        .collect()
}

/// `match-type` is a calendarserver.org extension of `DAV:match` (Apple sends `starts-with`).
fn match_type(m: &Element) -> DavResult<SearchMatch> {
    Ok(match m.attr("match-type") {
        None | Some("contains") => SearchMatch::Contains,
        Some("starts-with") => SearchMatch::StartsWith,
        Some("ends-with") => SearchMatch::EndsWith,
        Some("equals") => SearchMatch::Equals,
        Some(other) => return Err(DavError::bad_request(format!("match-type {other:?} is not supported"))),
    })
}

pub fn parse_property_search(root: &Element) -> DavResult<PropertySearch> {
    let all_of = match root.attr("test") {
        None | Some("allof") => true,
        Some("anyof") => false,
        Some(other) => {
            return Err(DavError::bad_request(format!("test must be allof or anyof, not {other:?}")));
        }
    };
    let mut criteria = Vec::new();
    for search in root.elements().filter(|e| e.is(DAV, "property-search")) {
        let (Some(prop), Some(m)) = (search.child(DAV, "prop"), search.child(DAV, "match")) else {
            return Err(DavError::bad_request("a property-search needs a DAV:prop and a DAV:match"));
        };
        let properties = qnames(prop);
        if properties.is_empty() {
            return Err(DavError::bad_request("a property-search names no property"));
        }
        let how = match_type(m)?;
        let text = m.text();
        criteria.extend(properties.into_iter().map(|property| Criterion {
            property,
            text: text.clone(),
            how,
        }));
    }
    if criteria.len() > MAX_CRITERIA {
        return Err(DavError::bad_request(format!(
            "at most {MAX_CRITERIA} properties may be searched at once"
        )));
    }
    Ok(PropertySearch {
        criteria,
        all_of,
        props: requested_props(root),
        apply_to_principal_collection_set: root.child(DAV, "apply-to-principal-collection-set").is_some(),
    })
}

pub fn parse_principal_match(root: &Element) -> DavResult<PrincipalMatch> {
    let by = match (root.child(DAV, "self"), root.child(DAV, "principal-property")) {
        (Some(_), None) => MatchBy::CurrentUser,
        (None, Some(p)) => {
            let mut named = p.elements();
            match (named.next(), named.next()) {
                (Some(e), None) => MatchBy::Property(QName::new(&e.ns, &e.name)),
                _ => return Err(DavError::bad_request("principal-property names exactly one property")),
            }
        }
        _ => {
            return Err(DavError::bad_request(
                "principal-match needs either DAV:self or DAV:principal-property",
            ));
        }
    };
    Ok(PrincipalMatch { by, props: props_of(root) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::body::parse_xml;
    use crate::dav::names::{CALDAV, CALENDARSERVER};

    fn search(body: &str) -> DavResult<PropertySearch> {
        parse_property_search(&parse_xml(body.as_bytes())?)
    }

    #[test]
    fn apple_anyof_search_with_match_types() {
        let s = search(
            "<x0:principal-property-search xmlns:x0=\"DAV:\" xmlns:x1=\"http://calendarserver.org/ns/\" \
             test=\"anyof\"><x0:property-search><x0:prop><x0:displayname/></x0:prop>\
             <x0:match match-type=\"starts-with\">Ann</x0:match></x0:property-search><x0:property-search>\
             <x0:prop><x1:email-address-set/><x1:first-name/></x0:prop><x0:match>ann</x0:match>\
             </x0:property-search><x0:prop><x0:displayname/></x0:prop></x0:principal-property-search>",
        )
        .unwrap();
        assert!(!s.all_of);
        assert_eq!(s.criteria.len(), 3, "a prop of two properties is two criteria");
        assert_eq!(
            s.criteria[0],
            Criterion {
                property: QName::new(DAV, "displayname"),
                text: "Ann".into(),
                how: SearchMatch::StartsWith
            }
        );
        assert_eq!(s.criteria[2].property, QName::new(CALENDARSERVER, "first-name"));
        assert_eq!(s.criteria[2].how, SearchMatch::Contains);
        assert_eq!(s.props, [QName::new(DAV, "displayname")]);
        assert!(!s.apply_to_principal_collection_set);
    }

    #[test]
    fn evolution_search_applies_to_the_principal_collection_set() {
        let s = search(
            "<D:principal-property-search xmlns:D=\"DAV:\"><D:apply-to-principal-collection-set/>\
             <D:property-search><D:prop>\
             <C:calendar-user-address-set xmlns:C=\"urn:ietf:params:xml:ns:caldav\"/></D:prop>\
             <D:match>bob@example.org</D:match></D:property-search></D:principal-property-search>",
        )
        .unwrap();
        assert!(s.all_of && s.apply_to_principal_collection_set && s.props.is_empty());
        assert_eq!(s.criteria[0].property, QName::new(CALDAV, "calendar-user-address-set"));
    }

    #[test]
    fn python_caldav_properties_beside_an_empty_prop_are_the_prop_list() {
        let s = search(
            "<D:principal-property-search xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
             <D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>",
        )
        .unwrap();
        assert!(s.criteria.is_empty());
        assert_eq!(s.props, [QName::new(CALDAV, "calendar-home-set"), QName::new(DAV, "displayname")]);
    }

    #[test]
    fn malformed_searches_are_refused() {
        for bad in [
            "<D:principal-property-search xmlns:D='DAV:' test='someof'/>",
            "<D:principal-property-search xmlns:D='DAV:'><D:property-search><D:match>x</D:match>\
             </D:property-search></D:principal-property-search>",
            "<D:principal-property-search xmlns:D='DAV:'><D:property-search><D:prop><D:displayname/>\
             </D:prop></D:property-search></D:principal-property-search>",
            "<D:principal-property-search xmlns:D='DAV:'><D:property-search><D:prop/><D:match>x</D:match>\
             </D:property-search></D:principal-property-search>",
            "<D:principal-property-search xmlns:D='DAV:'><D:property-search><D:prop><D:displayname/>\
             </D:prop><D:match match-type='regex'>x</D:match></D:property-search>\
             </D:principal-property-search>",
        ] {
            assert_eq!(search(bad).unwrap_err().status, http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let many =
            "<D:property-search><D:prop><D:displayname/></D:prop><D:match>x</D:match></D:property-search>"
                .repeat(MAX_CRITERIA + 1);
        let body =
            format!("<D:principal-property-search xmlns:D='DAV:'>{many}</D:principal-property-search>");
        assert!(search(&body).is_err());
    }

    #[test]
    fn principal_match_bodies() {
        let parse = |b: &str| parse_principal_match(&parse_xml(b.as_bytes()).unwrap());
        let m = parse(
            "<D:principal-match xmlns:D='DAV:'><D:self/><D:prop><D:displayname/></D:prop>\
             </D:principal-match>",
        )
        .unwrap();
        assert_eq!(
            m,
            PrincipalMatch { by: MatchBy::CurrentUser, props: vec![QName::new(DAV, "displayname")] }
        );
        let m = parse(
            "<D:principal-match xmlns:D='DAV:'><D:principal-property><D:owner/></D:principal-property>\
             </D:principal-match>",
        )
        .unwrap();
        assert_eq!(m.by, MatchBy::Property(QName::new(DAV, "owner")));
        for bad in [
            "<D:principal-match xmlns:D='DAV:'/>",
            "<D:principal-match xmlns:D='DAV:'><D:self/><D:principal-property><D:owner/>\
             </D:principal-property></D:principal-match>",
            "<D:principal-match xmlns:D='DAV:'><D:principal-property/></D:principal-match>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

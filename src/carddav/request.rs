//! addressbook-query (RFC 6352 §8.6, §10.3–10.5) and address-data (§10.4) parsed into types;
//! request-level preconditions (`CR:supported-collation`, `CR:supported-filter`,
//! `CR:supported-address-data`) are checked here.

use http::StatusCode;

use crate::dav::body::Propfind;
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::names::{CARDDAV, DAV, QName};
use crate::dav::xml::Element;
use crate::vcard::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    /// `i;unicode-casemap`, the default (RFC 6352 §8.3).
    UnicodeCasemap,
    AsciiCasemap,
    Octet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    pub match_type: MatchType,
    pub negate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text_match: Option<TextMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    /// `test="allof"` (true) or the default `anyof`, over text-matches and param-filters.
    pub all_of: bool,
    pub is_not_defined: bool,
    pub text_matches: Vec<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub all_of: bool,
    pub prop_filters: Vec<PropFilter>,
}

/// What address-data should hold (§10.4): a version to convert to, and a property selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressData {
    pub version: Option<Version>,
    /// Upper-cased names; empty = all properties.
    pub props: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AddressbookQuery {
    pub props: Propfind,
    pub address_data: Option<AddressData>,
    pub filter: Filter,
    pub limit: Option<usize>,
}

fn refuse(element: &'static str, message: String) -> DavError {
    DavError::with(StatusCode::FORBIDDEN, Condition::Other(CARDDAV, element), message)
}

fn test_attr(el: &Element) -> DavResult<bool> {
    match el.attr("test") {
        None | Some("anyof") => Ok(false),
        Some("allof") => Ok(true),
        Some(other) => Err(refuse("supported-filter", format!("test must be anyof or allof, not {other:?}"))),
    }
}

fn name_attr(el: &Element) -> DavResult<String> {
    el.attr("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| refuse("supported-filter", format!("{} needs a name", el.name)))
}

fn parse_text_match(el: &Element) -> DavResult<TextMatch> {
    let collation = match el.attr("collation") {
        None | Some("i;unicode-casemap") => Collation::UnicodeCasemap,
        Some("i;ascii-casemap") => Collation::AsciiCasemap,
        Some("i;octet") => Collation::Octet,
        Some(other) => {
            return Err(refuse("supported-collation", format!("collation {other:?} is not supported")));
        }
    };
    let match_type = match el.attr("match-type") {
        None | Some("contains") => MatchType::Contains,
        Some("equals") => MatchType::Equals,
        Some("starts-with") => MatchType::StartsWith,
        Some("ends-with") => MatchType::EndsWith,
        Some(other) => {
            return Err(refuse("supported-filter", format!("match-type {other:?} is not supported")));
        }
    };
    let negate = match el.attr("negate-condition") {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => return Err(refuse("supported-filter", format!("negate-condition {other:?}"))),
    };
    Ok(TextMatch { text: el.text(), collation, match_type, negate })
}

fn parse_param_filter(el: &Element) -> DavResult<ParamFilter> {
    let mut f = ParamFilter { name: name_attr(el)?, is_not_defined: false, text_match: None };
    for child in el.elements().filter(|c| c.ns == CARDDAV) {
        match child.name.as_str() {
            "is-not-defined" => f.is_not_defined = true,
            "text-match" => f.text_match = Some(parse_text_match(child)?),
            other => return Err(refuse("supported-filter", format!("unexpected {other} in param-filter"))),
        }
    }
    Ok(f)
}

fn parse_prop_filter(el: &Element) -> DavResult<PropFilter> {
    let mut f = PropFilter {
        name: name_attr(el)?,
        all_of: test_attr(el)?,
        is_not_defined: false,
        text_matches: vec![],
        param_filters: vec![],
    };
    for child in el.elements().filter(|c| c.ns == CARDDAV) {
        match child.name.as_str() {
            "is-not-defined" => f.is_not_defined = true,
            "text-match" => f.text_matches.push(parse_text_match(child)?),
            "param-filter" => f.param_filters.push(parse_param_filter(child)?),
            other => return Err(refuse("supported-filter", format!("unexpected {other} in prop-filter"))),
        }
    }
    Ok(f)
}

/// The `CR:address-data` element of a request's `D:prop` (§10.4).
pub fn parse_address_data(el: &Element) -> DavResult<AddressData> {
    if let Some(ct) = el.attr("content-type")
        && !ct.eq_ignore_ascii_case("text/vcard")
    {
        return Err(refuse(
            "supported-address-data",
            format!("address-data of type {ct:?} is not supported"),
        ));
    }
    let version = match el.attr("version") {
        None => None,
        Some(v) => Some(Version::from_attr(v).ok_or_else(|| {
            refuse("supported-address-data", format!("vCard version {v:?} is not supported"))
        })?),
    };
    let props = el
        .elements()
        .filter(|e| e.is(CARDDAV, "prop"))
        .filter_map(|e| e.attr("name"))
        .map(str::to_ascii_uppercase)
        .collect();
    Ok(AddressData { version, props })
}

fn parse_limit(el: &Element) -> DavResult<Option<usize>> {
    let Some(n) = el.child(CARDDAV, "nresults") else { return Ok(None) };
    match n.text().trim().parse::<usize>() {
        Ok(0) | Err(_) => Err(DavError::bad_request("CR:nresults must be a positive integer")),
        Ok(n) => Ok(Some(n)),
    }
}

pub fn parse_addressbook_query(root: &Element) -> DavResult<AddressbookQuery> {
    let mut q = AddressbookQuery {
        props: Propfind::AllProp { include: vec![] },
        address_data: None,
        filter: Filter::default(),
        limit: None,
    };
    let mut has_filter = false;
    for child in root.elements() {
        match (child.ns.as_str(), child.name.as_str()) {
            (DAV, "prop") => {
                q.props = Propfind::Prop(child.elements().map(|e| QName::new(&e.ns, &e.name)).collect());
                if let Some(ad) = child.child(CARDDAV, "address-data") {
                    q.address_data = Some(parse_address_data(ad)?);
                }
            }
            (DAV, "propname") => q.props = Propfind::PropName,
            (DAV, "allprop") => q.props = Propfind::AllProp { include: vec![] },
            (CARDDAV, "filter") => {
                has_filter = true;
                q.filter = Filter {
                    all_of: test_attr(child)?,
                    prop_filters: child
                        .elements()
                        .filter(|e| e.is(CARDDAV, "prop-filter"))
                        .map(parse_prop_filter)
                        .collect::<DavResult<_>>()?,
                };
            }
            (CARDDAV, "limit") => q.limit = parse_limit(child)?,
            _ => {}
        }
    }
    if !has_filter {
        return Err(refuse("supported-filter", "addressbook-query needs a filter (RFC 6352 §8.6)".into()));
    }
    Ok(q)
}

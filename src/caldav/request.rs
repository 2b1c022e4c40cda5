//! calendar-query (RFC 4791 §7.8, §9.7) and calendar-data (§9.6) request elements parsed
//! into types, with the request-level preconditions checked here: `C:valid-filter`,
//! `C:supported-filter`, `C:supported-collation`.

use http::StatusCode;

use crate::dav::body::Propfind;
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::names::{CALDAV, DAV, QName};
use crate::dav::xml::Element;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    /// `i;ascii-casemap`, the default (RFC 4791 §7.5.1).
    AsciiCasemap,
    Octet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    pub negate: bool,
}

/// A UTC time range, Unix seconds; a missing bound is unbounded (§9.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
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
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub text_match: Option<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub prop_filters: Vec<PropFilter>,
    pub comp_filters: Vec<CompFilter>,
}

/// Which parts of each object to return (§9.6): `None` = everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompSelection {
    pub name: String,
    pub all_props: bool,
    pub props: Vec<String>,
    pub all_comps: bool,
    pub comps: Vec<CompSelection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarData {
    pub select: Option<CompSelection>,
    /// `C:expand` (§9.6.5): return instances in the range as UTC, overrides without RRULE.
    pub expand: Option<TimeRange>,
    /// `C:limit-recurrence-set` (§9.6.6).
    pub limit_recurrence_set: Option<TimeRange>,
}

#[derive(Debug, Clone)]
pub struct CalendarQuery {
    pub props: Propfind,
    pub calendar_data: Option<CalendarData>,
    pub filter: CompFilter,
    /// `C:timezone` of the request (§9.8), as iCalendar text, for floating times.
    pub timezone: Option<String>,
}

fn valid_filter(message: impl Into<String>) -> DavError {
    DavError::with(StatusCode::FORBIDDEN, Condition::Other(CALDAV, "valid-filter"), message.into())
}

fn supported_filter(message: impl Into<String>) -> DavError {
    DavError::with(StatusCode::FORBIDDEN, Condition::Other(CALDAV, "supported-filter"), message.into())
}

/// Component names a filter may name: RFC 5545 components and X- ones.
fn known_component(name: &str) -> bool {
    matches!(
        name,
        "VCALENDAR"
            | "VEVENT"
            | "VTODO"
            | "VJOURNAL"
            | "VFREEBUSY"
            | "VALARM"
            | "VTIMEZONE"
            | "STANDARD"
            | "DAYLIGHT"
    ) || name.starts_with("X-")
}

/// `20060104T000000Z` (RFC 4791 §9.9: date with UTC time) → Unix seconds.
pub fn parse_utc(value: &str) -> Option<i64> {
    let v = value.trim();
    if v.len() != 16 || !v.ends_with('Z') || v.as_bytes()[8] != b'T' {
        return None;
    }
    let dt = chrono::NaiveDateTime::parse_from_str(&v[..15], "%Y%m%dT%H%M%S").ok()?;
    Some(dt.and_utc().timestamp())
}

pub fn parse_time_range(el: &Element) -> DavResult<TimeRange> {
    let bound = |attr: &str| -> DavResult<Option<i64>> {
        match el.attr(attr) {
            None => Ok(None),
            Some(v) => parse_utc(v).map(Some).ok_or_else(|| {
                valid_filter(format!("time-range {attr}={v:?} is not a UTC date-time like 20260101T000000Z"))
            }),
        }
    };
    let range = TimeRange { start: bound("start")?, end: bound("end")? };
    match range {
        TimeRange { start: None, end: None } => Err(valid_filter("time-range needs start or end")),
        TimeRange { start: Some(s), end: Some(e) } if e <= s => {
            Err(valid_filter("time-range end must be after its start"))
        }
        r => Ok(r),
    }
}

fn parse_text_match(el: &Element) -> DavResult<TextMatch> {
    let collation = match el.attr("collation") {
        None | Some("i;ascii-casemap") => Collation::AsciiCasemap,
        Some("i;octet") => Collation::Octet,
        Some(other) => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::Other(CALDAV, "supported-collation"),
                format!("collation {other:?} is not supported (i;ascii-casemap, i;octet)"),
            ));
        }
    };
    let negate = match el.attr("negate-condition") {
        None | Some("no") => false,
        Some("yes") => true,
        Some(v) => return Err(valid_filter(format!("negate-condition must be yes or no, not {v:?}"))),
    };
    Ok(TextMatch { text: el.text(), collation, negate })
}

fn name_attr(el: &Element) -> DavResult<String> {
    el.attr("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| valid_filter(format!("{} needs a name attribute", el.name)))
}

fn parse_param_filter(el: &Element) -> DavResult<ParamFilter> {
    let mut f = ParamFilter { name: name_attr(el)?, is_not_defined: false, text_match: None };
    for child in el.elements() {
        match child.name.as_str() {
            "is-not-defined" if child.ns == CALDAV => f.is_not_defined = true,
            "text-match" if child.ns == CALDAV => f.text_match = Some(parse_text_match(child)?),
            other => return Err(valid_filter(format!("unexpected {other} in param-filter"))),
        }
    }
    Ok(f)
}

fn parse_prop_filter(el: &Element) -> DavResult<PropFilter> {
    let mut f = PropFilter {
        name: name_attr(el)?,
        is_not_defined: false,
        time_range: None,
        text_match: None,
        param_filters: vec![],
    };
    for child in el.elements().filter(|c| c.ns == CALDAV) {
        match child.name.as_str() {
            "is-not-defined" => f.is_not_defined = true,
            "time-range" => f.time_range = Some(parse_time_range(child)?),
            "text-match" => f.text_match = Some(parse_text_match(child)?),
            "param-filter" => f.param_filters.push(parse_param_filter(child)?),
            other => return Err(valid_filter(format!("unexpected {other} in prop-filter"))),
        }
    }
    Ok(f)
}

pub fn parse_comp_filter(el: &Element, depth: usize) -> DavResult<CompFilter> {
    if depth > 8 {
        return Err(valid_filter("comp-filters nest too deeply"));
    }
    let name = name_attr(el)?;
    if !known_component(&name) {
        return Err(supported_filter(format!("unknown component {name:?} in comp-filter")));
    }
    let mut f = CompFilter {
        name,
        is_not_defined: false,
        time_range: None,
        prop_filters: vec![],
        comp_filters: vec![],
    };
    for child in el.elements().filter(|c| c.ns == CALDAV) {
        match child.name.as_str() {
            "is-not-defined" => f.is_not_defined = true,
            "time-range" => f.time_range = Some(parse_time_range(child)?),
            "prop-filter" => f.prop_filters.push(parse_prop_filter(child)?),
            "comp-filter" => f.comp_filters.push(parse_comp_filter(child, depth + 1)?),
            other => return Err(valid_filter(format!("unexpected {other} in comp-filter"))),
        }
    }
    Ok(f)
}

fn parse_selection(el: &Element) -> DavResult<CompSelection> {
    let mut s = CompSelection { name: name_attr(el)?, ..Default::default() };
    for child in el.elements().filter(|c| c.ns == CALDAV) {
        match child.name.as_str() {
            "allprop" => s.all_props = true,
            "allcomp" => s.all_comps = true,
            "prop" => s.props.push(name_attr(child)?),
            "comp" => s.comps.push(parse_selection(child)?),
            _ => {}
        }
    }
    Ok(s)
}

/// The `C:calendar-data` element of a request's `D:prop` (§9.6).
pub fn parse_calendar_data(el: &Element) -> DavResult<CalendarData> {
    if let Some(ct) = el.attr("content-type")
        && !ct.eq_ignore_ascii_case("text/calendar")
    {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::Other(CALDAV, "supported-calendar-data"),
            format!("calendar-data of type {ct:?} is not supported"),
        ));
    }
    let mut data = CalendarData::default();
    for child in el.elements().filter(|c| c.ns == CALDAV) {
        match child.name.as_str() {
            "comp" => data.select = Some(parse_selection(child)?),
            "expand" => data.expand = Some(parse_bounded_range(child)?),
            "limit-recurrence-set" => data.limit_recurrence_set = Some(parse_bounded_range(child)?),
            _ => {}
        }
    }
    Ok(data)
}

/// expand and limit-recurrence-set need both bounds (§9.6.5, §9.6.6).
fn parse_bounded_range(el: &Element) -> DavResult<TimeRange> {
    let r = parse_time_range(el).map_err(|e| DavError::bad_request(e.message))?;
    if r.start.is_none() || r.end.is_none() {
        return Err(DavError::bad_request(format!("{} needs both start and end", el.name)));
    }
    Ok(r)
}

/// The whole `C:calendar-query` body.
pub fn parse_calendar_query(root: &Element) -> DavResult<CalendarQuery> {
    let mut props = Propfind::AllProp { include: vec![] };
    let mut calendar_data = None;
    let mut filter = None;
    let mut timezone = None;
    for child in root.elements() {
        match (child.ns.as_str(), child.name.as_str()) {
            (DAV, "prop") => {
                props = Propfind::Prop(child.elements().map(|e| QName::new(&e.ns, &e.name)).collect());
                if let Some(cd) = child.child(CALDAV, "calendar-data") {
                    calendar_data = Some(parse_calendar_data(cd)?);
                }
            }
            (DAV, "propname") => props = Propfind::PropName,
            (DAV, "allprop") => props = Propfind::AllProp { include: vec![] },
            (CALDAV, "filter") => filter = Some(parse_filter(child)?),
            (CALDAV, "timezone") => timezone = Some(child.text()),
            _ => {}
        }
    }
    let filter = filter.ok_or_else(|| valid_filter("calendar-query needs a filter (RFC 4791 §7.8)"))?;
    Ok(CalendarQuery { props, calendar_data, filter, timezone })
}

fn parse_filter(el: &Element) -> DavResult<CompFilter> {
    let mut comps = el.elements().filter(|c| c.is(CALDAV, "comp-filter"));
    let top = comps.next().ok_or_else(|| valid_filter("filter needs one comp-filter"))?;
    if comps.next().is_some() {
        return Err(valid_filter("filter takes exactly one comp-filter"));
    }
    let top = parse_comp_filter(top, 0)?;
    if top.name != "VCALENDAR" {
        return Err(valid_filter("the top comp-filter must name VCALENDAR"));
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::xml::parse;

    fn query(body: &str) -> DavResult<CalendarQuery> {
        parse_calendar_query(&parse(body.as_bytes()).unwrap())
    }

    const NS: &str = "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"";

    #[test]
    fn full_grammar() {
        let q = query(&format!(
            "<C:calendar-query {NS}><D:prop><D:getetag/><C:calendar-data><C:comp name=\"VCALENDAR\"><C:allprop/>\
             <C:comp name=\"VEVENT\"><C:prop name=\"SUMMARY\"/></C:comp></C:comp>\
             <C:expand start=\"20260101T000000Z\" end=\"20260201T000000Z\"/></C:calendar-data></D:prop>\
             <C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\">\
             <C:time-range start=\"20260101T000000Z\"/>\
             <C:prop-filter name=\"summary\"><C:text-match collation=\"i;octet\" negate-condition=\"yes\">x</C:text-match>\
             <C:param-filter name=\"LANGUAGE\"><C:is-not-defined/></C:param-filter></C:prop-filter>\
             </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        ))
        .unwrap();
        let ev = &q.filter.comp_filters[0];
        assert_eq!(ev.name, "VEVENT");
        assert_eq!(ev.time_range, Some(TimeRange { start: Some(1_767_225_600), end: None }));
        let pf = &ev.prop_filters[0];
        assert_eq!(pf.name, "SUMMARY");
        assert_eq!(
            pf.text_match,
            Some(TextMatch { text: "x".into(), collation: Collation::Octet, negate: true })
        );
        assert!(pf.param_filters[0].is_not_defined);
        let cd = q.calendar_data.unwrap();
        assert_eq!(cd.expand, Some(TimeRange { start: Some(1_767_225_600), end: Some(1_769_904_000) }));
        let sel = cd.select.unwrap();
        assert!(sel.all_props);
        assert_eq!(sel.comps[0].props, ["SUMMARY"]);
    }

    fn condition(r: DavResult<CalendarQuery>) -> &'static str {
        r.unwrap_err().condition.map(|c| c.element().1).unwrap_or("none")
    }

    #[test]
    fn bad_filters_name_their_precondition() {
        let wrap =
            |inner: &str| format!("<C:calendar-query {NS}><C:filter>{inner}</C:filter></C:calendar-query>");
        assert_eq!(condition(query(&wrap("<C:comp-filter name=\"VEVENT\"/>"))), "valid-filter");
        assert_eq!(
            condition(query(&wrap(
                "<C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VBOGUS\"/></C:comp-filter>"
            ))),
            "supported-filter"
        );
        let tr = |s: &str, e: &str| {
            wrap(&format!(
                "<C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\"><C:time-range start=\"{s}\" end=\"{e}\"/></C:comp-filter></C:comp-filter>"
            ))
        };
        assert_eq!(condition(query(&tr("20260201T000000Z", "20260101T000000Z"))), "valid-filter");
        assert_eq!(condition(query(&tr("2026-02-01", "20260301T000000Z"))), "valid-filter");
        let coll = wrap(
            "<C:comp-filter name=\"VCALENDAR\"><C:prop-filter name=\"X\"><C:text-match collation=\"i;klingon\">a</C:text-match></C:prop-filter></C:comp-filter>",
        );
        assert_eq!(condition(query(&coll)), "supported-collation");
        assert_eq!(condition(query(&format!("<C:calendar-query {NS}/>"))), "valid-filter");
    }

    #[test]
    fn utc_parsing() {
        assert_eq!(parse_utc("19700101T000000Z"), Some(0));
        assert_eq!(parse_utc("20260101T000000"), None, "floating is not UTC");
        assert_eq!(parse_utc("20261301T000000Z"), None);
    }
}

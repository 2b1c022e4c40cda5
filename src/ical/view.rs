//! A read-only view of components and properties for filters (RFC 4791 §9.7): names,
//! parameters and value text, as a client would compare them.

use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarValue};

/// One property as filters see it: upper-case name, parameters with their values, and the
/// value text (unescaped for TEXT values, as written otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyView {
    pub name: String,
    pub params: Params,
    pub value: String,
}

pub fn component_name(c: &ICalendarComponent) -> String {
    c.component_type.as_str().to_ascii_uppercase()
}

/// The direct sub-components of `c`, with their indices in `ical.components`.
pub fn children<'a>(
    ical: &'a ICalendar,
    c: &'a ICalendarComponent,
) -> impl Iterator<Item = (usize, &'a ICalendarComponent)> {
    c.component_ids
        .iter()
        .filter_map(|&id| ical.components.get(id as usize).map(|child| (id as usize, child)))
}

pub fn properties(c: &ICalendarComponent) -> Vec<PropertyView> {
    c.entries
        .iter()
        .filter_map(|entry| {
            let mut line = String::new();
            entry.write_to(&mut line).ok()?;
            let unfolded = line.replace("\r\n ", "").replace("\r\n\t", "");
            let (name, params, raw) = split_line(unfolded.trim_end_matches(['\r', '\n']))?;
            let texts: Vec<&str> = entry
                .values
                .iter()
                .filter_map(|v| match v {
                    ICalendarValue::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            let value =
                if !texts.is_empty() && texts.len() == entry.values.len() { texts.join(",") } else { raw };
            Some(PropertyView { name, params, value })
        })
        .collect()
}

/// Parameters of a property line, each name with its values.
type Params = Vec<(String, Vec<String>)>;

/// Splits `NAME;P=a,"b";Q=c:value` at the first colon outside quotes.
fn split_line(line: &str) -> Option<(String, Params, String)> {
    let mut in_quotes = false;
    let colon = line.char_indices().find_map(|(i, ch)| match ch {
        '"' => {
            in_quotes = !in_quotes;
            None
        }
        ':' if !in_quotes => Some(i),
        _ => None,
    })?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts.next()?.to_ascii_uppercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let values = split_unquoted(v, ',').into_iter().map(|s| s.trim_matches('"').to_owned()).collect();
            Some((k.to_ascii_uppercase(), values))
        })
        .collect();
    Some((name, params, value.to_owned()))
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_quotes) = (0, false);
    for (i, ch) in s.char_indices() {
        if ch == '"' {
            in_quotes = !in_quotes;
        } else if ch == sep && !in_quotes {
            out.push(&s[start..i]);
            start = i + ch.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_outside_quotes() {
        let (name, params, value) =
            split_line("attendee;CN=\"Doe, J\";ROLE=REQ-PARTICIPANT:mailto:j@x.org").unwrap();
        assert_eq!(name, "ATTENDEE");
        assert_eq!(
            params,
            vec![("CN".into(), vec!["Doe, J".into()]), ("ROLE".into(), vec!["REQ-PARTICIPANT".into()])]
        );
        assert_eq!(value, "mailto:j@x.org");
    }

    #[test]
    fn text_values_are_unescaped() {
        let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260101T100000Z\r\n\
                    SUMMARY:Lunch\\, with Bob\r\nCATEGORIES:A,B\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let ical = crate::ical::parse(body.as_bytes()).unwrap();
        let root = &ical.components[0];
        let (_, event) = children(&ical, root).next().unwrap();
        assert_eq!(component_name(event), "VEVENT");
        let props = properties(event);
        let summary = props.iter().find(|p| p.name == "SUMMARY").unwrap();
        assert_eq!(summary.value, "Lunch, with Bob");
        assert!(props.iter().any(|p| p.name == "DTSTART" && p.value == "20260101T100000Z"));
    }
}

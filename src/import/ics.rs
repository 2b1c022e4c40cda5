//! iCalendar files (exports of Outlook, Exchange, Google, Apple, Thunderbird) split into
//! calendar object resources (RFC 4791 §4.1): one per UID, so a recurring series — the master
//! and its RECURRENCE-ID overrides — stays together, each carrying the VTIMEZONEs its
//! components reference. VTODO and VJOURNAL are kept as such; the calendar's
//! supported-calendar-component-set decides (in validation) whether it takes them.
//!
//! Lines are copied as exported (folding included): only the grouping changes. METHOD is
//! dropped (not allowed in stored objects, RFC 4791 §4.1) as are X-WR-* calendar properties,
//! which describe the exporting calendar, not the objects.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{Entry, Item, Parsed, content_uid, property_name};

/// A content line as exported: its first physical line number, its physical lines, and the
/// unfolded text for reading names and values.
struct Logical<'a> {
    line: usize,
    raw: Vec<&'a str>,
    text: String,
}

/// One object being assembled: its components' lines and the TZIDs they use.
struct Group<'a> {
    line: usize,
    lines: Vec<Cow<'a, str>>,
    tzids: Vec<String>,
}

pub fn split(data: &[u8]) -> Parsed {
    let decoded = super::csv::encoding::decode(data);
    let logical = unfold(&decoded.text);
    let mut parsed = Parsed { format: format!("iCalendar ({})", decoded.encoding), ..Default::default() };
    let mut header: Vec<&str> = Vec::new();
    let mut timezones: HashMap<String, Vec<&str>> = HashMap::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut by_uid: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    let mut in_calendar = false;
    while i < logical.len() {
        let l = &logical[i];
        let name = property_name(&l.text);
        let value = l.text.split_once(':').map(|(_, v)| v.trim().to_ascii_uppercase()).unwrap_or_default();
        match (name.as_str(), in_calendar) {
            ("BEGIN", false) if value == "VCALENDAR" => in_calendar = true,
            ("END", true) if value == "VCALENDAR" => in_calendar = false,
            ("BEGIN", true) => {
                let end = matching_end(&logical, i, &value);
                let Some(end) = end else {
                    parsed.skipped.push(Entry::skipped(l.line, format!("{value} has no END:{value}")));
                    break;
                };
                let block = &logical[i..=end];
                match value.as_str() {
                    "VTIMEZONE" => {
                        if let Some(tzid) = first_value(block, "TZID") {
                            timezones
                                .insert(tzid, block.iter().flat_map(|b| b.raw.iter().copied()).collect());
                        }
                    }
                    "VEVENT" | "VTODO" | "VJOURNAL" => add_component(block, &mut groups, &mut by_uid),
                    other => parsed.skipped.push(Entry::skipped(
                        l.line,
                        format!("{other} is not imported: only events, tasks and journal entries are"),
                    )),
                }
                i = end;
            }
            (_, true) if keep_calendar_property(&name) => header.extend(l.raw.iter().copied()),
            (_, true) => {}
            (_, false) if l.text.trim().is_empty() => {}
            (_, false) => {
                parsed.skipped.push(Entry::skipped(l.line, "text outside BEGIN:VCALENDAR … END:VCALENDAR"))
            }
        }
        i += 1;
    }
    for g in groups {
        parsed.items.push(Item { line: g.line, body: assemble(&header, &timezones, &g).into_bytes() });
    }
    parsed
}

/// Unfolds lines (RFC 5545 §3.1) keeping the physical ones for output.
fn unfold(text: &str) -> Vec<Logical<'_>> {
    let mut out: Vec<Logical<'_>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        match (raw.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some(last)) => {
                last.raw.push(raw);
                last.text.push_str(rest);
            }
            _ => out.push(Logical { line: i + 1, raw: vec![raw], text: raw.to_owned() }),
        }
    }
    out
}

/// The index of the END matching the BEGIN at `start`, counting nested BEGIN/END pairs.
fn matching_end(logical: &[Logical<'_>], start: usize, comp: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (j, l) in logical.iter().enumerate().skip(start) {
        match property_name(&l.text).as_str() {
            "BEGIN" => depth += 1,
            "END" => {
                depth -= 1;
                if depth == 0 {
                    let v = l.text.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
                    return v.eq_ignore_ascii_case(comp).then_some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn first_value(block: &[Logical<'_>], name: &str) -> Option<String> {
    block
        .iter()
        .find(|l| property_name(&l.text) == name)
        .and_then(|l| l.text.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn keep_calendar_property(name: &str) -> bool {
    !(name == "METHOD" || name.starts_with("X-WR-") || name == "BEGIN" || name == "END" || name.is_empty())
}

/// Adds a component to the group of its UID (first seen keeps the position). A component
/// without UID gets one derived from its text, so a re-import finds it again.
fn add_component<'a>(
    block: &[Logical<'a>],
    groups: &mut Vec<Group<'a>>,
    by_uid: &mut HashMap<String, usize>,
) {
    let mut lines: Vec<Cow<'a, str>> =
        block.iter().flat_map(|b| b.raw.iter().map(|r| Cow::Borrowed(*r))).collect();
    let uid = match first_value(&block[..block.len() - 1], "UID") {
        Some(uid) => uid,
        None => {
            let text: Vec<&str> = lines.iter().map(|l| l.as_ref()).collect();
            let uid = content_uid("import", &text.join("\n"));
            lines.insert(1, Cow::Owned(format!("UID:{uid}")));
            uid
        }
    };
    let tzids: Vec<String> = block.iter().filter_map(|l| tzid_param(&l.text)).collect();
    match by_uid.get(&uid) {
        Some(&g) => {
            groups[g].lines.extend(lines);
            groups[g].tzids.extend(tzids);
        }
        None => {
            by_uid.insert(uid, groups.len());
            groups.push(Group { line: block[0].line, lines, tzids });
        }
    }
}

/// The TZID parameter of a property line (`DTSTART;TZID="W. Europe Standard Time":…`).
fn tzid_param(line: &str) -> Option<String> {
    let head_end = value_start(line)?;
    let head = &line[..head_end];
    let at = head.to_ascii_uppercase().find(";TZID=")?;
    let rest = &head[at + 6..];
    let value = match rest.strip_prefix('"') {
        Some(q) => q.split('"').next().unwrap_or(""),
        None => rest.split(';').next().unwrap_or(""),
    };
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

/// Where the value starts: the first ':' outside a quoted parameter value.
fn value_start(line: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn assemble(header: &[&str], timezones: &HashMap<String, Vec<&str>>, group: &Group<'_>) -> String {
    let mut out = String::from("BEGIN:VCALENDAR\r\n");
    let has = |name: &str| header.iter().any(|l| property_name(l) == name);
    if !has("VERSION") {
        out.push_str("VERSION:2.0\r\n");
    }
    if !has("PRODID") {
        out.push_str("PRODID:-//davit//import//EN\r\n");
    }
    for l in header {
        out.push_str(l);
        out.push_str("\r\n");
    }
    let mut done: Vec<&str> = Vec::new();
    for tzid in &group.tzids {
        if done.contains(&tzid.as_str()) {
            continue;
        }
        done.push(tzid);
        for l in timezones.get(tzid).into_iter().flatten() {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    for l in &group.lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Collection, CollectionKind, CollectionProps};

    const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
        TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
    const TOKYO: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
        TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    fn calendar() -> Collection {
        Collection {
            id: 1,
            owner_id: 1,
            parent_id: None,
            kind: CollectionKind::Calendar,
            segment: "c".into(),
            props: CollectionProps::default(),
            rev: 0,
            sync_floor: 0,
            created_at: 0,
            modified_at: 0,
        }
    }

    /// An export as Outlook on macOS / Exchange writes it: METHOD, X-WR names, the series
    /// master and its override apart, a task, a journal entry and a free/busy block.
    fn export() -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n\
             METHOD:PUBLISH\r\nX-WR-CALNAME:Work\r\n{BERLIN}{TOKYO}\
             BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n\
             DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
             SUMMARY:Weekly\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:single\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T100000Z\r\n\
             SUMMARY:Once,\r\n  folded\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n\
             RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n\
             DTSTART;TZID=Europe/Berlin:20260112T110000\r\nDURATION:PT1H\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n\
             BEGIN:VTODO\r\nUID:task\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Do\r\nEND:VTODO\r\n\
             BEGIN:VJOURNAL\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:No UID\r\nEND:VJOURNAL\r\n\
             BEGIN:VFREEBUSY\r\nUID:fb\r\nDTSTAMP:20260101T000000Z\r\nEND:VFREEBUSY\r\n\
             END:VCALENDAR\r\n"
        )
    }

    #[test]
    fn splits_by_uid_keeping_series_and_their_timezones() {
        let parsed = split(export().as_bytes());
        let bodies: Vec<String> =
            parsed.items.iter().map(|i| String::from_utf8(i.body.clone()).unwrap()).collect();
        assert_eq!(bodies.len(), 4, "{bodies:#?}");
        let series = &bodies[0];
        assert_eq!(series.matches("BEGIN:VEVENT").count(), 2, "master and override together");
        assert!(series.contains("TZID:Europe/Berlin") && !series.contains("Asia/Tokyo"), "{series}");
        assert!(!series.contains("METHOD") && !series.contains("X-WR-CALNAME"));
        assert!(bodies[1].contains("SUMMARY:Once,\r\n  folded\r\n"), "lines kept as exported");
        assert!(!bodies[1].contains("VTIMEZONE"), "a UTC event needs no time zone");
        assert!(bodies[2].contains("BEGIN:VTODO"));
        assert!(bodies[3].contains("BEGIN:VJOURNAL") && bodies[3].contains("UID:import-"));
        let lines: Vec<usize> = parsed.items.iter().map(|i| i.line).collect();
        assert_eq!(lines[0], 22);
        assert_eq!(parsed.skipped.len(), 1);
        assert!(parsed.skipped[0].reason.as_deref().unwrap().starts_with("VFREEBUSY"));
        for body in &bodies {
            crate::caldav::validate_put::validate(&calendar(), body.as_bytes())
                .unwrap_or_else(|e| panic!("{}\n{body}", e.message));
        }
        assert_eq!(split(export().as_bytes()).items, parsed.items, "derived UIDs are stable");
    }

    #[test]
    fn the_fixture_exports_split_into_valid_objects() {
        for name in ["outlook/windows-tzid-weekly.ics", "google/weekly-exdate-override.ics", "journal.ics"] {
            let data = std::fs::read(format!("{}/fixtures/ical/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let parsed = split(&data);
            assert!(!parsed.items.is_empty(), "{name}");
            for item in &parsed.items {
                crate::caldav::validate_put::validate(&calendar(), &item.body)
                    .unwrap_or_else(|e| panic!("{name}: {}", e.message));
            }
        }
    }

    #[test]
    fn unterminated_component_is_reported() {
        let parsed = split(b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\n");
        assert!(parsed.items.is_empty());
        assert_eq!(parsed.skipped[0].line, 2);
    }
}

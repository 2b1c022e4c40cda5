//! What a public feed shows: the privacy rules and the assembly of one VCALENDAR out of the
//! calendar's stored objects, written piece by piece so it can be streamed.
//!
//! Per stored object (each is parsed with `ical::parse`; one that does not parse is skipped
//! with a warning, the rest is served):
//! * Only VEVENT, VTODO and VJOURNAL components are published, without sub-components:
//!   VALARMs are the owner's reminders, not part of the published schedule (a subscriber sets
//!   their own), and an EMAIL alarm names attendees.
//! * The effective class of a component is the stricter of its own CLASS and its series
//!   master's (a series marked private stays private in every instance). RFC 5545 §3.8.1.3:
//!   a CLASS value the server does not know is treated as PRIVATE.
//! * PRIVATE: never published. A private override of a published series also becomes an
//!   EXDATE on the master, or the master's rule would show that instance with its details.
//! * CONFIDENTIAL, and every component in busy-only mode: a VEVENT keeps only its identity and
//!   times (see [`BUSY_KEEP`]) and gets `SUMMARY:Busy`; VTODOs and VJOURNALs, which occupy no
//!   time, are not published at all.
//! * ATTENDEE and ORGANIZER are removed unless the owner opted in (`show_attendees`).
//! * VTIMEZONEs: only those the published components reference, each TZID once for the whole
//!   feed (the first definition wins), written just before the first component that uses it,
//!   so a reader that resolves TZIDs as it goes finds each zone defined before use.

use crate::ical::serialize::fold;
use std::collections::{BTreeSet, HashSet};

use crate::ical::serialize;
use crate::ical::view::{children, component_name};
use crate::ical::{ICalendar, ICalendarComponent, IcalError};
use crate::store::{Collection, FeedSettings};

/// Properties a busy-time (CONFIDENTIAL or busy-only) VEVENT keeps.
pub const BUSY_KEEP: &[&str] = &[
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "SEQUENCE",
    "TRANSP",
    "STATUS",
];

/// Properties that carry participants' calendar addresses (e-mail addresses).
const PARTICIPANTS: &[&str] = &["ATTENDEE", "ORGANIZER"];

/// How often subscribers are advised to refresh (RFC 7986 §5.7 and its older X- spelling).
pub const REFRESH: &str = "PT1H";

/// The end of every feed.
pub const FOOTER: &str = "END:VCALENDAR\r\n";

/// Lines are folded at 75 octets (RFC 5545 §3.1).
/// VTIMEZONE › STANDARD/DAYLIGHT is two levels; anything deeper is not copied.
const MAX_DEPTH: usize = 8;

/// Builds `SUMMARY:Busy` and EXDATE entries by cloning parsed ones, so nothing here has to
/// name calcard's types (`ical` is the only module that does).
const TEMPLATE: &str = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Busy\r\nEXDATE:20000101T000000Z\r\n\
                        END:VEVENT\r\nEND:VCALENDAR\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Public,
    Confidential,
    Private,
}

/// What one object contributed to the feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub components: usize,
    pub timezones: usize,
}

/// Renders the objects of one feed in order, remembering which VTIMEZONEs it already wrote.
pub struct Renderer {
    settings: FeedSettings,
    zones_written: HashSet<String>,
    template: ICalendarComponent,
}

impl Renderer {
    pub fn new(settings: &FeedSettings) -> Renderer {
        // A constant input, covered by the tests below.
        let parsed = crate::ical::parse(TEMPLATE.as_bytes()).expect("the template parses");
        let template = parsed.components.get(1).cloned().expect("the template has a VEVENT");
        Renderer { settings: settings.clone(), zones_written: HashSet::new(), template }
    }

    /// Appends the published form of one stored object to `out`. A body that does not parse is
    /// an error and appends nothing.
    pub fn object(&mut self, body: &[u8], out: &mut String) -> Result<Written, IcalError> {
        let ical = crate::ical::parse(body)?;
        let Some(root) = ical.components.first() else { return Ok(Written::default()) };
        let mut zones: Vec<(String, usize)> = Vec::new();
        let mut items: Vec<&ICalendarComponent> = Vec::new();
        for (index, child) in children(&ical, root) {
            match component_name(child).as_str() {
                "VTIMEZONE" => {
                    if let Some(tzid) = text_of(child, "TZID") {
                        zones.push((tzid, index));
                    }
                }
                "VEVENT" | "VTODO" | "VJOURNAL" => items.push(child),
                _ => {}
            }
        }
        let published = self.publish(&items);
        let used: BTreeSet<&str> =
            published.iter().flat_map(|c| c.entries.iter()).filter_map(|e| e.tz_id()).collect();
        let mut written = Written::default();
        for (tzid, index) in zones {
            if used.contains(tzid.as_str()) && !self.zones_written.contains(&tzid) {
                out.push_str(&serialize::write(&subtree(&ical, index)));
                self.zones_written.insert(tzid);
                written.timezones += 1;
            }
        }
        for component in published {
            out.push_str(&serialize::write(&ICalendar { components: vec![component] }));
            written.components += 1;
        }
        Ok(written)
    }

    /// The components to publish, already reduced, without sub-components.
    fn publish(&self, items: &[&ICalendarComponent]) -> Vec<ICalendarComponent> {
        let is_override = |c: &ICalendarComponent| has(c, "RECURRENCE-ID");
        let master_class =
            items.iter().find(|c| !is_override(c)).map(|c| class_of(c)).unwrap_or(Class::Public);
        let mut published = Vec::new();
        let mut master_at = None;
        let mut exdates = Vec::new();
        for component in items {
            let class = class_of(component).max(master_class);
            let reduce = class == Class::Confidential || self.settings.busy_only;
            if class == Class::Private {
                // Hide the instance itself, not only the override's details.
                if let Some(rid) =
                    component.entries.iter().find(|e| is_named(e.name.as_str(), "RECURRENCE-ID"))
                {
                    let mut exdate = rid.clone();
                    exdate.name = self.template.entries[1].name.clone();
                    exdate.params.retain(|p| !p.name.as_str().eq_ignore_ascii_case("RANGE"));
                    exdates.push(exdate);
                }
                continue;
            }
            if reduce && component_name(component) != "VEVENT" {
                continue;
            }
            let mut copy = ICalendarComponent {
                component_type: component.component_type.clone(),
                entries: Vec::with_capacity(component.entries.len()),
                component_ids: Vec::new(),
            };
            for entry in &component.entries {
                let name = entry.name.as_str();
                let keep = if reduce {
                    BUSY_KEEP.iter().any(|k| is_named(name, k))
                } else {
                    self.settings.show_attendees || !PARTICIPANTS.iter().any(|p| is_named(name, p))
                };
                if keep {
                    copy.entries.push(entry.clone());
                }
            }
            if reduce {
                copy.entries.push(self.template.entries[0].clone());
            }
            if !is_override(component) {
                master_at.get_or_insert(published.len());
            }
            published.push(copy);
        }
        if let Some(at) = master_at {
            published[at].entries.extend(exdates);
        }
        published
    }
}

fn is_named(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

fn has(component: &ICalendarComponent, name: &str) -> bool {
    component.entries.iter().any(|e| is_named(e.name.as_str(), name))
}

/// The first value of the first `name` property, as text.
fn text_of(component: &ICalendarComponent, name: &str) -> Option<String> {
    component
        .entries
        .iter()
        .find(|e| is_named(e.name.as_str(), name))
        .and_then(|e| e.values.first())
        .and_then(|v| v.as_text())
        .map(str::to_owned)
}

/// The strictest CLASS of the component; none = PUBLIC (RFC 5545 §3.8.1.3's default).
fn class_of(component: &ICalendarComponent) -> Class {
    component
        .entries
        .iter()
        .filter(|e| is_named(e.name.as_str(), "CLASS"))
        .map(|e| match e.values.first().and_then(|v| v.as_text()) {
            Some(v) if v.eq_ignore_ascii_case("PUBLIC") => Class::Public,
            Some(v) if v.eq_ignore_ascii_case("CONFIDENTIAL") => Class::Confidential,
            // PRIVATE, and any value not understood (§3.8.1.3 says: treat it as PRIVATE).
            _ => Class::Private,
        })
        .max()
        .unwrap_or(Class::Public)
}

/// Component `index` with its sub-components, as an object of its own (for writing).
fn subtree(ical: &ICalendar, index: usize) -> ICalendar {
    fn copy(from: &ICalendar, index: usize, to: &mut ICalendar, depth: usize) -> u32 {
        let source = &from.components[index];
        let at = to.components.len();
        to.components.push(ICalendarComponent {
            component_type: source.component_type.clone(),
            entries: source.entries.clone(),
            component_ids: Vec::new(),
        });
        if depth < MAX_DEPTH {
            let kids: Vec<u32> = source
                .component_ids
                .iter()
                .filter(|&&id| (id as usize) < from.components.len())
                .map(|&id| copy(from, id as usize, to, depth + 1))
                .collect();
            to.components[at].component_ids = kids;
        }
        at as u32
    }
    let mut out = ICalendar { components: Vec::new() };
    if index < ical.components.len() {
        copy(ical, index, &mut out, 0);
    }
    out
}

/// The feed's first lines: the calendar's name and the refresh advice.
pub fn header(collection: &Collection) -> String {
    let name = collection
        .props
        .displayname
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&collection.segment);
    let mut out = String::with_capacity(512);
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        &format!("PRODID:{}", serialize::PRODID),
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        fold(line, &mut out);
    }
    fold(&format!("NAME:{}", escape_text(name)), &mut out);
    fold(&format!("X-WR-CALNAME:{}", escape_text(name)), &mut out);
    if let Some(description) = collection.props.description.as_deref().filter(|d| !d.trim().is_empty()) {
        fold(&format!("X-WR-CALDESC:{}", escape_text(description)), &mut out);
    }
    fold(&format!("REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}"), &mut out);
    fold(&format!("X-PUBLISHED-TTL:{REFRESH}"), &mut out);
    out
}

/// RFC 5545 §3.3.11 TEXT escaping; control characters other than tab, which TEXT cannot
/// hold, are dropped.
fn escape_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CollectionKind;

    fn settings(busy_only: bool, show_attendees: bool) -> FeedSettings {
        FeedSettings { busy_only, show_attendees }
    }

    fn calendar(parts: &[&str]) -> Vec<u8> {
        let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n");
        for p in parts {
            for line in p.lines() {
                s.push_str(line.trim());
                s.push_str("\r\n");
            }
        }
        s.push_str("END:VCALENDAR\r\n");
        s.into_bytes()
    }

    const BERLIN: &str = "BEGIN:VTIMEZONE
        TZID:Europe/Berlin
        BEGIN:STANDARD
        DTSTART:19701025T030000
        RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
        TZOFFSETFROM:+0200
        TZOFFSETTO:+0100
        END:STANDARD
        BEGIN:DAYLIGHT
        DTSTART:19700329T020000
        RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
        TZOFFSETFROM:+0100
        TZOFFSETTO:+0200
        END:DAYLIGHT
        END:VTIMEZONE";

    const UNUSED_ZONE: &str = "BEGIN:VTIMEZONE
        TZID:Asia/Tokyo
        BEGIN:STANDARD
        DTSTART:19700101T000000
        TZOFFSETFROM:+0900
        TZOFFSETTO:+0900
        END:STANDARD
        END:VTIMEZONE";

    fn event(uid: &str, class: Option<&str>) -> String {
        let class = class.map(|c| format!("CLASS:{c}\n")).unwrap_or_default();
        format!(
            "BEGIN:VEVENT
            UID:{uid}
            DTSTAMP:20260101T000000Z
            DTSTART;TZID=Europe/Berlin:20260105T100000
            DTEND;TZID=Europe/Berlin:20260105T110000
            {class}SUMMARY:Secret plans {uid}
            DESCRIPTION:Details
            LOCATION:Room 1
            ORGANIZER;CN=Boss:mailto:boss@example.org
            ATTENDEE;CN=Ann:mailto:ann@example.org
            BEGIN:VALARM
            ACTION:DISPLAY
            DESCRIPTION:Reminder
            TRIGGER:-PT15M
            END:VALARM
            END:VEVENT"
        )
    }

    fn render(settings: &FeedSettings, bodies: &[Vec<u8>]) -> String {
        let mut r = Renderer::new(settings);
        let mut out = String::new();
        for b in bodies {
            r.object(b, &mut out).unwrap();
        }
        out
    }

    fn unfolded(text: &str) -> Vec<String> {
        text.replace("\r\n ", "").split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn template_parses() {
        let r = Renderer::new(&settings(false, false));
        assert_eq!(r.template.entries[0].name.as_str(), "SUMMARY");
        assert_eq!(r.template.entries[1].name.as_str(), "EXDATE");
    }

    #[test]
    fn public_event_keeps_details_but_not_attendees_or_alarms() {
        let out = render(&settings(false, false), &[calendar(&[BERLIN, &event("a", None)])]);
        let lines = unfolded(&out);
        assert!(lines.contains(&"SUMMARY:Secret plans a".to_owned()), "{out}");
        assert!(lines.contains(&"LOCATION:Room 1".to_owned()));
        assert!(!out.contains("mailto:"), "{out}");
        assert!(!out.contains("VALARM"), "{out}");
        assert_eq!(out.matches("BEGIN:VTIMEZONE").count(), 1);
        assert!(out.find("BEGIN:VTIMEZONE") < out.find("BEGIN:VEVENT"), "zone before its first use");
        let with = render(&settings(false, true), &[calendar(&[BERLIN, &event("a", None)])]);
        assert!(with.contains("ATTENDEE;CN=Ann:mailto:ann@example.org"), "{with}");
        assert!(with.contains("ORGANIZER;CN=Boss:mailto:boss@example.org"), "{with}");
    }

    #[test]
    fn private_is_dropped_confidential_is_busy() {
        let bodies = [
            calendar(&[BERLIN, &event("private", Some("PRIVATE"))]),
            calendar(&[BERLIN, &event("conf", Some("CONFIDENTIAL"))]),
            calendar(&[BERLIN, &event("unknown", Some("X-SECRET"))]),
        ];
        let out = render(&settings(false, true), &bodies);
        assert!(!out.contains("UID:private"), "{out}");
        assert!(!out.contains("UID:unknown"), "an unknown class is private: {out}");
        let lines = unfolded(&out);
        let event: Vec<&String> =
            lines.iter().skip_while(|l| *l != "BEGIN:VEVENT").take_while(|l| *l != "END:VEVENT").collect();
        assert_eq!(
            event,
            [
                "BEGIN:VEVENT",
                "UID:conf",
                "DTSTAMP:20260101T000000Z",
                "DTSTART;TZID=Europe/Berlin:20260105T100000",
                "DTEND;TZID=Europe/Berlin:20260105T110000",
                "SUMMARY:Busy",
            ]
        );
        assert!(!out.contains("mailto:"), "busy time never names people, even when opted in: {out}");
        assert_eq!(out.matches("BEGIN:VTIMEZONE").count(), 1, "zones once per feed: {out}");
    }

    #[test]
    fn busy_only_reduces_everything_and_drops_tasks() {
        let todo = "BEGIN:VTODO\nUID:t\nDTSTAMP:20260101T000000Z\nSUMMARY:Buy milk\nEND:VTODO";
        let out = render(&settings(true, true), &[calendar(&[BERLIN, &event("a", None)]), calendar(&[todo])]);
        assert!(out.contains("SUMMARY:Busy"));
        assert!(!out.contains("Secret") && !out.contains("Room 1") && !out.contains("Details"), "{out}");
        assert!(!out.contains("VTODO") && !out.contains("milk"), "{out}");
    }

    #[test]
    fn private_override_becomes_an_exdate_of_the_master() {
        let series = calendar(&[
            "BEGIN:VEVENT
            UID:s
            DTSTAMP:20260101T000000Z
            DTSTART:20260105T100000Z
            DURATION:PT1H
            RRULE:FREQ=DAILY;COUNT=5
            SUMMARY:Standup
            END:VEVENT",
            "BEGIN:VEVENT
            UID:s
            DTSTAMP:20260101T000000Z
            RECURRENCE-ID;RANGE=THISANDFUTURE:20260107T100000Z
            DTSTART:20260107T150000Z
            DURATION:PT1H
            CLASS:PRIVATE
            SUMMARY:Doctor
            END:VEVENT",
        ]);
        let out = render(&settings(false, false), &[series]);
        assert!(!out.contains("Doctor"), "{out}");
        assert_eq!(out.matches("BEGIN:VEVENT").count(), 1);
        assert!(unfolded(&out).contains(&"EXDATE:20260107T100000Z".to_owned()), "{out}");
        // A private master hides the whole series, overrides included.
        let private_series = calendar(&[
            "BEGIN:VEVENT\nUID:p\nDTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nCLASS:PRIVATE\nEND:VEVENT",
            "BEGIN:VEVENT\nUID:p\nRECURRENCE-ID:20260106T100000Z\nDTSTART:20260106T120000Z\nEND:VEVENT",
        ]);
        assert_eq!(render(&settings(false, false), &[private_series]), "");
        // A confidential master makes its overrides busy too.
        let confidential = calendar(&[
            "BEGIN:VEVENT\nUID:c\nDTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nCLASS:CONFIDENTIAL\nEND:VEVENT",
            "BEGIN:VEVENT\nUID:c\nRECURRENCE-ID:20260106T100000Z\nDTSTART:20260106T120000Z\nSUMMARY:Talk\nEND:VEVENT",
        ]);
        let out = render(&settings(false, false), &[confidential]);
        assert!(!out.contains("Talk") && out.matches("SUMMARY:Busy").count() == 2, "{out}");
    }

    #[test]
    fn only_used_zones_each_once() {
        let floating = "BEGIN:VEVENT\nUID:f\nDTSTART:20260105T100000\nEND:VEVENT";
        let out = render(
            &settings(false, false),
            &[
                calendar(&[UNUSED_ZONE, floating]),
                calendar(&[BERLIN, UNUSED_ZONE, &event("a", None)]),
                calendar(&[BERLIN, &event("b", None)]),
            ],
        );
        assert!(!out.contains("Asia/Tokyo"), "{out}");
        assert_eq!(out.matches("TZID:Europe/Berlin\r\n").count(), 1, "{out}");
        assert_eq!(out.matches("BEGIN:STANDARD").count(), 1, "the zone's sub-components come along");
        // The concatenation is a valid calendar.
        let whole = format!("{}{out}{FOOTER}", header(&collection(None)));
        let parsed = crate::ical::parse(whole.as_bytes()).unwrap();
        assert_eq!(children(&parsed, &parsed.components[0]).count(), 4);
    }

    #[test]
    fn broken_objects_are_errors_that_append_nothing() {
        let mut r = Renderer::new(&settings(false, false));
        let mut out = String::new();
        assert!(r.object(b"garbage", &mut out).is_err());
        assert!(r.object(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", &mut out).is_err());
        assert!(out.is_empty());
    }

    fn collection(displayname: Option<&str>) -> Collection {
        Collection {
            id: 1,
            owner_id: 1,
            parent_id: Some(1),
            kind: CollectionKind::Calendar,
            segment: "calendar".into(),
            props: crate::store::CollectionProps {
                displayname: displayname.map(str::to_owned),
                description: Some("Line one\nline; two, three".into()),
                ..Default::default()
            },
            rev: 1,
            sync_floor: 0,
            created_at: 0,
            modified_at: 0,
        }
    }

    #[test]
    fn header_escapes_and_folds() {
        let long = "Öffentlicher Kalender, Team \\ Süd; ".repeat(4);
        let text = header(&collection(Some(&long)));
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
        let lines = unfolded(&text);
        assert!(lines.contains(&"X-WR-CALDESC:Line one\\nline\\; two\\, three".to_owned()), "{text}");
        let name = lines.iter().find(|l| l.starts_with("X-WR-CALNAME:")).unwrap();
        assert!(name.contains("Kalender\\, Team \\\\ Süd\\;"), "{name}");
        assert!(lines.contains(&"REFRESH-INTERVAL;VALUE=DURATION:PT1H".to_owned()));
        assert!(lines.contains(&"X-PUBLISHED-TTL:PT1H".to_owned()));
        let fallback = header(&collection(Some("  ")));
        assert!(fallback.contains("X-WR-CALNAME:calendar\r\n"), "{fallback}");
        let parsed = crate::ical::parse(format!("{text}{FOOTER}").as_bytes()).unwrap();
        let props = crate::ical::view::properties(&parsed.components[0]);
        let calname = props.iter().find(|p| p.name == "X-WR-CALNAME").unwrap();
        assert_eq!(calname.value, long.trim(), "round trip through a parser");
    }
}

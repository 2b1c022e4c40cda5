//! Entry points of the coverage-guided fuzz targets in `fuzz/` (issue #9, hostile input).
//!
//! Each function feeds arbitrary bytes to the production code a request reaches — never a
//! copy of it — the way the request handlers chain it. Any outcome is fine, an answer or a
//! refusal, except a panic, and the functions panic themselves only where davit breaks one of
//! its own documented promises (what it parses it can write back and read again, what it
//! serves it can read). Bounds are those of production: no range or count here is larger than
//! a request can ask for.
//!
//! The same functions replay the committed seeds and every input a fuzzer ever failed on
//! (`fuzz/regressions/`) in the normal `cargo test`, so a target cannot rot unnoticed.

use std::sync::OnceLock;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::caldav::calendar_data;
use crate::caldav::filter::Evaluator;
use crate::caldav::freebusy;
use crate::caldav::request::{CalendarData, CompSelection, TimeRange};
use crate::caldav::validate_put::{self, MAX_INSTANCES};
use crate::carddav::address_data;
use crate::carddav::request::AddressData;
use crate::dav::body;
use crate::dav::conditional::{self, Validators};
use crate::dav::headers::{self, RequestHeaders};
use crate::dav::names::CALDAV;
use crate::dav::paths::{self, DavPath, Hrefs};
use crate::dav::report::{self, Report};
use crate::dav::xml;
use crate::feeds::render::Renderer;
use crate::ical::{self, ICalendar};
use crate::store::{Collection, CollectionKind, CollectionProps, FeedSettings};
use crate::vcard::{self, Version};

/// Seconds in a day, for the ranges below.
const DAY: i64 = 86_400;

/// Stored objects a REPORT body is evaluated against, as a calendar-query or multiget would.
const CALENDARS: &[&[u8]] = &[
    include_bytes!("../fixtures/ical/google/weekly-exdate-override.ics"),
    include_bytes!("../fixtures/ical/floating.ics"),
    include_bytes!("../fixtures/ical/tasks/vtodo-due-related.ics"),
    include_bytes!("../fixtures/ical/outlook/windows-tzid-weekly.ics"),
];

/// Stored cards an addressbook-query or address-data is evaluated against.
const CARDS: &[&[u8]] = &[
    include_bytes!("../fixtures/vcard/3.0/macos-contacts.vcf"),
    include_bytes!("../fixtures/vcard/4.0/thunderbird.vcf"),
    include_bytes!("../fixtures/vcard/2.1/outlook.vcf"),
];

fn stored_calendars() -> &'static [(&'static [u8], ICalendar)] {
    static PARSED: OnceLock<Vec<(&'static [u8], ICalendar)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        CALENDARS.iter().map(|body| (*body, ical::parse(body).expect("the fixture parses"))).collect()
    })
}

/// A calendar collection as PUT sees it: the defaults of a new calendar.
fn calendar(timezone: Option<String>) -> Collection {
    Collection {
        id: 1,
        owner_id: 1,
        parent_id: None,
        kind: CollectionKind::Calendar,
        segment: "calendar".into(),
        props: CollectionProps { timezone, ..CollectionProps::default() },
        rev: 7,
        sync_floor: 2,
        created_at: 0,
        modified_at: 0,
    }
}

/// The DAV request bodies: PROPFIND, PROPPATCH, extended MKCOL and MKCALENDAR, and every
/// REPORT; a parsed REPORT is then evaluated against stored objects as its handler does.
pub fn xml_request(data: &[u8]) {
    let _ = body::parse_propfind(data);
    if let Ok(root) = xml::parse(data) {
        reads_back(&root);
    }
    // Property values PROPPATCH and MKCOL/MKCALENDAR would store.
    let updates = body::parse_propertyupdate(data).unwrap_or_default();
    let created = [false, true].map(|calendar| body::parse_mkcol_body(data, calendar).unwrap_or_default());
    for value in updates.iter().filter_map(|u| u.value.as_ref()).chain(created.iter().flatten()) {
        reads_back(value);
        if value.is(CALDAV, "calendar-timezone") {
            let _ = crate::caldav::floating_zone(&calendar(Some(value.text())), None);
        }
    }
    match report::parse_report(data) {
        Ok(Report::CalendarQuery(query)) => {
            let tz = crate::caldav::floating_zone(&calendar(None), query.timezone.as_deref());
            for (stored, parsed) in stored_calendars() {
                if Evaluator::new(parsed, tz).matches(&query.filter)
                    && let Some(spec) = &query.calendar_data
                {
                    let _ = calendar_data::render(stored, spec, tz);
                }
            }
        }
        Ok(Report::Multiget { calendar_data, address_data, .. }) => {
            if let Some(spec) = calendar_data {
                for (stored, _) in stored_calendars() {
                    let _ = calendar_data::render(stored, &spec, chrono_tz::UTC);
                }
            }
            if let Some(spec) = address_data {
                for stored in CARDS {
                    let _ = address_data::render(stored, &spec);
                }
            }
        }
        Ok(Report::AddressbookQuery(query)) => {
            for stored in CARDS {
                let card = vcard::parse(stored).expect("the fixture parses");
                if crate::carddav::filter::matches(&query.filter, &vcard::properties(&card))
                    && let Some(spec) = &query.address_data
                {
                    let _ = address_data::render(stored, spec);
                }
            }
        }
        Ok(Report::FreeBusyQuery(query)) => {
            for (_, parsed) in stored_calendars() {
                let _ = freebusy::busy_time(parsed, query, chrono_tz::UTC);
            }
        }
        Ok(Report::SyncCollection { token, .. }) => {
            let _ = crate::sync::parse_token(&token, &calendar(None));
        }
        // Principal searches are parsed into typed values; evaluating them needs a store.
        Ok(
            Report::PrincipalPropertySearch(_)
            | Report::PrincipalSearchPropertySet
            | Report::PrincipalMatch(_),
        ) => {}
        Err(_) => {}
    }
}

/// Dead properties are stored as [`xml::Element::to_xml`] and served verbatim: they must read
/// back equal. The element limit is lifted because `to_xml` declares a namespace on every
/// element, which a hostile body need not do.
fn reads_back(element: &xml::Element) {
    let written = element.to_xml();
    match xml::parse_with_limit(written.as_bytes(), usize::MAX) {
        Ok(again) => assert_eq!(&again, element, "to_xml does not read back equal: {written}"),
        Err(e) => panic!("to_xml wrote what parse refuses ({e}): {written}"),
    }
}

/// A calendar object PUT (RFC 4791 §5.3.2) and everything later done with a stored one:
/// instance expansion over a bounded window, calendar-data in its re-serialised forms, the
/// public feed, free-busy. Also the body as a `calendar-timezone` property value.
pub fn icalendar(data: &[u8]) {
    let zone = ical::calendar_timezone(data).ok();
    let coll = calendar(zone.is_some().then(|| String::from_utf8_lossy(data).into_owned()));
    let Ok(index) = validate_put::validate(&coll, data) else { return };
    let parsed = ical::parse(data).expect("a body PUT accepted parses");
    let info = ical::inspect(&parsed).expect("a body PUT accepted is a calendar object");
    assert_eq!(index.uid.as_deref(), Some(info.uid.as_str()));

    // What calendar-data and the feed serve must read back as the same object.
    let written = ical::serialize::write(&parsed);
    match ical::parse(written.as_bytes()).map(|again| ical::inspect(&again)) {
        Ok(Ok(again)) => assert_eq!(again, info, "re-serialised object differs:\n{written}"),
        Ok(Err(e)) | Err(e) => panic!("re-serialised object is refused ({e}):\n{written}"),
    }

    let floating = crate::caldav::floating_zone(&coll, None);
    let from = info.first_start.unwrap_or(0);
    let to = from.saturating_add(400 * DAY);
    let _ = ical::instances(&parsed, Some(from), Some(to), floating, MAX_INSTANCES);
    let _ = ical::instances(&parsed, None, Some(to), chrono_tz::Europe::Berlin, MAX_INSTANCES);
    for component in 0..parsed.components.len() {
        let _ = ical::todo_times(&parsed, component, floating);
    }
    let range = Some(TimeRange { start: Some(from), end: Some(from.saturating_add(60 * DAY)) });
    let selection = CompSelection {
        name: "VCALENDAR".into(),
        all_props: true,
        comps: ["VEVENT", "VTODO", "VJOURNAL", "VTIMEZONE"]
            .into_iter()
            .map(|name| CompSelection {
                name: name.into(),
                props: vec!["DTSTART".into(), "DTEND".into(), "RRULE".into(), "SUMMARY".into()],
                all_comps: true,
                ..CompSelection::default()
            })
            .collect(),
        ..CompSelection::default()
    };
    for spec in [
        CalendarData { select: Some(selection), expand: range, ..CalendarData::default() },
        CalendarData { limit_recurrence_set: range, ..CalendarData::default() },
    ] {
        let _ = calendar_data::render(data, &spec, floating);
    }
    let query = freebusy::FreeBusyQuery { start: from, end: from.saturating_add(30 * DAY) };
    let _ = freebusy::busy_time(&parsed, query, floating);
    for settings in [
        FeedSettings { busy_only: false, show_attendees: true },
        FeedSettings { busy_only: true, show_attendees: false },
    ] {
        let mut out = String::new();
        let _ = Renderer::new(&settings).object(data, &mut out);
    }
}

/// A vCard PUT (RFC 6352 §6.3.2), its index, and every form address-data or a GET with
/// `Accept` can serve it in, each of which davit must be able to read again.
pub fn vcard(data: &[u8]) {
    let Ok(index) = crate::carddav::validate_put::validate(data) else { return };
    let card = vcard::parse(data).expect("a body PUT accepted parses");
    assert_eq!(index.uid.as_deref(), Some(card.uid()));
    let _ = vcard::properties(&card);
    for to in [Version::V3, Version::V4] {
        let converted = vcard::convert(&card, to);
        match vcard::parse(converted.as_bytes()) {
            Ok(again) => assert_eq!(again.uid(), card.uid(), "conversion changed the UID:\n{converted}"),
            Err(e) => panic!("conversion to {to:?} is refused ({e}):\n{converted}"),
        }
        for props in [vec![], vec!["FN".to_owned(), "EMAIL".to_owned(), "PHOTO".to_owned()]] {
            let spec = AddressData { version: Some(to), props };
            let served = address_data::render(data, &spec).expect("an accepted card renders");
            if spec.props.is_empty() && card.needs_conversion(to) {
                assert_eq!(served, converted);
            }
        }
    }
}

/// A CSV contacts import as `davit import` and the API run it: decode → detect the vendor →
/// map the columns → vCard. Every card the importer makes must be one PUT accepts (else the
/// import would skip its own output), carry its derived UID, and the same bytes must give the
/// same cards (the stable UIDs re-imports rely on). Bounded like production: files over the
/// import limits are refused before they are read.
pub fn csv_import(data: &[u8]) {
    if crate::import::limits::check(data).is_err() {
        return;
    }
    let parsed = crate::import::csv::read(data);
    for item in &parsed.items {
        let index = crate::carddav::validate_put::validate(&item.body).unwrap_or_else(|e| {
            panic!(
                "the importer made a card PUT refuses ({}):\n{}",
                e.message,
                String::from_utf8_lossy(&item.body)
            )
        });
        assert!(index.uid.as_deref().is_some_and(|u| u.starts_with("csv-")), "{:?}", index.uid);
    }
    assert_eq!(crate::import::csv::read(data).items, parsed.items, "the same file read twice differs");
}

/// Request paths: parse, build the href of what was parsed, parse that again to the same
/// resource. The first byte picks the configured `base_path`; the rest is the path. Also
/// the path of a Destination header.
pub fn url_path(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(raw) = std::str::from_utf8(rest) else { return };
    let base = ["", "/base", "/dav"][usize::from(pick % 3)];
    if let Ok((path, trailing)) = paths::parse(base, raw) {
        let href = paths::href_for(&Hrefs::new(base), &path, trailing);
        match paths::parse(base, &href) {
            Ok((again, again_trailing)) => {
                assert_eq!(again, path, "{raw:?} → {href:?} names another resource");
                if matches!(&path, DavPath::InHome { rest, .. } if !rest.is_empty()) {
                    assert_eq!(again_trailing, trailing, "{raw:?} → {href:?} changed the trailing slash");
                }
            }
            Err(e) => panic!("the href {href:?} built for {raw:?} does not parse: {e}"),
        }
    }
    for segment in raw.split('/') {
        if let Ok(decoded) = paths::decode_segment(segment) {
            let encoded = paths::encode_segment(&decoded);
            assert_eq!(paths::decode_segment(&encoded).as_ref(), Ok(&decoded), "{segment:?} → {encoded:?}");
        }
    }
    if let Ok(uri) = raw.parse::<http::Uri>() {
        let _ = paths::parse(base, uri.path());
    }
}

/// The `Authorization` header and the other request headers davit interprets: Depth,
/// Overwrite, If-Match/If-None-Match, the dates, If, Destination, Prefer/Brief, Accept. The
/// whole input is one Authorization value; its lines are also read as `name: value` headers.
pub fn auth_header(data: &[u8]) {
    if let Some(creds) = crate::auth::parse_basic(data) {
        assert!(!creds.login.is_empty() && !creds.login.contains(':'), "{creds:?}");
        assert!(!creds.login.contains('\0') && !creds.password.contains('\0'), "{creds:?}");
        let pair = format!("{}:{}", creds.login, creds.password);
        let again = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
        if again.len() <= crate::auth::basic::MAX_HEADER_LEN {
            assert_eq!(crate::auth::parse_basic(again.as_bytes()).as_ref(), Some(&creds));
        }
    }
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = headers::parse_if(text);
        let _ = headers::parse_entity_tag(text);
        if let Some(time) = headers::parse_http_date(text) {
            let formatted = headers::format_http_date(time);
            assert_eq!(headers::parse_http_date(&formatted), Some(time), "{text:?} → {formatted:?}");
        }
        let _ = address_data::preferred_version(text);
    }
    let Ok(parsed) = RequestHeaders::parse(&map) else { return };
    let current = Validators { exists: true, etag: Some("abc".into()), last_modified: Some(1_700_000_000) };
    let lookup = |tag: &str| tag.ends_with(".ics").then(|| current.clone());
    for v in [&current, &Validators::default()] {
        for safe in [false, true] {
            let _ = conditional::evaluate(&parsed, v, safe);
        }
        let _ = conditional::evaluate_if(&parsed, v, &lookup);
        let _ = conditional::expect_for_write(&parsed, v);
    }
    if let Some(destination) = &parsed.destination
        && let Ok(uri) = destination.parse::<http::Uri>()
    {
        let _ = paths::parse("", uri.path());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every file below `dir` (recursively), as (path, bytes).
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else { return out };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        out
    }

    /// Runs `target` on the seeds and regression inputs of `name`, plus the fixtures given.
    fn replay(name: &str, fixtures: &[&str], target: fn(&[u8])) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("fuzz/seeds").join(name), root.join("fuzz/regressions").join(name)];
        dirs.extend(fixtures.iter().map(|f| root.join(f)));
        let inputs: Vec<_> = dirs.iter().flat_map(|d| files(d)).collect();
        assert!(!inputs.is_empty(), "no inputs for {name}");
        for (path, bytes) in inputs {
            // The panic message follows this line in the test output.
            eprintln!("{name}: {path}");
            target(&bytes);
        }
    }

    #[test]
    fn xml_request_inputs_replay() {
        replay("xml_request", &["fixtures/hostile"], xml_request);
    }

    #[test]
    fn icalendar_inputs_replay() {
        replay("icalendar", &["fixtures/ical"], icalendar);
    }

    #[test]
    fn vcard_inputs_replay() {
        replay("vcard", &["fixtures/vcard"], vcard);
    }

    #[test]
    fn csv_import_inputs_replay() {
        replay("csv_import", &["fixtures/csv"], csv_import);
    }

    #[test]
    fn url_path_inputs_replay() {
        replay("url_path", &[], url_path);
    }

    #[test]
    fn auth_header_inputs_replay() {
        replay("auth_header", &[], auth_header);
    }
}

//! The calendar-query REPORT (RFC 4791 §7.8): candidates come from the index (component
//! type and occurrence span), and only candidates are parsed and filtered exactly.

use http::StatusCode;

use super::filter::Evaluator;
use super::request::{CalendarQuery, CompFilter, TimeRange};
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::headers::Depth;
use crate::dav::methods::{Content, describe_object_into};
use crate::dav::multistatus::{Multistatus, MultistatusWriter};
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response, multistatus_xml_response};
use crate::ical;
use crate::store::{Candidate, CollectionKind, TimeSpan};

/// The component type and time span the index can narrow the query to: only when the
/// filter asks for exactly one type of component (the usual VEVENT or VTODO query).
fn prefilter(filter: &CompFilter) -> (Option<&str>, Option<TimeSpan>) {
    let [only] = filter.comp_filters.as_slice() else { return (None, None) };
    if only.is_not_defined || !matches!(only.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY") {
        return (None, None);
    }
    // One second of slack: some §9.9 VTODO conditions include their boundaries.
    let span = only.time_range.map(|tr| TimeSpan {
        start: tr.start.map(|s| s.saturating_sub(1)),
        end: tr.end.map(|e| e.saturating_add(1)),
    });
    (Some(only.name.as_str()), span)
}

/// The time range of the common filter shape the index answers alone: VCALENDAR holding one
/// VEVENT comp-filter with a time-range and nothing else (no property, parameter or nested
/// filters, no is-not-defined). An object whose instance list covers the range then matches
/// iff one of its instances overlaps it (RFC 4791 §9.9), whatever the calendar's zone: the
/// list exists only for objects without floating times.
fn indexed_range(filter: &CompFilter) -> Option<TimeRange> {
    let [only] = filter.comp_filters.as_slice() else { return None };
    let plain = |f: &CompFilter| !f.is_not_defined && f.prop_filters.is_empty();
    let simple = filter.name == "VCALENDAR"
        && plain(filter)
        && filter.time_range.is_none()
        && only.name == "VEVENT"
        && plain(only)
        && only.comp_filters.is_empty();
    if simple { only.time_range } else { None }
}

pub fn calendar_query(ctx: &Ctx<'_>, res: &Resource, query: &CalendarQuery) -> DavResult<DavResponse> {
    let (coll, single) = match res {
        Resource::Collection { coll, .. } if coll.kind == CollectionKind::Calendar => (coll, None),
        Resource::Object { parent, meta, .. } if parent.kind == CollectionKind::Calendar => {
            (parent, Some(meta))
        }
        _ => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::SupportedReport,
                "calendar-query applies to calendar collections and calendar objects",
            ));
        }
    };
    // Depth 0 on a collection evaluates the collection itself, which never matches (RFC 4791
    // §7.8); a missing Depth is taken as 1, as every client means it.
    if single.is_none() && ctx.headers.depth == Some(Depth::Zero) {
        return Ok(multistatus_response(ctx, &Multistatus::default()));
    }
    let tz = super::floating_zone(coll, query.timezone.as_deref());
    let (comp, span) = prefilter(&query.filter);
    let indexed = indexed_range(&query.filter);
    let candidates = ctx.store().indexed_candidates(coll.id, comp, span)?;
    let content = Content { calendar: query.calendar_data.as_ref(), floating: tz, ..Content::default() };
    // Each answer is written out as soon as it is described (not held until the end).
    let mut ms = MultistatusWriter::new(
        ctx.headers.minimal,
        candidates.iter().map(|c| c.body.len() + c.body.len() / 8 + 300).sum(),
    );
    for Candidate { meta, body, instances } in candidates {
        if single.is_some_and(|m| m.id != meta.id) {
            continue;
        }
        let listed = indexed
            .zip(instances.as_deref())
            .and_then(|(tr, list)| ical::instance_list_overlaps(list, tr.start, tr.end));
        let matched = match listed {
            Some(matched) => matched,
            None => {
                let Ok(parsed) = ical::parse(&body) else {
                    tracing::warn!(object = meta.id, "stored calendar object no longer parses; skipped");
                    continue;
                };
                Evaluator::new(&parsed, tz).matches(&query.filter)
            }
        };
        if matched {
            let with_body = Content { body: Some((meta.id, &body)), ..content };
            describe_object_into(&mut ms, ctx, res, meta, &query.props, &with_body)?;
        }
    }
    Ok(multistatus_xml_response(ctx, ms.finish(None)))
}

#[cfg(test)]
mod tests {
    //! The index answer must equal the exact evaluator's for every object it answers.

    use chrono_tz::Tz;

    use super::*;
    use crate::caldav::request::parse_utc;

    fn wrap(inner: &str) -> String {
        let inner = inner.replace('\n', "\r\n");
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit tests//EN\r\n{inner}END:VCALENDAR\r\n")
    }

    fn event(props: &str) -> String {
        wrap(&format!("BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\n{props}\nEND:VEVENT\n"))
    }

    const BERLIN: &str = "BEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:DAYLIGHT\nTZOFFSETFROM:+0100\n\
        TZOFFSETTO:+0200\nDTSTART:19700329T020000\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nEND:DAYLIGHT\n\
        BEGIN:STANDARD\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nDTSTART:19701025T030000\n\
        RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nEND:STANDARD\nEND:VTIMEZONE\n";

    /// (name, body, whether the index lists its instances).
    fn objects() -> Vec<(&'static str, String, bool)> {
        let override_series = wrap(&format!(
            "{BERLIN}BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nDTSTART;TZID=Europe/Berlin:20260105T090000\n\
             DTEND;TZID=Europe/Berlin:20260105T100000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=20\n\
             EXDATE;TZID=Europe/Berlin:20260119T090000\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID;TZID=Europe/Berlin:20260112T090000\n\
             DTSTART;TZID=Europe/Berlin:20260113T150000\nDTEND;TZID=Europe/Berlin:20260113T170000\nEND:VEVENT\n"
        ));
        let this_and_future = wrap(
            "BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nDTSTART:20260301T100000Z\nDURATION:PT1H\n\
             RRULE:FREQ=DAILY;COUNT=10\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID;RANGE=THISANDFUTURE:20260305T100000Z\n\
             DTSTART:20260305T130000Z\nDURATION:PT2H\nEND:VEVENT\n",
        );
        let overrides_only = wrap(
            "BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID:20260401T100000Z\n\
             DTSTART:20260402T100000Z\nDTEND:20260402T110000Z\nEND:VEVENT\n",
        );
        vec![
            ("single", event("DTSTART:20260110T100000Z\nDTEND:20260110T110000Z"), true),
            ("zero", event("DTSTART:20260110T100000Z\nDTEND:20260110T100000Z"), true),
            ("dtstart_only", event("DTSTART:20260110T100000Z"), true),
            ("duration", event("DTSTART:20260110T100000Z\nDURATION:PT0S"), true),
            (
                "berlin",
                wrap(&format!(
                    "{BERLIN}BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nDTSTART;TZID=Europe/Berlin:20260329T013000\n\
                 DTEND;TZID=Europe/Berlin:20260329T033000\nEND:VEVENT\n"
                )),
                true,
            ),
            ("override_series", override_series, true),
            ("this_and_future", this_and_future, true),
            ("overrides_only", overrides_only, true),
            (
                "rdate",
                event(
                    "DTSTART:20260110T100000Z\nDTEND:20260110T110000Z\nRDATE:20260115T080000Z,20260201T230000Z\n\
                 RDATE;VALUE=PERIOD:20260301T000000Z/PT5H",
                ),
                true,
            ),
            (
                "weekly_forever",
                event("DTSTART:20250106T100000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;INTERVAL=2"),
                true,
            ),
            ("daily_forever", event("DTSTART:20250101T080000Z\nDURATION:PT30M\nRRULE:FREQ=DAILY"), true),
            ("hourly_forever", event("DTSTART:20250101T080000Z\nDURATION:PT30M\nRRULE:FREQ=HOURLY"), false),
            // All-day objects: listed, and answered when every zone gives the same answer.
            ("all_day", event("DTSTART;VALUE=DATE:20260115\nDTEND;VALUE=DATE:20260117"), true),
            ("all_day_weekly", event("DTSTART;VALUE=DATE:20260115\nRRULE:FREQ=WEEKLY;COUNT=5"), true),
            ("all_day_no_end", event("DTSTART;VALUE=DATE:20260301"), true),
            ("all_day_zero", event("DTSTART;VALUE=DATE:20260301\nDTEND;VALUE=DATE:20260301"), true),
            ("birthday_forever", event("DTSTART;VALUE=DATE:19800329\nRRULE:FREQ=YEARLY"), true),
            (
                "all_day_exdate_rdate_until",
                event(
                    "DTSTART;VALUE=DATE:20260102\nDURATION:P2D\nRRULE:FREQ=DAILY;INTERVAL=3;UNTIL=20260401\n\
                     EXDATE;VALUE=DATE:20260108,20260329\nRDATE;VALUE=DATE:20260610",
                ),
                true,
            ),
            (
                "all_day_override",
                wrap(
                    "BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:20260105\n\
                     RRULE:FREQ=WEEKLY;COUNT=8\nEND:VEVENT\nBEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\n\
                     RECURRENCE-ID;VALUE=DATE:20260112\nDTSTART;VALUE=DATE:20260114\nEND:VEVENT\n",
                ),
                true,
            ),
            // A UNTIL in UTC ends a series of dates at a different date depending on the zone:
            // not listed, and neither is a series of dates with a timed override.
            (
                "all_day_utc_until",
                event("DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY;UNTIL=20260110T050000Z"),
                false,
            ),
            (
                "all_day_timed_override",
                wrap(
                    "BEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:20260105\n\
                     RRULE:FREQ=WEEKLY;COUNT=8\nEND:VEVENT\nBEGIN:VEVENT\nUID:u\nDTSTAMP:20260101T000000Z\n\
                     RECURRENCE-ID;VALUE=DATE:20260112\nDTSTART:20260114T100000\nEND:VEVENT\n",
                ),
                false,
            ),
            ("floating", event("DTSTART:20260112T090000\nDTEND:20260112T100000"), false),
            (
                "floating_exdate",
                event(
                    "DTSTART:20260112T090000Z\nDTEND:20260112T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nEXDATE:20260113T090000",
                ),
                false,
            ),
        ]
    }

    fn filter(start: Option<i64>, end: Option<i64>) -> CompFilter {
        let comp = |name: &str, time_range, comp_filters| CompFilter {
            name: name.into(),
            is_not_defined: false,
            time_range,
            prop_filters: Vec::new(),
            comp_filters,
        };
        comp("VCALENDAR", None, vec![comp("VEVENT", Some(TimeRange { start, end }), Vec::new())])
    }

    /// Month ranges from 2025 to 2028 and, around every instance in 2026, ranges ending or
    /// starting one second either side of its edges, plus one-sided ranges.
    fn ranges(parsed: &ical::ICalendar) -> Vec<(Option<i64>, Option<i64>)> {
        let mut out = Vec::new();
        for year in 2025..2029 {
            for month in 1..=12 {
                let at = |y: i32, m: u32| parse_utc(&format!("{y}{m:02}01T000000Z"));
                let next = if month == 12 { at(year + 1, 1) } else { at(year, month + 1) };
                out.push((at(year, month), next));
            }
        }
        out.push((parse_utc("20400101T000000Z"), parse_utc("20400201T000000Z")));
        let from = parse_utc("20260101T000000Z");
        let to = parse_utc("20270101T000000Z");
        let list = ical::instances(parsed, from, to, Tz::UTC, 10_000).unwrap_or_default();
        for i in list.iter().take(40) {
            for edge in [i.start, i.end] {
                for d in [-1, 0, 1] {
                    out.push((Some(edge + d), Some(edge + d + 1)));
                    out.push((Some(edge + d - 3600), Some(edge + d)));
                    out.push((Some(edge + d), Some(edge + d + 3600)));
                }
            }
            out.push((None, Some(i.start)));
            out.push((Some(i.end), None));
        }
        out.push((None, None));
        out.push((from, from));
        out
    }

    #[test]
    fn the_index_answers_exactly_as_the_evaluator() {
        let zones =
            [Tz::UTC, Tz::Europe__Berlin, Tz::Asia__Tokyo, Tz::America__Los_Angeles, Tz::Pacific__Kiritimati];
        for (name, body, listed) in objects() {
            let parsed = ical::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let info = ical::inspect(&parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(!info.instances.is_empty(), listed, "{name}: listed");
            let mut answered = 0;
            for (start, end) in ranges(&parsed) {
                let f = filter(start, end);
                let Some(tr) = indexed_range(&f) else { panic!("the plain shape is indexed") };
                let Some(fast) = ical::instance_list_overlaps(&info.instances, tr.start, tr.end) else {
                    continue;
                };
                answered += 1;
                for tz in zones {
                    let exact = Evaluator::new(&parsed, tz).matches(&f);
                    assert_eq!(fast, exact, "{name} [{start:?}, {end:?}) in {tz}");
                }
            }
            // All-day objects leave ranges within 14 hours of an instance to the exact path.
            if listed {
                assert!(answered > 30, "{name}: only {answered} ranges answered from the index");
            }
        }
    }

    #[test]
    fn far_future_ranges_of_endless_rules_take_the_exact_path() {
        let body = event("DTSTART:20250106T100000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY");
        let info = ical::inspect(&ical::parse(body.as_bytes()).expect("parses")).expect("valid");
        let far = (parse_utc("20400101T000000Z"), parse_utc("20400201T000000Z"));
        assert_eq!(ical::instance_list_overlaps(&info.instances, far.0, far.1), None);
        assert_eq!(ical::instance_list_overlaps(&info.instances, None, None), None);
        let near = (parse_utc("20250106T103000Z"), parse_utc("20250106T103001Z"));
        assert_eq!(ical::instance_list_overlaps(&info.instances, near.0, near.1), Some(true));
    }

    #[test]
    fn only_the_plain_vevent_time_range_shape_is_indexed() {
        let plain = filter(Some(0), Some(10));
        assert!(indexed_range(&plain).is_some());
        let mut todo = plain.clone();
        todo.comp_filters[0].name = "VTODO".into();
        assert!(indexed_range(&todo).is_none());
        let mut negated = plain.clone();
        negated.comp_filters[0].is_not_defined = true;
        assert!(indexed_range(&negated).is_none());
        let mut with_prop = plain.clone();
        with_prop.comp_filters[0].prop_filters.push(crate::caldav::request::PropFilter {
            name: "SUMMARY".into(),
            is_not_defined: true,
            time_range: None,
            text_match: None,
            param_filters: Vec::new(),
        });
        assert!(indexed_range(&with_prop).is_none());
        let mut nested = plain.clone();
        nested.comp_filters[0].comp_filters.push(filter(None, None).comp_filters[0].clone());
        assert!(indexed_range(&nested).is_none());
        let mut no_range = plain.clone();
        no_range.comp_filters[0].time_range = None;
        assert!(indexed_range(&no_range).is_none());
        let mut two = plain.clone();
        two.comp_filters.push(plain.comp_filters[0].clone());
        assert!(indexed_range(&two).is_none());
    }
}

//! Evaluating a calendar-query filter against one calendar object (RFC 4791 §9.7), with
//! the time-range rules of §9.9 for VEVENT, VTODO, VJOURNAL, VFREEBUSY and VALARM.

use chrono_tz::Tz;

use super::request::{Collation, CompFilter, ParamFilter, PropFilter, TextMatch, TimeRange};
use crate::ical::view::{self, PropertyView};
use crate::ical::{self, ICalendar, IcalError, Instance};

/// Bound on instances examined per object and filter (beyond it, a match is certain).
const MAX_INSTANCES: usize = 10_000;

pub struct Evaluator<'a> {
    ical: &'a ICalendar,
    tz: Tz,
}

impl<'a> Evaluator<'a> {
    /// `tz` is the calendar's zone, for floating times (§9.9).
    pub fn new(ical: &'a ICalendar, tz: Tz) -> Self {
        Evaluator { ical, tz }
    }

    /// Whether the object matches the whole filter (whose top element names VCALENDAR).
    pub fn matches(&self, filter: &CompFilter) -> bool {
        let roots: Vec<usize> = (0..self.ical.components.len())
            .filter(|&i| view::component_name(&self.ical.components[i]) == "VCALENDAR")
            .take(1)
            .collect();
        match roots.first() {
            None => filter.is_not_defined,
            Some(_) if filter.is_not_defined => false,
            Some(&root) => self.component_matches(filter, root),
        }
    }

    /// `idx` is a component of type `filter.name`: do its time range, properties and
    /// sub-components satisfy the filter?
    fn component_matches(&self, filter: &CompFilter, idx: usize) -> bool {
        if let Some(tr) = filter.time_range
            && !self.overlaps(idx, tr)
        {
            return false;
        }
        // Rendering the properties writes every one of them out: only when a filter looks.
        if !filter.prop_filters.is_empty() {
            let props = view::properties(&self.ical.components[idx]);
            if !filter.prop_filters.iter().all(|pf| self.prop_matches(pf, &props)) {
                return false;
            }
        }
        filter.comp_filters.iter().all(|cf| {
            let mut kids = view::children(self.ical, &self.ical.components[idx])
                .filter(|(_, c)| view::component_name(c) == cf.name)
                .map(|(i, _)| i)
                .peekable();
            if cf.is_not_defined {
                kids.peek().is_none()
            } else {
                kids.any(|k| self.component_matches(cf, k))
            }
        })
    }

    fn overlaps(&self, idx: usize, tr: TimeRange) -> bool {
        match view::component_name(&self.ical.components[idx]).as_str() {
            "VEVENT" | "VJOURNAL" => self.any_instance(idx, tr),
            "VTODO" => self.todo_overlaps(idx, tr),
            "VFREEBUSY" => self.freebusy_overlaps(idx, tr),
            "VALARM" => self.alarm_overlaps(idx, tr),
            _ => false,
        }
    }

    /// Whether component `idx` has an instance overlapping `window` under the VEVENT rule of
    /// §9.9 (the expansion applies it, zero-length instances included).
    fn any_instance(&self, idx: usize, window: TimeRange) -> bool {
        match ical::instances(self.ical, window.start, window.end, self.tz, MAX_INSTANCES) {
            Ok(list) => list.iter().any(|i| i.component == idx),
            // More instances than the bound inside the window: certainly some of this set.
            Err(IcalError::TooManyInstances) => true,
            Err(_) => false,
        }
    }

    fn instances_near(&self, idx: usize, tr: TimeRange, margin: i64) -> Vec<Instance> {
        let from = tr.start.map(|s| s.saturating_sub(margin));
        let to = tr.end.map(|e| e.saturating_add(margin));
        ical::instances(self.ical, from, to, self.tz, MAX_INSTANCES)
            .map(|list| list.into_iter().filter(|i| i.component == idx).collect())
            .unwrap_or_default()
    }

    /// The VTODO table of §9.9, per instance (a recurring task shifts with its instances).
    fn todo_overlaps(&self, idx: usize, tr: TimeRange) -> bool {
        let Ok(t) = ical::todo_times(self.ical, idx, self.tz) else { return false };
        let s = tr.start.unwrap_or(i64::MIN);
        let e = tr.end.unwrap_or(i64::MAX);
        if t.dtstart.is_none() && t.due.is_none() {
            return match (t.completed, t.created) {
                (Some(done), Some(created)) => (s <= created || s <= done) && (e >= created || e >= done),
                (Some(done), None) => s <= done && e >= done,
                (None, Some(created)) => e > created,
                (None, None) => true,
            };
        }
        // Boundaries are inclusive in places, so look a second beyond the range.
        self.instances_near(idx, tr, 1).iter().any(|i| match (t.dtstart, t.duration_end, t.due) {
            (Some(_), Some(_), _) => s <= i.end && (e > i.start || e >= i.end),
            (Some(_), None, Some(_)) => (s < i.end || s <= i.start) && (e > i.start || e >= i.end),
            (Some(_), None, None) => s <= i.start && e > i.start,
            (None, _, _) => s < i.end && e >= i.end,
        })
    }

    /// VFREEBUSY (§9.9): FREEBUSY periods, else DTSTART/DTEND, overlap the range.
    fn freebusy_overlaps(&self, idx: usize, tr: TimeRange) -> bool {
        let s = tr.start.unwrap_or(i64::MIN);
        let e = tr.end.unwrap_or(i64::MAX);
        let props = view::properties(&self.ical.components[idx]);
        let periods: Vec<(i64, i64)> = props
            .iter()
            .filter(|p| p.name == "FREEBUSY")
            .flat_map(|p| p.value.split(','))
            .filter_map(parse_period)
            .collect();
        if !periods.is_empty() {
            return periods.iter().any(|&(ps, pe)| s < pe && e > ps);
        }
        let utc = |name: &str| props.iter().find(|p| p.name == name).and_then(|p| parse_utc_value(&p.value));
        match (utc("DTSTART"), utc("DTEND")) {
            (Some(ds), Some(de)) => s < de && e > ds,
            _ => false,
        }
    }

    /// VALARM (§9.9): a trigger time, or one of its repetitions, falls in [start, end).
    fn alarm_overlaps(&self, idx: usize, tr: TimeRange) -> bool {
        let Some(parent) = self.parent_of(idx) else { return false };
        let props = view::properties(&self.ical.components[idx]);
        let Some(trigger) = props.iter().find(|p| p.name == "TRIGGER") else { return false };
        let repeat: i64 =
            props.iter().find(|p| p.name == "REPEAT").and_then(|p| p.value.trim().parse().ok()).unwrap_or(0);
        let every =
            props.iter().find(|p| p.name == "DURATION").and_then(|p| parse_duration(&p.value)).unwrap_or(0);
        let in_range = |t: i64| tr.start.is_none_or(|s| s <= t) && tr.end.is_none_or(|e| t < e);
        let fires = |first: i64| (0..=repeat.clamp(0, 1000)).any(|k| in_range(first + k * every));
        if let Some(absolute) = parse_utc_value(&trigger.value) {
            return fires(absolute);
        }
        let Some(offset) = parse_duration(&trigger.value) else { return false };
        let from_end = trigger
            .params
            .iter()
            .any(|(k, v)| k == "RELATED" && v.iter().any(|x| x.eq_ignore_ascii_case("END")));
        let margin = offset.abs() + repeat.clamp(0, 1000) * every.abs() + 86_400 * 366;
        self.instances_near(parent, tr, margin)
            .iter()
            .any(|i| fires(if from_end { i.end } else { i.start } + offset))
    }

    fn parent_of(&self, idx: usize) -> Option<usize> {
        self.ical.components.iter().position(|c| c.component_ids.iter().any(|&id| id as usize == idx))
    }

    fn prop_matches(&self, pf: &PropFilter, props: &[PropertyView]) -> bool {
        let mut named = props.iter().filter(|p| p.name == pf.name).peekable();
        if pf.is_not_defined {
            return named.peek().is_none();
        }
        named.any(|p| {
            pf.time_range.is_none_or(|tr| self.value_in_range(p, tr))
                && pf.text_match.as_ref().is_none_or(|tm| text_matches(tm, &p.value))
                && pf.param_filters.iter().all(|pa| param_matches(pa, p))
        })
    }

    /// A date-time property value in [start, end): UTC, floating (in the calendar's zone) or
    /// with a TZID naming an IANA zone; DATE values as the whole day.
    fn value_in_range(&self, p: &PropertyView, tr: TimeRange) -> bool {
        let tzid = p.params.iter().find(|(k, _)| k == "TZID").and_then(|(_, v)| v.first());
        let zone = tzid.and_then(|z| z.parse::<Tz>().ok()).unwrap_or(self.tz);
        let Some((start, end)) = parse_local_value(&p.value, zone) else { return false };
        tr.start.is_none_or(|s| s < end.max(start + 1)) && tr.end.is_none_or(|e| e > start)
    }
}

fn param_matches(pf: &ParamFilter, p: &PropertyView) -> bool {
    let mut values = p.params.iter().filter(|(k, _)| *k == pf.name).flat_map(|(_, v)| v.iter()).peekable();
    let defined = p.params.iter().any(|(k, _)| *k == pf.name);
    if pf.is_not_defined {
        return !defined;
    }
    match &pf.text_match {
        None => defined,
        Some(tm) => values.any(|v| text_matches(tm, v)),
    }
}

/// Substring match under the collation (RFC 4791 §9.7.5), then `negate-condition`.
pub fn text_matches(tm: &TextMatch, value: &str) -> bool {
    let found = match tm.collation {
        Collation::Octet => value.contains(&tm.text),
        Collation::AsciiCasemap => value.to_ascii_lowercase().contains(&tm.text.to_ascii_lowercase()),
    };
    found != tm.negate
}

fn parse_utc_value(v: &str) -> Option<i64> {
    super::request::parse_utc(v.trim())
}

/// `start/end` or `start/duration` in UTC (RFC 5545 §3.3.9).
fn parse_period(v: &str) -> Option<(i64, i64)> {
    let (a, b) = v.trim().split_once('/')?;
    let start = parse_utc_value(a)?;
    let end = parse_utc_value(b).or_else(|| parse_duration(b).map(|d| start + d))?;
    Some((start, end))
}

/// RFC 5545 §3.3.6 durations, e.g. `-PT15M`, `P1DT2H`, `P2W`, in seconds.
pub fn parse_duration(v: &str) -> Option<i64> {
    let v = v.trim();
    let (sign, rest) = match v.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let rest = rest.strip_prefix('P')?;
    let (mut total, mut num, mut in_time) = (0i64, String::new(), false);
    for ch in rest.chars() {
        match ch {
            '0'..='9' => num.push(ch),
            'T' => in_time = true,
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                total += n * match (unit, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    num.is_empty().then_some(sign * total)
}

/// A DATE or DATE-TIME value as a UTC span: a point for date-times, the day for dates.
fn parse_local_value(v: &str, zone: Tz) -> Option<(i64, i64)> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let v = v.trim();
    if let Some(utc) = parse_utc_value(v) {
        return Some((utc, utc));
    }
    let local = |naive: NaiveDateTime| zone.from_local_datetime(&naive).earliest().map(|d| d.timestamp());
    if let Ok(dt) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S") {
        let t = local(dt)?;
        return Some((t, t));
    }
    let day = NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
    let start = local(day.and_hms_opt(0, 0, 0)?)?;
    Some((start, start + 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("-PT15M"), Some(-900));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600));
        assert_eq!(parse_duration("P2W"), Some(1_209_600));
        assert_eq!(parse_duration("PT"), Some(0));
        assert_eq!(parse_duration("P1H"), None, "hours need T");
        assert_eq!(parse_duration("garbage"), None);
    }

    #[test]
    fn collations() {
        let tm = |text: &str, collation, negate| TextMatch { text: text.into(), collation, negate };
        assert!(text_matches(&tm("LUNCH", Collation::AsciiCasemap, false), "Team lunch"));
        assert!(!text_matches(&tm("LUNCH", Collation::Octet, false), "Team lunch"));
        assert!(text_matches(&tm("dinner", Collation::AsciiCasemap, true), "Team lunch"));
        // i;ascii-casemap folds ASCII only (RFC 4790 §9.2).
        assert!(!text_matches(&tm("ÄRGER", Collation::AsciiCasemap, false), "ärger"));
    }
}

//! What the store indexes per object: its identity and a conservative time span for
//! prefiltering CALDAV:time-range queries (RFC 4791 §9.9).

use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarProperty, ICalendarValue};

use super::recurrence::{self, Expansion, Window};
use super::times;
use super::timezone::{INSTANCE_TIMED, TIMED, Zones};
use super::validate;
use super::{CompType, IcalError, MAX_INSTANCES, ObjectInfo, TodoTimes};

/// Floating times are indexed as UTC; real zones lie between UTC-12 and UTC+14.
const FLOATING_SLACK: i64 = 14 * 3600;

pub(crate) fn inspect(ical: &ICalendar) -> Result<ObjectInfo, IcalError> {
    let shape = validate::check(ical)?;
    // The calendar's zone is unknown here, so floating values are read as UTC and the span
    // is widened below.
    let zones = Zones::new(ical, chrono_tz::UTC)?;
    let unbounded = has_endless_rule(ical);
    // An endless set is indexed as open-ended anyway; one instance is enough to learn where
    // it starts (the collector tracks the earliest start of everything offered).
    // A bounded set larger than MAX_INSTANCES is indexed as unbounded, which is safe for
    // prefiltering (and refused by PUT: `too_many_instances`).
    let cap = if unbounded { 1 } else { MAX_INSTANCES };
    let expansion = recurrence::expand(ical, &zones, Window::ALL, cap)?;
    let mut span = Span::default();
    if let Some(earliest) = expansion.earliest {
        let last_end = expansion.latest.filter(|_| expansion.complete && !unbounded);
        span.include(Some(earliest), last_end);
    }
    if shape.comp_type == CompType::Todo {
        todo_span(ical, &zones, &mut span)?;
    }
    let floating = uses_floating(ical);
    if floating {
        span.widen(FLOATING_SLACK);
    }
    let (first_start, last_end) = span.bounds();
    // Times that are neither floating nor DATE values do not depend on the calendar's zone,
    // so a VEVENT's instances can be listed once for every later query.
    let instances = if shape.comp_type == CompType::Event && !floating {
        instance_list(ical, &zones, (!unbounded).then_some(&expansion), InstanceList::VERSION)?
    } else if shape.comp_type == CompType::Event && all_day(ical) {
        // Read in UTC here; a query converts with the slack of any zone (`InstanceList`).
        instance_list(ical, &zones, (!unbounded).then_some(&expansion), InstanceList::VERSION_ALL_DAY)?
    } else {
        Vec::new()
    };
    Ok(ObjectInfo {
        uid: shape.uid,
        comp_type: shape.comp_type,
        first_start,
        last_end,
        recurring: shape.recurring,
        too_many_instances: !unbounded && !expansion.complete,
        instances,
    })
}

/// Instances kept in the index per object, at most.
const LISTED_INSTANCES: usize = 1024;
/// How far past today the instances of an endless (or very long) set are listed.
const HORIZON: i64 = 366 * 86_400;
const DAY: i64 = 86_400;

/// The encoded [`InstanceList`] of a VEVENT object without floating times: every instance
/// overlapping a window, so that a query inside the window is answered from the list alone.
/// `whole` is the expansion over all time of a bounded set. An empty result means "not
/// listed" (too many instances near today): queries then take the exact path.
fn instance_list(
    ical: &ICalendar,
    zones: &Zones,
    whole: Option<&Expansion>,
    version: u8,
) -> Result<Vec<u8>, IcalError> {
    if let Some(whole) = whole
        && whole.complete
        && whole.instances.len() <= LISTED_INSTANCES
    {
        return Ok(InstanceList::encode(version, Window::ALL, &whole.instances));
    }
    // Whole days, so that inspecting the same object twice in a day gives the same answer.
    let today = chrono::Utc::now().timestamp().div_euclid(DAY) * DAY;
    let to = Some(today + HORIZON);
    for window in [Window { from: None, to }, Window { from: Some(today - HORIZON), to }] {
        let found = recurrence::expand(ical, zones, window, LISTED_INSTANCES)?;
        if found.complete {
            return Ok(InstanceList::encode(version, window, &found.instances));
        }
    }
    Ok(Vec::new())
}

/// The instances of a VEVENT object that overlap a window, as stored in the index: each
/// instance's UTC start and end, with the window they are complete for. A time-range inside
/// the window (RFC 4791 §9.9) is answered from the list exactly as the expansion would answer
/// it; one reaching outside is not answered.
///
/// Encoding: a version byte, then zig-zag LEB128 varints: window start and end (`i64::MIN` /
/// `i64::MAX` when open), then per instance in start order the start minus the previous start
/// (the first one minus 0) and the duration.
///
/// Version 2 lists an all-day object (every instance-defining value a DATE, see `all_day`)
/// with its dates read in UTC. In the calendar's zone each instance starts and ends at most
/// FLOATING_SLACK either side of that, and the instances themselves are the same in every
/// zone (dates a day apart never merge). So a range is answered only when the answer holds
/// for every zone: a match only for an instance inside the range with the slack to spare, a
/// miss only when no instance comes within the slack of it; anything else takes the exact path.
pub struct InstanceList;

impl InstanceList {
    const VERSION: u8 = 1;
    const VERSION_ALL_DAY: u8 = 2;

    fn encode(version: u8, window: Window, instances: &[super::Instance]) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + instances.len() * 6);
        out.push(version);
        put_varint(&mut out, window.from.unwrap_or(i64::MIN));
        put_varint(&mut out, window.to.unwrap_or(i64::MAX));
        let mut previous = 0i64;
        for instance in instances {
            put_varint(&mut out, instance.start.wrapping_sub(previous));
            put_varint(&mut out, instance.end.wrapping_sub(instance.start));
            previous = instance.start;
        }
        out
    }

    /// Whether an instance in `list` overlaps `[from, to)` under the §9.9 VEVENT rule
    /// (`start < to && end > from`, a zero-length instance `from <= start < to`); `None` when
    /// the list cannot tell (not listed, or the range reaches outside the listed window).
    pub fn overlaps(list: &[u8], from: Option<i64>, to: Option<i64>) -> Option<bool> {
        let (&version, mut rest) = list.split_first()?;
        let slack = match version {
            Self::VERSION => 0,
            Self::VERSION_ALL_DAY => FLOATING_SLACK,
            _ => return None,
        };
        let from = from.unwrap_or(i64::MIN);
        let to = to.unwrap_or(i64::MAX);
        let listed_from = get_varint(&mut rest)?;
        let listed_to = get_varint(&mut rest)?;
        if from.saturating_sub(slack) < listed_from || to.saturating_add(slack) > listed_to {
            return None;
        }
        if from >= to {
            return Some(false);
        }
        if slack > 0 {
            return Self::overlaps_in_any_zone(rest, from, to, slack);
        }
        let mut start = 0i64;
        while !rest.is_empty() {
            start = start.wrapping_add(get_varint(&mut rest)?);
            let end = start.wrapping_add(get_varint(&mut rest)?);
            if start >= to {
                return Some(false);
            }
            if if end > start { end > from } else { start >= from } {
                return Some(true);
            }
        }
        Some(false)
    }
}

impl InstanceList {
    /// Version 2's answer: each listed `[start, end)` really lies somewhere in
    /// `[start - slack, end + slack)`, shifted by one offset at each end.
    fn overlaps_in_any_zone(mut rest: &[u8], from: i64, to: i64, slack: i64) -> Option<bool> {
        let mut unsure = false;
        let mut start = 0i64;
        while !rest.is_empty() {
            start = start.wrapping_add(get_varint(&mut rest)?);
            let end = start.wrapping_add(get_varint(&mut rest)?);
            if start.saturating_sub(slack) >= to {
                break; // this and every later instance start after the range in every zone
            }
            let (certain, possible) = if end > start {
                (
                    start.saturating_add(slack) < to && end.saturating_sub(slack) > from,
                    end.saturating_add(slack) > from,
                )
            } else {
                (
                    start.saturating_sub(slack) >= from && start.saturating_add(slack) < to,
                    start.saturating_add(slack) >= from,
                )
            };
            if certain {
                return Some(true);
            }
            unsure |= possible;
        }
        if unsure { None } else { Some(false) }
    }
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(input: &mut &[u8]) -> Option<i64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// A union of inclusive intervals; `None` ends are infinite.
#[derive(Debug, Default)]
struct Span {
    seen: bool,
    start: Option<i64>,
    end: Option<i64>,
}

impl Span {
    fn include(&mut self, start: Option<i64>, end: Option<i64>) {
        if !self.seen {
            (self.seen, self.start, self.end) = (true, start, end);
            return;
        }
        self.start = self.start.zip(start).map(|(a, b)| a.min(b));
        self.end = self.end.zip(end).map(|(a, b)| a.max(b));
    }

    fn widen(&mut self, slack: i64) {
        self.start = self.start.map(|start| start.saturating_sub(slack));
        self.end = self.end.map(|end| end.saturating_add(slack));
    }

    /// An object contributing nothing (a VJOURNAL without DTSTART) is left unbounded: the
    /// exact §9.9 test after the prefilter decides.
    fn bounds(&self) -> (Option<i64>, Option<i64>) {
        (self.start, self.end)
    }
}

/// An RRULE with neither COUNT nor UNTIL on a master component.
fn has_endless_rule(ical: &ICalendar) -> bool {
    let masters = ical.components.iter().filter(|component| {
        CompType::of(&component.component_type).is_some()
            && !component.has_property(&ICalendarProperty::RecurrenceId)
    });
    masters.flat_map(|component| component.properties(&ICalendarProperty::Rrule)).any(|entry| {
        matches!(entry.values.first(), Some(ICalendarValue::RecurrenceRule(rule))
            if rule.count.is_none() && rule.until.is_none())
    })
}

/// VTODOs with neither DTSTART nor DUE have no instances; RFC 4791 §9.9 matches them on
/// COMPLETED and CREATED, or always when both are absent.
fn todo_span(ical: &ICalendar, zones: &Zones, span: &mut Span) -> Result<(), IcalError> {
    let todos = ical
        .components
        .iter()
        .filter(|component| CompType::of(&component.component_type) == Some(CompType::Todo));
    for component in todos {
        let times = todo_times_of(zones, component)?;
        if times.dtstart.is_some() || times.due.is_some() {
            continue;
        }
        match (times.completed, times.created) {
            (Some(completed), Some(created)) => {
                span.include(Some(completed.min(created)), Some(completed.max(created)))
            }
            (Some(completed), None) => span.include(Some(completed), Some(completed)),
            (None, Some(created)) => span.include(Some(created), None),
            (None, None) => span.include(None, None),
        }
    }
    Ok(())
}

/// Whether any time the index relies on is floating or a DATE.
/// Whether every value that makes or removes an instance (DTSTART, DTEND, DUE, RECURRENCE-ID,
/// RDATE, EXDATE, an RRULE's UNTIL) is a DATE: the instances are then whole local days,
/// whichever zone the calendar is in (see `InstanceList`, version 2).
fn all_day(ical: &ICalendar) -> bool {
    let is_date = |date: &calcard::common::PartialDateTime| date.hour.is_none() && date.tz_hour.is_none();
    let members =
        ical.components.iter().filter(|component| CompType::of(&component.component_type).is_some());
    let mut dated = false;
    for entry in members.flat_map(|component| component.entries.iter()) {
        if INSTANCE_TIMED.contains(&entry.name) {
            dated = true;
            if !entry.values.iter().all(|v| matches!(v, ICalendarValue::PartialDateTime(d) if is_date(d))) {
                return false;
            }
        } else if entry.name == ICalendarProperty::Rrule {
            let until_is_date = |v: &ICalendarValue| match v {
                ICalendarValue::RecurrenceRule(rule) => rule.until.as_ref().is_none_or(is_date),
                _ => false,
            };
            if !entry.values.iter().all(until_is_date) {
                return false;
            }
        }
    }
    dated
}

fn uses_floating(ical: &ICalendar) -> bool {
    let members =
        ical.components.iter().filter(|component| CompType::of(&component.component_type).is_some());
    members.flat_map(|component| component.entries.iter()).filter(|entry| TIMED.contains(&entry.name)).any(
        |entry| {
            entry.values.iter().any(|value| {
                let date = match value {
                    ICalendarValue::PartialDateTime(date) => date.as_ref(),
                    ICalendarValue::Period(calcard::icalendar::ICalendarPeriod::Range { start, .. })
                    | ICalendarValue::Period(calcard::icalendar::ICalendarPeriod::Duration {
                        start, ..
                    }) => start,
                    _ => return false,
                };
                date.tz_hour.is_none() && (date.hour.is_none() || entry.tz_id().is_none())
            })
        },
    )
}

pub(crate) fn todo_times(
    ical: &ICalendar,
    component: usize,
    floating_tz: chrono_tz::Tz,
) -> Result<TodoTimes, IcalError> {
    let zones = Zones::new(ical, floating_tz)?;
    let component = ical
        .components
        .get(component)
        .ok_or_else(|| IcalError::Invalid(format!("the object has no component {component}")))?;
    todo_times_of(&zones, component)
}

fn todo_times_of(zones: &Zones, component: &ICalendarComponent) -> Result<TodoTimes, IcalError> {
    let get = |property: ICalendarProperty| times::property_moment(zones, component, &property);
    let start = get(ICalendarProperty::Dtstart)?;
    let duration_end = start
        .zip(times::duration_of(component))
        .map(|(start, duration)| times::add_duration(&start, duration));
    Ok(TodoTimes {
        dtstart: start.map(|start| start.utc),
        duration_end,
        due: get(ICalendarProperty::Due)?.map(|due| due.utc),
        completed: get(ICalendarProperty::Completed)?.map(|completed| completed.utc),
        created: get(ICalendarProperty::Created)?.map(|created| created.utc),
    })
}

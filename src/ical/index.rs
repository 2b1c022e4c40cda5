//! What the store indexes per object: its identity and a conservative time span for
//! prefiltering CALDAV:time-range queries (RFC 4791 §9.9).

use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarProperty, ICalendarValue};

use super::recurrence::{self, Window};
use super::times;
use super::timezone::{TIMED, Zones};
use super::validate;
use super::{CompType, IcalError, ObjectInfo, TodoTimes};

/// Instances enumerated to find a bounded set's last end; a larger set is indexed as
/// unbounded, which is safe for prefiltering.
const INDEX_CAP: usize = 10_000;
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
    let cap = if unbounded { 1 } else { INDEX_CAP };
    let expansion = recurrence::expand(ical, &zones, Window::ALL, cap)?;
    let mut span = Span::default();
    if let Some(earliest) = expansion.earliest {
        let last_end = expansion.latest.filter(|_| expansion.complete && !unbounded);
        span.include(Some(earliest), last_end);
    }
    if shape.comp_type == CompType::Todo {
        todo_span(ical, &zones, &mut span)?;
    }
    if uses_floating(ical) {
        span.widen(FLOATING_SLACK);
    }
    let (first_start, last_end) = span.bounds();
    Ok(ObjectInfo {
        uid: shape.uid,
        comp_type: shape.comp_type,
        first_start,
        last_end,
        recurring: shape.recurring,
    })
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

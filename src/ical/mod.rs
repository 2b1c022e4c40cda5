//! davit's only door to iCalendar (RFC 5545) data: everything else calls these functions and
//! never `calcard` directly.
//!
//! `calcard` parses and serializes faithfully, but it is lenient where a server must not be and
//! its recurrence expansion has known defects (see `/work/shared/DEPENDENCIES.md` §2–3). This
//! module keeps calcard for what it does well — the data model, the parser, time zone *names*
//! and the RRULE date iterator — and owns everything around it:
//!
//! * [`parse`] adds the syntax checks calcard skips (it drops colon-less lines and keeps
//!   unparsable dates as text).
//! * [`inspect`] applies the RFC 4791 §4.1 object rules and computes what the store indexes.
//! * [`instances`] expands a recurrence set (RFC 5545 §3.8.5) itself: overrides are matched on
//!   RECURRENCE-ID alone (calcard#14 matched on SEQUENCE too), results are sorted, every TZID
//!   is resolved through the object's VTIMEZONE (calcard silently used a default zone), and
//!   the work is bounded so an endless FREQ=SECONDLY rule cannot hang a request.

mod index;
mod parse;
mod recurrence;
mod rrule;
pub mod serialize;
mod times;
mod timezone;
mod validate;
pub mod view;

#[cfg(test)]
mod tests;

pub use calcard::icalendar::{ICalendar, ICalendarComponent};
pub(crate) use parse::logical_lines;

use calcard::icalendar::ICalendarComponentType;

/// The calendar component types a calendar object resource may hold (RFC 4791 §4.1: exactly
/// one of them per object, plus VTIMEZONEs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompType {
    Event,
    Todo,
    Journal,
    FreeBusy,
}

impl CompType {
    /// The iCalendar component name, as used in BEGIN lines and CalDAV comp-filters.
    pub fn name(self) -> &'static str {
        match self {
            CompType::Event => "VEVENT",
            CompType::Todo => "VTODO",
            CompType::Journal => "VJOURNAL",
            CompType::FreeBusy => "VFREEBUSY",
        }
    }

    /// Case-insensitive, because component names are (RFC 5545 §2).
    pub fn from_name(name: &str) -> Option<Self> {
        [CompType::Event, CompType::Todo, CompType::Journal, CompType::FreeBusy]
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }

    /// The type of a parsed component, if it is one of the four.
    pub(crate) fn of(component_type: &ICalendarComponentType) -> Option<Self> {
        match component_type {
            ICalendarComponentType::VEvent => Some(CompType::Event),
            ICalendarComponentType::VTodo => Some(CompType::Todo),
            ICalendarComponentType::VJournal => Some(CompType::Journal),
            ICalendarComponentType::VFreebusy => Some(CompType::FreeBusy),
            _ => None,
        }
    }
}

/// Why a body or an object was refused.
#[derive(Debug, thiserror::Error)]
pub enum IcalError {
    /// The body is not well-formed iCalendar (RFC 5545 §3); maps to CALDAV:valid-calendar-data.
    #[error("iCalendar syntax error: {0}")]
    Syntax(String),
    /// Well-formed, but breaks a rule for calendar object resources (RFC 4791 §4.1) or is not
    /// interpretable (e.g. a TZID nothing defines).
    #[error("invalid calendar object: {0}")]
    Invalid(String),
    /// Expanding the recurrence set inside the asked window needs more instances (or more
    /// work) than the caller allowed.
    #[error("too many recurrence instances")]
    TooManyInstances,
}

/// The most instances a bounded recurrence set may have (CALDAV:max-instances, RFC 4791
/// §5.2.8); also how many are listed to find its last end.
pub const MAX_INSTANCES: usize = 10_000;

/// What the store indexes for one calendar object resource.
///
/// `first_start`/`last_end` are conservative, inclusive bounds meant for prefiltering
/// time-range queries: `None` means unbounded on that side. Floating times and DATE values are
/// read as UTC and the bounds widened by 14 hours on each side, because the calendar's zone is
/// not known at PUT time and no zone is further than UTC-12/UTC+14 from UTC (RFC 4791 §9.9
/// treats floating time as local to the calendar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub uid: String,
    pub comp_type: CompType,
    pub first_start: Option<i64>,
    /// `None` = unbounded (an RRULE without COUNT/UNTIL, or a set too large to enumerate).
    pub last_end: Option<i64>,
    pub recurring: bool,
    /// A set whose every rule has a COUNT or an UNTIL has more than [`MAX_INSTANCES`]
    /// instances (or would cost too much to list): CALDAV:max-instances refuses it. Never
    /// true for an endless set, which has no last instance to count to.
    pub too_many_instances: bool,
    /// For a VEVENT object without floating times or DATE values: its instances in the index
    /// encoding of [`instance_list_overlaps`], which answers time-range queries without
    /// parsing. Empty when not listed.
    pub instances: Vec<u8>,
}

/// One occurrence, UTC Unix seconds, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    pub start: i64,
    pub end: i64,
    /// The instance's original start (its RECURRENCE-ID) when the object is recurring.
    pub recurrence_id: Option<i64>,
    /// Index into `ICalendar::components` of the component whose properties apply.
    pub component: usize,
    /// The start is a DATE value (RFC 5545 §3.3.4).
    pub all_day: bool,
}

/// The VTODO properties the RFC 4791 §9.9 VTODO table looks at, as UTC Unix seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TodoTimes {
    pub dtstart: Option<i64>,
    /// DTSTART + DURATION, when both are present.
    pub duration_end: Option<i64>,
    pub due: Option<i64>,
    pub completed: Option<i64>,
    pub created: Option<i64>,
}

/// Parses a whole calendar object resource body. Stricter than calcard's lenient parser:
/// not UTF-8, no BEGIN:VCALENDAR…END:VCALENDAR, lines calcard silently drops (no colon),
/// unterminated components, trailing garbage, an unparsable DTSTART/DTEND/DUE/RECURRENCE-ID
/// value (calcard keeps it as Text) → [`IcalError::Syntax`] with a human message.
pub fn parse(body: &[u8]) -> Result<ICalendar, IcalError> {
    parse::parse(body)
}

/// Checks the RFC 4791 §4.1 rules (one component type, one UID shared by all components, no
/// METHOD, at most one master, every TZID interpretable) and computes the index entry.
pub fn inspect(ical: &ICalendar) -> Result<ObjectInfo, IcalError> {
    index::inspect(ical)
}

/// Whether the indexed instance list of an object ([`ObjectInfo::instances`]) has an instance
/// overlapping `[from, to)` under the RFC 4791 §9.9 VEVENT rule, exactly as [`instances`]
/// would find for any calendar zone; `None` when the list cannot tell (empty, or the range
/// reaches beyond the window the list is complete for).
pub fn instance_list_overlaps(list: &[u8], from: Option<i64>, to: Option<i64>) -> Option<bool> {
    index::InstanceList::overlaps(list, from, to)
}

/// Occurrences overlapping `[from, to)` (either bound may be `None` = unbounded), sorted by
/// start, at most `max`: `Err(TooManyInstances)` if more would be needed inside the window.
/// An RRULE without end never expands past the window. Floating times and DATE values are
/// interpreted in `floating_tz`, the calendar's zone (RFC 4791 §9.9).
///
/// Overlap follows RFC 4791 §9.9: `start < to && end > from`, and a zero-length instance
/// matches when `from <= start < to`. A VTODO with neither DTSTART nor DUE and a VJOURNAL
/// without DTSTART yield no instances (apply the §9.9 tables for those with [`todo_times`]).
pub fn instances(
    ical: &ICalendar,
    from: Option<i64>,
    to: Option<i64>,
    floating_tz: chrono_tz::Tz,
    max: usize,
) -> Result<Vec<Instance>, IcalError> {
    recurrence::instances(ical, from, to, floating_tz, max)
}

/// The §9.9 VTODO inputs of `ical.components[component]`.
///
/// Takes the whole object rather than the component alone because a TZID can only be
/// interpreted through the object's VTIMEZONE components (RFC 5545 §3.2.19).
pub fn todo_times(
    ical: &ICalendar,
    component: usize,
    floating_tz: chrono_tz::Tz,
) -> Result<TodoTimes, IcalError> {
    index::todo_times(ical, component, floating_tz)
}

/// Reads a CALDAV:calendar-timezone value (RFC 4791 §5.2.2: an iCalendar object holding one
/// VTIMEZONE) as the zone to pass to [`instances`] as `floating_tz`. The VTIMEZONE is resolved
/// by name (IANA, Windows, X-LIC-LOCATION) or by matching its rules against the tz database;
/// a VTIMEZONE no IANA zone reproduces is refused rather than approximated.
pub fn calendar_timezone(body: &[u8]) -> Result<chrono_tz::Tz, IcalError> {
    timezone::calendar_timezone(&parse::parse(body)?)
}

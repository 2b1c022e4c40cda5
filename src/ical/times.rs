//! Date and date-time property values resolved to instants, and the start/end rules of each
//! component type (RFC 5545 §3.6, RFC 4791 §9.9).

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendarComponent, ICalendarDuration, ICalendarEntry, ICalendarProperty, ICalendarValue,
};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use super::timezone::{Zone, Zones};
use super::{CompType, IcalError};

/// A DATE or DATE-TIME value with the zone its local reading belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment<'z> {
    pub local: NaiveDateTime,
    pub utc: i64,
    pub is_date: bool,
    /// No TZID and no `Z` (DATE values always): local to the calendar (RFC 4791 §9.9).
    pub floating: bool,
    pub zone: &'z Zone,
}

impl<'z> Moment<'z> {
    /// The same zone at another local reading (a recurrence occurrence).
    pub(crate) fn at(&self, local: NaiveDateTime) -> Moment<'z> {
        Moment { local, utc: self.zone.to_utc(local), ..*self }
    }

    /// Moves by whole days of local time, which keeps the wall-clock time across DST.
    pub(crate) fn plus_days(&self, days: i64) -> Moment<'z> {
        match TimeDelta::try_days(days).and_then(|delta| self.local.checked_add_signed(delta)) {
            Some(local) => self.at(local),
            None => *self,
        }
    }

    pub(crate) fn date(&self) -> NaiveDate {
        self.local.date()
    }
}

/// Resolves one value of `entry`. A DATE value or one without TZID and `Z` is floating; a
/// DATE ignores any TZID (RFC 5545 §3.2.19 applies TZID to DATE-TIME and TIME only).
pub(crate) fn moment<'z>(
    zones: &'z Zones,
    entry: &ICalendarEntry,
    value: &PartialDateTime,
) -> Result<Moment<'z>, IcalError> {
    let parsed = value.to_date_time().ok_or_else(|| {
        IcalError::Invalid(format!("{} has an invalid date or date-time", entry.name.as_str()))
    })?;
    let is_date = value.hour.is_none();
    let (zone, floating) = match (parsed.offset, entry.tz_id()) {
        (Some(offset), _) => {
            // Only `Z` is valid iCalendar; calcard also accepts explicit offsets, which are
            // kept as the UTC reading of the same instant.
            let utc = parsed.date_time.and_utc().timestamp() - i64::from(offset.local_minus_utc());
            let local = super::timezone::naive(utc);
            return Ok(Moment { local, utc, is_date, floating: false, zone: zones.utc() });
        }
        (None, Some(tzid)) if !is_date => (zones.named(tzid)?, false),
        _ => (zones.floating(), true),
    };
    Ok(Moment { local: parsed.date_time, utc: zone.to_utc(parsed.date_time), is_date, floating, zone })
}

/// The first value of the first `property` of `component`, resolved.
pub(crate) fn property_moment<'z>(
    zones: &'z Zones,
    component: &ICalendarComponent,
    property: &ICalendarProperty,
) -> Result<Option<Moment<'z>>, IcalError> {
    let Some(entry) = component.property(property) else { return Ok(None) };
    match entry.values.first() {
        Some(ICalendarValue::PartialDateTime(value)) => moment(zones, entry, value).map(Some),
        _ => Err(IcalError::Invalid(format!("{} is not a date or date-time", property.as_str()))),
    }
}

pub(crate) fn duration_of(component: &ICalendarComponent) -> Option<&ICalendarDuration> {
    match component.property(&ICalendarProperty::Duration)?.values.first()? {
        ICalendarValue::Duration(duration) => Some(duration),
        _ => None,
    }
}

/// `start + duration`: weeks and days are nominal (local calendar days, so P1D across a DST
/// change is 23 or 25 hours), hours to seconds are exact (RFC 5545 §3.3.6).
pub(crate) fn add_duration(start: &Moment<'_>, duration: &ICalendarDuration) -> i64 {
    let sign = if duration.neg { -1 } else { 1 };
    let days = sign * (i64::from(duration.weeks) * 7 + i64::from(duration.days));
    let exact = sign
        * (i64::from(duration.hours) * 3600 + i64::from(duration.minutes) * 60 + i64::from(duration.seconds));
    let base = if days == 0 { start.utc } else { start.plus_days(days).utc };
    base + exact
}

/// How an instance's end follows from its start.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndRule<'z> {
    /// DTEND (or DUE): the same length for every occurrence (RFC 5545 §3.8.5.3).
    At(Moment<'z>),
    Duration(&'z ICalendarDuration),
    /// A DATE start without end: one day (RFC 5545 §3.6.1, RFC 4791 §9.9).
    OneDay,
    /// A DATE-TIME start without end: zero length.
    Zero,
}

/// The start and end rule of one component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing<'z> {
    pub start: Moment<'z>,
    pub end: EndRule<'z>,
}

const ONE_DAY: ICalendarDuration =
    ICalendarDuration { neg: false, weeks: 0, days: 1, hours: 0, minutes: 0, seconds: 0 };

impl<'z> Timing<'z> {
    /// The end of the occurrence starting at `occurrence` (the start itself for DTSTART).
    /// An end before the start is read as zero length rather than a negative instance.
    pub(crate) fn end_of(&self, occurrence: &Moment<'z>) -> i64 {
        let end = match self.end {
            EndRule::At(end) if self.start.is_date && end.is_date => {
                // Whole days between the dates, re-applied in local time.
                occurrence.plus_days((end.date() - self.start.date()).num_days()).utc
            }
            EndRule::At(end) => occurrence.utc + (end.utc - self.start.utc),
            EndRule::Duration(duration) => add_duration(occurrence, duration),
            EndRule::OneDay => add_duration(occurrence, &ONE_DAY),
            EndRule::Zero => occurrence.utc,
        };
        end.max(occurrence.utc)
    }

    /// An upper bound on any occurrence's length, for widening expansion windows.
    pub(crate) fn reach(&self) -> i64 {
        let day = 86_400;
        match self.end {
            EndRule::At(end) => (end.utc - self.start.utc).max(0) + day,
            EndRule::Duration(duration) => {
                let days = i64::from(duration.weeks) * 7 + i64::from(duration.days);
                let exact = i64::from(duration.hours) * 3600
                    + i64::from(duration.minutes) * 60
                    + i64::from(duration.seconds);
                days * day + exact + day
            }
            EndRule::OneDay => 2 * day,
            EndRule::Zero => 0,
        }
    }
}

/// The start/end rule of `component` read as `kind`, or `None` when the component has no
/// start: a VTODO without DTSTART and DUE, a VJOURNAL without DTSTART, a VFREEBUSY without
/// DTSTART and DTEND. An override lacking DTSTART starts at its RECURRENCE-ID.
pub(crate) fn timing<'z>(
    zones: &'z Zones,
    component: &'z ICalendarComponent,
    kind: CompType,
) -> Result<Option<Timing<'z>>, IcalError> {
    let get = |property: ICalendarProperty| property_moment(zones, component, &property);
    let dtstart = match get(ICalendarProperty::Dtstart)? {
        Some(start) => Some(start),
        None if kind != CompType::Todo => get(ICalendarProperty::RecurrenceId)?,
        None => None,
    };
    let duration = duration_of(component);
    let dtend = get(ICalendarProperty::Dtend)?;
    let timing = match kind {
        CompType::Event => dtstart.map(|start| {
            let end = match (dtend, duration) {
                (Some(end), _) => EndRule::At(end),
                (_, Some(duration)) => EndRule::Duration(duration),
                _ if start.is_date => EndRule::OneDay,
                _ => EndRule::Zero,
            };
            Timing { start, end }
        }),
        CompType::Todo => todo_timing(dtstart, get(ICalendarProperty::Due)?, duration),
        CompType::Journal => dtstart
            .map(|start| Timing { start, end: if start.is_date { EndRule::OneDay } else { EndRule::Zero } }),
        CompType::FreeBusy => match (dtstart, dtend) {
            (Some(start), Some(end)) => Some(Timing { start, end: EndRule::At(end) }),
            _ => None,
        },
    };
    Ok(timing)
}

/// VTODO: DTSTART+DURATION, else DUE, else DTSTART alone; without DTSTART the instance sits
/// at DUE (the §9.9 table's "DUE only" row is then applied by the caller).
fn todo_timing<'z>(
    dtstart: Option<Moment<'z>>,
    due: Option<Moment<'z>>,
    duration: Option<&'z ICalendarDuration>,
) -> Option<Timing<'z>> {
    match (dtstart, due, duration) {
        (Some(start), _, Some(duration)) => Some(Timing { start, end: EndRule::Duration(duration) }),
        (Some(start), Some(due), None) => Some(Timing { start, end: EndRule::At(due) }),
        (Some(start), None, None) => Some(Timing { start, end: EndRule::Zero }),
        (None, Some(due), _) => Some(Timing { start: due, end: EndRule::Zero }),
        (None, None, _) => None,
    }
}

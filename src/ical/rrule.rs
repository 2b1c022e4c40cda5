//! RRULE iteration (RFC 5545 §3.3.10, §3.8.5.3) on top of calcard's date iterator.
//!
//! calcard only exposes its iterator through `ICalendar::expand_dates`, which also does time
//! zones, overrides and EXDATEs — the parts with defects. So this driver hands it a scratch
//! one-component calendar holding nothing but a *floating* DTSTART and the RRULE, stripped of
//! COUNT and UNTIL, and reads back local (naive) date-times. COUNT, UNTIL, time zones and the
//! rest of the recurrence set are applied by the callers, which lets this module:
//!
//! * iterate in chunks, restarting from the last occurrence, so no call enumerates more than
//!   it needs;
//! * skip ahead ("fast-forward") to the query window for rules without COUNT, so an endless
//!   FREQ=SECONDLY series queried ten years after its DTSTART costs the window, not the decade;
//! * charge every produced date to a [`Budget`] so pathological rules fail fast with
//!   `TooManyInstances` instead of hanging.

use std::collections::VecDeque;

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz as CalTz;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarDay, ICalendarEntry, ICalendarFrequency,
    ICalendarMonth, ICalendarProperty, ICalendarRecurrenceRule, ICalendarWeekday,
};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Weekday};

use super::IcalError;

/// First chunk size; doubled per refill up to [`MAX_CHUNK`] so short windows stay cheap.
const FIRST_CHUNK: usize = 32;
const MAX_CHUNK: usize = 4096;

/// A work allowance, in produced occurrences, shared by everything one request expands.
#[derive(Debug)]
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn new(units: usize) -> Self {
        Budget(units)
    }

    /// Charges `units`; running out means the caller asked for more than it may have.
    pub(crate) fn spend(&mut self, units: usize) -> Result<(), IcalError> {
        match self.0.checked_sub(units) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => {
                self.0 = 0;
                Err(IcalError::TooManyInstances)
            }
        }
    }
}

/// One RRULE anchored at its DTSTART, in the DTSTART's local time.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The rule as handed to calcard: no COUNT/UNTIL, every default made explicit.
    scratch: ICalendarRecurrenceRule,
    dtstart: NaiveDateTime,
    count: Option<u32>,
    until: Option<NaiveDateTime>,
}

impl Rule {
    /// `until` is the rule's UNTIL already converted to the DTSTART's local time (see
    /// [`until_local`]), because only the caller knows the zone.
    pub(crate) fn new(
        source: &ICalendarRecurrenceRule,
        dtstart: NaiveDateTime,
        until: Option<NaiveDateTime>,
    ) -> Self {
        let mut scratch = source.clone();
        scratch.count = None;
        scratch.until = None;
        fill_defaults(&mut scratch, dtstart);
        Rule { scratch, dtstart, count: source.count, until }
    }

    /// Occurrences from `lower` on (a few earlier ones may appear; callers filter).
    pub(crate) fn cursor(&self, lower: NaiveDateTime) -> Cursor<'_> {
        // With COUNT every occurrence from DTSTART must be counted, so no skipping ahead.
        let anchor = match self.count {
            Some(_) => self.dtstart,
            None => fast_forward(&self.scratch, self.dtstart, lower),
        };
        Cursor {
            rule: self,
            buffer: VecDeque::new(),
            anchor,
            last: None,
            emitted: 0,
            exhausted: false,
            chunk: FIRST_CHUNK,
            started: false,
        }
    }
}

/// Chronological occurrences of a [`Rule`], produced chunk by chunk.
pub(crate) struct Cursor<'r> {
    rule: &'r Rule,
    buffer: VecDeque<NaiveDateTime>,
    anchor: NaiveDateTime,
    last: Option<NaiveDateTime>,
    emitted: u32,
    exhausted: bool,
    chunk: usize,
    started: bool,
}

impl Cursor<'_> {
    /// The next occurrence in local time, `None` once COUNT, UNTIL or the rule ends it.
    pub(crate) fn next(&mut self, budget: &mut Budget) -> Result<Option<NaiveDateTime>, IcalError> {
        if !self.started {
            self.started = true;
            // RFC 5545 §3.8.5.3: "The DTSTART property value always counts as the first
            // occurrence", even when it does not match the rule (or precedes UNTIL).
            if self.anchor == self.rule.dtstart {
                self.last = Some(self.rule.dtstart);
                self.emitted = 1;
                return Ok(Some(self.rule.dtstart));
            }
        }
        loop {
            if self.rule.count.is_some_and(|count| self.emitted >= count) {
                return Ok(None);
            }
            if let Some(date) = self.buffer.pop_front() {
                if self.last.is_some_and(|last| date <= last) {
                    continue; // restart anchors and DTSTART come back from calcard
                }
                return Ok(self.accept(date));
            }
            if self.exhausted {
                return Ok(None);
            }
            self.refill(budget)?;
        }
    }

    fn accept(&mut self, date: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.rule.until.is_some_and(|until| date > until) {
            self.exhausted = true;
            self.buffer.clear();
            return None;
        }
        self.last = Some(date);
        self.emitted = self.emitted.saturating_add(1);
        Some(date)
    }

    fn refill(&mut self, budget: &mut Budget) -> Result<(), IcalError> {
        let dates = calcard_chunk(&self.rule.scratch, self.anchor, self.chunk)?;
        budget.spend(dates.len().max(1))?;
        // calcard stops early only when the rule is finished (or finds nothing for 100 000
        // periods, e.g. BYMONTHDAY=30 in February only), so a short chunk is the end.
        self.exhausted = dates.len() < self.chunk;
        if let Some(last) = dates.last() {
            // Restarting at an occurrence keeps the period alignment of INTERVAL/WKST.
            self.anchor = *last;
        }
        self.buffer.extend(dates);
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        Ok(())
    }
}

/// Runs calcard's iterator over a scratch calendar: `limit` floating dates from `anchor`.
fn calcard_chunk(
    rule: &ICalendarRecurrenceRule,
    anchor: NaiveDateTime,
    limit: usize,
) -> Result<Vec<NaiveDateTime>, IcalError> {
    let component = ICalendarComponent {
        component_type: ICalendarComponentType::VEvent,
        entries: vec![
            ICalendarEntry::new(ICalendarProperty::Dtstart).with_value(partial(anchor)?),
            ICalendarEntry::new(ICalendarProperty::Rrule).with_value(rule.clone()),
        ],
        component_ids: Vec::new(),
    };
    let scratch = ICalendar { components: vec![component] };
    let expanded = scratch.expand_dates(CalTz::Floating, limit);
    if let Some(error) = expanded.errors.first() {
        return Err(IcalError::Invalid(format!("RRULE cannot be expanded: {}", error.error)));
    }
    let mut dates: Vec<NaiveDateTime> =
        expanded.events.iter().map(|event| event.start.naive_local()).collect();
    dates.sort_unstable();
    dates.dedup();
    Ok(dates)
}

/// A floating PartialDateTime for `date` (years outside 1..=9999 cannot be written).
fn partial(date: NaiveDateTime) -> Result<PartialDateTime, IcalError> {
    let year = u16::try_from(date.year())
        .ok()
        .filter(|year| (1..=9999).contains(year))
        .ok_or_else(|| IcalError::Invalid(format!("date {date} is out of range")))?;
    // The other fields are bounded by chrono (month ≤ 12, second ≤ 59), so they fit a u8.
    let field = |value: u32| u8::try_from(value).ok();
    Ok(PartialDateTime {
        year: Some(year),
        month: field(date.month()),
        day: field(date.day()),
        hour: field(date.hour()),
        minute: field(date.minute()),
        second: field(date.second()),
        ..Default::default()
    })
}

/// Makes explicit the BYxxx parts RFC 5545 §3.3.10 derives from DTSTART, so the scratch
/// DTSTART can be any period start without changing which dates the rule produces. Mirrors
/// calcard's `finalize_parsed_rrule`, which derives them from whatever DTSTART it is given.
fn fill_defaults(rule: &mut ICalendarRecurrenceRule, dtstart: NaiveDateTime) {
    let no_day_parts = rule.byweekno.is_empty()
        && rule.byyearday.is_empty()
        && rule.bymonthday.is_empty()
        && rule.byday.is_empty();
    let day = i8::try_from(dtstart.day()).unwrap_or(1);
    if no_day_parts {
        match rule.freq {
            ICalendarFrequency::Yearly => {
                if rule.bymonth.is_empty() {
                    let month = u8::try_from(dtstart.month()).unwrap_or(1);
                    rule.bymonth = vec![ICalendarMonth::new(month, false)];
                }
                rule.bymonthday = vec![day];
            }
            ICalendarFrequency::Monthly => rule.bymonthday = vec![day],
            ICalendarFrequency::Weekly => {
                rule.byday = vec![ICalendarDay { ordwk: None, weekday: weekday(dtstart.weekday()) }];
            }
            _ => {}
        }
    }
    let field = |value: u32| u8::try_from(value).unwrap_or(0);
    if rule.byhour.is_empty() && rule.freq < ICalendarFrequency::Hourly {
        rule.byhour = vec![field(dtstart.hour())];
    }
    if rule.byminute.is_empty() && rule.freq < ICalendarFrequency::Minutely {
        rule.byminute = vec![field(dtstart.minute())];
    }
    if rule.bysecond.is_empty() && rule.freq < ICalendarFrequency::Secondly {
        rule.bysecond = vec![field(dtstart.second())];
    }
}

fn weekday(day: Weekday) -> ICalendarWeekday {
    match day {
        Weekday::Mon => ICalendarWeekday::Monday,
        Weekday::Tue => ICalendarWeekday::Tuesday,
        Weekday::Wed => ICalendarWeekday::Wednesday,
        Weekday::Thu => ICalendarWeekday::Thursday,
        Weekday::Fri => ICalendarWeekday::Friday,
        Weekday::Sat => ICalendarWeekday::Saturday,
        Weekday::Sun => ICalendarWeekday::Sunday,
    }
}

/// A period start at least one whole period before `lower`, aligned with DTSTART's periods
/// (INTERVAL counts from DTSTART), or DTSTART itself when that is not later.
fn fast_forward(
    rule: &ICalendarRecurrenceRule,
    dtstart: NaiveDateTime,
    lower: NaiveDateTime,
) -> NaiveDateTime {
    let interval = i64::from(rule.interval.unwrap_or(1).max(1));
    let candidate = match rule.freq {
        ICalendarFrequency::Yearly => {
            let periods = i64::from(lower.year() - dtstart.year()) / interval - 1;
            i32::try_from(periods * interval)
                .ok()
                .and_then(|years| NaiveDate::from_ymd_opt(dtstart.year().checked_add(years)?, 1, 1))
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        }
        ICalendarFrequency::Monthly => {
            let months = |date: NaiveDateTime| i64::from(date.year()) * 12 + i64::from(date.month0());
            let periods = (months(lower) - months(dtstart)) / interval - 1;
            let target = months(dtstart) + periods * interval;
            let year = i32::try_from(target.div_euclid(12)).ok();
            let month = u32::try_from(target.rem_euclid(12) + 1).ok();
            year.zip(month)
                .and_then(|(year, month)| NaiveDate::from_ymd_opt(year, month, 1))
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        }
        frequency => {
            let period = seconds_per(frequency) * interval;
            let periods = (lower - dtstart).num_seconds() / period - 1;
            TimeDelta::try_seconds(periods.saturating_mul(period))
                .and_then(|delta| dtstart.checked_add_signed(delta))
        }
    };
    candidate.filter(|anchor| *anchor > dtstart).unwrap_or(dtstart)
}

fn seconds_per(frequency: ICalendarFrequency) -> i64 {
    match frequency {
        ICalendarFrequency::Weekly => 7 * 86_400,
        ICalendarFrequency::Daily => 86_400,
        ICalendarFrequency::Hourly => 3_600,
        ICalendarFrequency::Minutely => 60,
        // Yearly and Monthly are handled by calendar arithmetic in `fast_forward`.
        _ => 1,
    }
}

/// The rule's UNTIL in the DTSTART's local time. A UTC UNTIL (RFC 5545 §3.3.10 requires UTC
/// when DTSTART has a TZID) goes through `utc_to_local`; a floating one is already local. A
/// DATE UNTIL on a DATE-TIME series is not allowed by the RFC, but clients send it meaning
/// "through that day", so it becomes 23:59:59.
pub(crate) fn until_local(
    rule: &ICalendarRecurrenceRule,
    dtstart_is_date: bool,
    utc_to_local: impl Fn(i64) -> NaiveDateTime,
) -> Option<NaiveDateTime> {
    let until = rule.until.as_ref()?;
    let value = until.to_date_time()?;
    if let Some(offset) = value.offset {
        let utc = value.date_time.and_utc().timestamp() - i64::from(offset.local_minus_utc());
        return Some(utc_to_local(utc));
    }
    if until.hour.is_none() && !dtstart_is_date {
        return value.date_time.date().and_hms_opt(23, 59, 59);
    }
    Some(value.date_time)
}

//! Recurrence sets (RFC 5545 §3.8.5) expanded into instances, with overrides (RFC 5545
//! §3.8.4.4) applied.
//!
//! calcard's `expand_dates` is not used for this, because of three measured defects
//! (DEPENDENCIES.md §2): it keys overrides on (SEQUENCE, RECURRENCE-ID), so a Google override
//! with a newer SEQUENCE leaves the master instance in place too (calcard#14); it returns
//! RDATE instances before RRULE ones; and it reads unknown TZIDs in its default zone. Here an
//! override replaces the instance its RECURRENCE-ID names, whatever its SEQUENCE, results are
//! sorted, and times go through [`Zones`]. Only the RRULE date arithmetic comes from calcard
//! (see `rrule.rs`).

use std::collections::HashSet;

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarParameterName, ICalendarParameterValue, ICalendarPeriod,
    ICalendarProperty, ICalendarValue,
};
use chrono::{NaiveDateTime, TimeDelta};

use super::rrule::{Budget, Rule, until_local};
use super::times::{self, Moment, Timing};
use super::timezone::{Zone, Zones};
use super::{CompType, IcalError, Instance};

/// Occurrences one request may produce in total, whatever `max` says: about a third of a
/// second of calcard iteration on this hardware.
const WORK_BUDGET: usize = 500_000;
/// Rule iteration bounds are local readings, and local time runs backwards only at a fold
/// (a DST end), by at most two hours in the tz database since 1970. Keeping the slack tight
/// matters: every second of it is an occurrence to convert for a FREQ=SECONDLY rule.
const FOLD_SLACK: i64 = 3 * 3600;

/// The public `instances`: see `ical::instances`.
pub(crate) fn instances(
    ical: &ICalendar,
    from: Option<i64>,
    to: Option<i64>,
    floating_tz: chrono_tz::Tz,
    max: usize,
) -> Result<Vec<Instance>, IcalError> {
    if from.zip(to).is_some_and(|(from, to)| from >= to) {
        return Ok(Vec::new());
    }
    let zones = Zones::new(ical, floating_tz)?;
    let expansion = expand(ical, &zones, Window { from, to }, max)?;
    if !expansion.complete {
        return Err(IcalError::TooManyInstances);
    }
    Ok(expansion.instances)
}

/// A query window in UTC seconds, `None` meaning unbounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Window {
    pub(crate) const ALL: Window = Window { from: None, to: None };

    /// RFC 4791 §9.9: `start < to AND end > from`; a zero-length instance is tested as
    /// `from <= start < to` ("start <= DTSTART AND end > DTSTART").
    fn overlaps(&self, start: i64, end: i64) -> bool {
        let before_end = self.to.is_none_or(|to| start < to);
        let after_start = self.from.is_none_or(|from| if end > start { end > from } else { start >= from });
        before_end && after_start
    }
}

/// The instances found, sorted, and whether they are all of them.
#[derive(Debug)]
pub(crate) struct Expansion {
    pub instances: Vec<Instance>,
    /// False when the cap or the work budget stopped the expansion.
    pub complete: bool,
    /// Earliest start and latest end over every overlapping instance seen, kept or not.
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
}

/// Collects overlapping instances up to a cap.
struct Collector {
    window: Window,
    cap: usize,
    found: Expansion,
}

impl Collector {
    /// Returns false once full, telling producers to stop.
    fn offer(&mut self, instance: Instance) -> bool {
        if !self.window.overlaps(instance.start, instance.end) {
            return true;
        }
        let found = &mut self.found;
        found.earliest = Some(found.earliest.map_or(instance.start, |earliest| earliest.min(instance.start)));
        found.latest = Some(found.latest.map_or(instance.end, |latest| latest.max(instance.end)));
        if found.instances.len() >= self.cap {
            found.complete = false;
            return false;
        }
        found.instances.push(instance);
        true
    }
}

/// Expands every recurrence set in `ical` inside `window`, keeping at most `cap` instances.
pub(crate) fn expand(
    ical: &ICalendar,
    zones: &Zones,
    window: Window,
    cap: usize,
) -> Result<Expansion, IcalError> {
    let found = Expansion { instances: Vec::new(), complete: true, earliest: None, latest: None };
    let mut out = Collector { window, cap, found };
    let mut budget = Budget::new(WORK_BUDGET);
    for set in recurrence_sets(ical) {
        expand_set(ical, zones, &set, &mut out, &mut budget)?;
    }
    // calcard returned RDATE instances first (DEPENDENCIES.md §2); callers get start order.
    out.found.instances.sort_by_key(|instance| (instance.start, instance.end, instance.component));
    Ok(out.found)
}

/// The components sharing one UID: the master(s) and the overrides.
struct RecurrenceSet {
    kind: CompType,
    masters: Vec<usize>,
    overrides: Vec<usize>,
}

fn recurrence_sets(ical: &ICalendar) -> Vec<RecurrenceSet> {
    let mut sets: Vec<(Option<&str>, RecurrenceSet)> = Vec::new();
    for (index, component) in ical.components.iter().enumerate() {
        let Some(kind) = CompType::of(&component.component_type) else { continue };
        let uid = component.uid();
        let position = match sets.iter().position(|(id, set)| *id == uid && set.kind == kind) {
            Some(position) => position,
            None => {
                sets.push((uid, RecurrenceSet { kind, masters: Vec::new(), overrides: Vec::new() }));
                sets.len() - 1
            }
        };
        let set = &mut sets[position].1;
        if component.has_property(&ICalendarProperty::RecurrenceId) {
            set.overrides.push(index);
        } else {
            set.masters.push(index);
        }
    }
    sets.into_iter().map(|(_, set)| set).collect()
}

fn expand_set(
    ical: &ICalendar,
    zones: &Zones,
    set: &RecurrenceSet,
    out: &mut Collector,
    budget: &mut Budget,
) -> Result<(), IcalError> {
    if set.kind == CompType::FreeBusy {
        for index in set.masters.iter().chain(&set.overrides) {
            free_busy(zones, &ical.components[*index], *index, out)?;
        }
        return Ok(());
    }
    let mut masters = Vec::new();
    for index in &set.masters {
        if let Some(timing) = times::timing(zones, &ical.components[*index], set.kind)? {
            masters.push((*index, timing));
        }
    }
    let master_start = masters.first().map(|(_, timing)| timing.start);
    let mut overrides = Vec::new();
    for index in &set.overrides {
        overrides.extend(Override::read(zones, &ical.components[*index], *index, set.kind, master_start)?);
    }
    for (index, timing) in &masters {
        let series = Series::read(zones, &ical.components[*index], *index, *timing, &overrides)?;
        series.expand(out, budget)?;
    }
    for overridden in &overrides {
        if let Some(timing) = overridden.timing {
            let start = timing.start;
            let end = timing.end_of(&start);
            let component = overridden.index;
            let all_day = start.is_date;
            out.offer(Instance {
                start: start.utc,
                end,
                recurrence_id: Some(overridden.rid.utc),
                component,
                all_day,
            });
        }
    }
    Ok(())
}

/// A component with RECURRENCE-ID.
struct Override<'z> {
    index: usize,
    rid: Moment<'z>,
    /// RANGE=THISANDFUTURE: also moves every later instance (RFC 5545 §3.8.4.4).
    this_and_future: bool,
    timing: Option<Timing<'z>>,
}

impl<'z> Override<'z> {
    fn read(
        zones: &'z Zones,
        component: &'z ICalendarComponent,
        index: usize,
        kind: CompType,
        master_start: Option<Moment<'z>>,
    ) -> Result<Option<Self>, IcalError> {
        let Some(entry) = component.property(&ICalendarProperty::RecurrenceId) else { return Ok(None) };
        let Some(ICalendarValue::PartialDateTime(value)) = entry.values.first() else {
            return Err(IcalError::Invalid("RECURRENCE-ID is not a date or date-time".into()));
        };
        let mut rid = times::moment(zones, entry, value)?;
        // RFC 5545 §3.8.4.4: RECURRENCE-ID is local time iff the master's DTSTART is. Clients
        // that get this wrong mean the master's wall-clock time, so read it in that zone.
        if let Some(master) = master_start.filter(|master| rid.floating && !rid.is_date && !master.floating) {
            rid = Moment { floating: false, zone: master.zone, utc: master.zone.to_utc(rid.local), ..rid };
        }
        let this_and_future = entry.params.iter().any(|param| {
            param.name == ICalendarParameterName::Range
                && match &param.value {
                    ICalendarParameterValue::Bool(flag) => *flag,
                    ICalendarParameterValue::Text(text) => text.eq_ignore_ascii_case("THISANDFUTURE"),
                    _ => false,
                }
        });
        let timing = times::timing(zones, component, kind)?;
        Ok(Some(Override { index, rid, this_and_future, timing }))
    }
}

/// Whether a RECURRENCE-ID, EXDATE or RDATE names the occurrence `occurrence`. DATE values
/// (all-day series, or a DATE RECURRENCE-ID on a DATE-TIME series) match by calendar date;
/// floating values also match by local reading, so a floating RECURRENCE-ID still finds its
/// instance whatever zone the calendar is in.
fn same_instance(value: &Moment<'_>, occurrence: &Moment<'_>) -> bool {
    if value.is_date || occurrence.is_date {
        return value.date() == occurrence.date();
    }
    value.utc == occurrence.utc
        || ((value.floating || occurrence.floating) && value.local == occurrence.local)
}

/// Whether `occurrence` is at or after the RECURRENCE-ID `rid` (THISANDFUTURE reach).
fn at_or_after(occurrence: &Moment<'_>, rid: &Moment<'_>) -> bool {
    if rid.is_date || occurrence.is_date {
        return occurrence.date() >= rid.date();
    }
    occurrence.utc >= rid.utc
}

/// A master component with its RRULE, RDATEs and EXDATEs.
struct Series<'a, 'z> {
    index: usize,
    timing: Timing<'z>,
    rule: Option<Rule>,
    rdates: Vec<(Moment<'z>, Option<i64>)>,
    exdates: Vec<Moment<'z>>,
    overrides: &'a [Override<'z>],
}

impl<'a, 'z> Series<'a, 'z> {
    fn read(
        zones: &'z Zones,
        component: &'z ICalendarComponent,
        index: usize,
        timing: Timing<'z>,
        overrides: &'a [Override<'z>],
    ) -> Result<Self, IcalError> {
        let rule = match component.property(&ICalendarProperty::Rrule).and_then(|entry| entry.values.first())
        {
            Some(ICalendarValue::RecurrenceRule(source)) => {
                let start = timing.start;
                let until = until_local(source, start.is_date, |utc| start.zone.to_local(utc));
                Some(Rule::new(source, start.local, until))
            }
            Some(_) => return Err(IcalError::Invalid("RRULE is not a valid recurrence rule".into())),
            None => None,
        };
        let rdates = rdates(zones, component)?;
        let exdates = exdates(zones, component)?;
        Ok(Series { index, timing, rule, rdates, exdates, overrides })
    }

    fn is_recurring(&self) -> bool {
        self.rule.is_some() || !self.rdates.is_empty()
    }

    fn expand(&self, out: &mut Collector, budget: &mut Budget) -> Result<(), IcalError> {
        for (start, end) in &self.rdates {
            self.emit(start, *end, out);
        }
        // RFC 5545 §3.8.5.1: an instance produced by both RRULE and RDATE counts once.
        let rdate_starts: HashSet<i64> = self.rdates.iter().map(|(start, _)| start.utc).collect();
        let Some(rule) = &self.rule else {
            if !rdate_starts.contains(&self.timing.start.utc) {
                self.emit(&self.timing.start, None, out);
            }
            return Ok(());
        };
        let (lower, upper) = self.local_bounds(out.window);
        let mut cursor = rule.cursor(lower);
        loop {
            let local = match cursor.next(budget) {
                Ok(Some(local)) => local,
                Ok(None) => break,
                Err(IcalError::TooManyInstances) => {
                    out.found.complete = false;
                    break;
                }
                Err(error) => return Err(error),
            };
            // Past the window: an endless RRULE is never expanded beyond it.
            if upper.is_some_and(|upper| local > upper) {
                break;
            }
            if local < lower {
                continue; // COUNT rules start at DTSTART; skip zone work until the window
            }
            let occurrence = self.timing.start.at(local);
            if !rdate_starts.contains(&occurrence.utc) && !self.emit(&occurrence, None, out) {
                break;
            }
        }
        Ok(())
    }

    /// The local-time span of rule occurrences that can overlap `window`: widened by the
    /// longest instance and by THISANDFUTURE moves, which can carry instances into it.
    fn local_bounds(&self, window: Window) -> (NaiveDateTime, Option<NaiveDateTime>) {
        let mut reach = self.timing.reach();
        let (mut forward, mut backward) = (0_i64, 0_i64);
        for overridden in self.overrides.iter().filter(|overridden| overridden.this_and_future) {
            if let Some(timing) = overridden.timing {
                reach = reach.max(timing.reach());
                let shift = timing.start.utc - overridden.rid.utc;
                forward = forward.max(shift);
                backward = backward.max(-shift);
            }
        }
        let zone = self.timing.start.zone;
        // A fixed offset has no folds: local order is UTC order.
        let slack = TimeDelta::seconds(if matches!(zone, Zone::Fixed(_)) { 0 } else { FOLD_SLACK });
        let lower = match window.from {
            Some(from) => {
                let local = zone.to_local(from.saturating_sub(reach.saturating_add(forward)));
                local.checked_sub_signed(slack).unwrap_or(local)
            }
            None => self.timing.start.local,
        };
        let upper = window.to.map(|to| {
            let local = zone.to_local(to.saturating_add(backward));
            local.checked_add_signed(slack).unwrap_or(local)
        });
        (lower, upper)
    }

    /// Offers one occurrence unless an EXDATE removes it or an override replaces it.
    fn emit(&self, occurrence: &Moment<'z>, explicit_end: Option<i64>, out: &mut Collector) -> bool {
        if self.exdates.iter().any(|exdate| same_instance(exdate, occurrence))
            || self.overrides.iter().any(|overridden| same_instance(&overridden.rid, occurrence))
        {
            // An override takes the place of the instance it names, whatever its SEQUENCE
            // (calcard#14 left the master instance in place when SEQUENCE differed).
            return true;
        }
        let moved_by = self
            .overrides
            .iter()
            .filter(|overridden| overridden.this_and_future && at_or_after(occurrence, &overridden.rid))
            .max_by_key(|overridden| overridden.rid.utc)
            .and_then(|overridden| overridden.timing.map(|timing| (overridden, timing)));
        let recurrence_id = self.is_recurring().then_some(occurrence.utc);
        let instance = match moved_by {
            Some((overridden, timing)) => {
                let start = shifted(occurrence, &overridden.rid, &timing.start);
                let end = timing.end_of(&start);
                Instance {
                    start: start.utc,
                    end,
                    recurrence_id,
                    component: overridden.index,
                    all_day: start.is_date,
                }
            }
            None => {
                let end = explicit_end.unwrap_or_else(|| self.timing.end_of(occurrence));
                Instance {
                    start: occurrence.utc,
                    end,
                    recurrence_id,
                    component: self.index,
                    all_day: occurrence.is_date,
                }
            }
        };
        out.offer(instance)
    }
}

/// `occurrence` moved as a THISANDFUTURE override moved its own instance (RFC 5545 §3.8.4.4:
/// "all subsequent instances are also rescheduled by the same time difference"): whole days
/// for all-day series, exact seconds otherwise.
fn shifted<'z>(occurrence: &Moment<'z>, rid: &Moment<'_>, new_start: &Moment<'z>) -> Moment<'z> {
    if rid.is_date && new_start.is_date {
        return occurrence.plus_days((new_start.date() - rid.date()).num_days());
    }
    let utc = occurrence.utc + (new_start.utc - rid.utc);
    Moment { utc, local: occurrence.zone.to_local(utc), ..*occurrence }
}

/// RDATE values (RFC 5545 §3.8.5.2) with the end of PERIOD values.
fn rdates<'z>(
    zones: &'z Zones,
    component: &'z ICalendarComponent,
) -> Result<Vec<(Moment<'z>, Option<i64>)>, IcalError> {
    let mut found = Vec::new();
    for entry in component.properties(&ICalendarProperty::Rdate) {
        for value in &entry.values {
            match value {
                ICalendarValue::PartialDateTime(date) => {
                    found.push((times::moment(zones, entry, date)?, None))
                }
                ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => {
                    let start = times::moment(zones, entry, start)?;
                    let end = times::moment(zones, entry, end)?.utc.max(start.utc);
                    found.push((start, Some(end)));
                }
                ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
                    let start = times::moment(zones, entry, start)?;
                    found.push((start, Some(times::add_duration(&start, duration).max(start.utc))));
                }
                _ => return Err(IcalError::Invalid("RDATE value is not a date, date-time or period".into())),
            }
        }
    }
    Ok(found)
}

/// EXDATE values (RFC 5545 §3.8.5.1).
fn exdates<'z>(zones: &'z Zones, component: &'z ICalendarComponent) -> Result<Vec<Moment<'z>>, IcalError> {
    let mut found = Vec::new();
    for entry in component.properties(&ICalendarProperty::Exdate) {
        for value in &entry.values {
            let ICalendarValue::PartialDateTime(date) = value else {
                return Err(IcalError::Invalid("EXDATE value is not a date or date-time".into()));
            };
            found.push(times::moment(zones, entry, date)?);
        }
    }
    Ok(found)
}

/// VFREEBUSY: DTSTART/DTEND, or else each FREEBUSY period (RFC 4791 §9.9).
fn free_busy(
    zones: &Zones,
    component: &ICalendarComponent,
    index: usize,
    out: &mut Collector,
) -> Result<(), IcalError> {
    let instance =
        |start: i64, end: i64| Instance { start, end, recurrence_id: None, component: index, all_day: false };
    if let Some(timing) = times::timing(zones, component, CompType::FreeBusy)? {
        out.offer(instance(timing.start.utc, timing.end_of(&timing.start)));
        return Ok(());
    }
    for entry in component.properties(&ICalendarProperty::Freebusy) {
        for value in &entry.values {
            let (start, end) = match value {
                ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => {
                    let start = times::moment(zones, entry, start)?;
                    (start.utc, times::moment(zones, entry, end)?.utc)
                }
                ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
                    let start = times::moment(zones, entry, start)?;
                    (start.utc, times::add_duration(&start, duration))
                }
                _ => continue,
            };
            out.offer(instance(start, end.max(start)));
        }
    }
    Ok(())
}

//! Time zones: every TZID parameter (RFC 5545 §3.2.19) resolved to something that converts
//! local time to UTC, never silently to a default zone.
//!
//! calcard resolves a TZID by name only and falls back to the caller's default zone for names
//! it does not know (Outlook's `Customized Time Zone`, DEPENDENCIES.md §2). Resolution here:
//!
//! 1. the VTIMEZONE with that TZID, through calcard's name resolution (IANA names, Windows and
//!    Outlook display names, `/mozilla.org/…` prefixes, X-LIC-LOCATION, X-MICROSOFT-CDO-TZID);
//! 2. otherwise the VTIMEZONE's observances, compared with every tz database zone over sample
//!    years; an identical zone is used (it also knows history the VTIMEZONE may omit);
//! 3. otherwise the VTIMEZONE's own rules, evaluated as RFC 5545 §3.6.5 defines them;
//! 4. a TZID without VTIMEZONE is accepted only when its name is known (RFC 7809 lets clients
//!    omit standard zones); anything else is `IcalError::Invalid`.

use std::collections::HashMap;
use std::str::FromStr;

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz as CalTz;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty, ICalendarValue,
};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone};

use super::rrule::{Budget, Rule, until_local};
use super::{CompType, IcalError};

/// Observance onsets are generated from here…
const RULES_FIRST_YEAR: i32 = 1900;
/// …to here; later instants keep the last onset's offset.
const RULES_END_YEAR: i32 = 2200;
/// Bound on the onsets one observance may generate (a yearly rule needs ~300).
const OBSERVANCE_BUDGET: usize = 5_000;
/// Years a VTIMEZONE must agree with a tz database zone in to be replaced by it. Fixed, so
/// results do not change with the clock.
const SAMPLE_YEARS: [i32; 2] = [2024, 2025];
/// Zones tried first when several are identical in the sample years, so a VTIMEZONE with
/// central European rules becomes Europe/Berlin rather than alphabetically first Africa/Ceuta.
const PREFERRED: [chrono_tz::Tz; 18] = [
    chrono_tz::Tz::Europe__Berlin,
    chrono_tz::Tz::Europe__London,
    chrono_tz::Tz::America__New_York,
    chrono_tz::Tz::America__Chicago,
    chrono_tz::Tz::America__Denver,
    chrono_tz::Tz::America__Phoenix,
    chrono_tz::Tz::America__Los_Angeles,
    chrono_tz::Tz::America__Sao_Paulo,
    chrono_tz::Tz::Asia__Tokyo,
    chrono_tz::Tz::Asia__Shanghai,
    chrono_tz::Tz::Asia__Kolkata,
    chrono_tz::Tz::Asia__Kathmandu,
    chrono_tz::Tz::Asia__Dubai,
    chrono_tz::Tz::Australia__Sydney,
    chrono_tz::Tz::Pacific__Auckland,
    chrono_tz::Tz::Africa__Johannesburg,
    chrono_tz::Tz::Europe__Moscow,
    chrono_tz::Tz::UTC,
];

/// The properties whose values become instants (RFC 5545 §3.8.2, §3.8.4.4, §3.8.5, §3.8.7).
pub(crate) const TIMED: [ICalendarProperty; 9] = [
    ICalendarProperty::Dtstart,
    ICalendarProperty::Dtend,
    ICalendarProperty::Due,
    ICalendarProperty::RecurrenceId,
    ICalendarProperty::Rdate,
    ICalendarProperty::Exdate,
    ICalendarProperty::Completed,
    ICalendarProperty::Created,
    ICalendarProperty::Freebusy,
];

/// The first six of TIMED: the values that make or remove instances.
pub(crate) const INSTANCE_TIMED: &[ICalendarProperty] = TIMED.split_at(6).0;

/// How local readings in one zone map to UTC.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    /// UTC (`Z`) or an explicit offset.
    Fixed(i32),
    Iana(chrono_tz::Tz),
    /// A VTIMEZONE no tz database zone reproduces.
    Rules(VtzRules),
}

impl Zone {
    /// Seconds east of UTC in effect at `utc`.
    pub(crate) fn offset_at(&self, utc: i64) -> i32 {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Iana(tz) => iana_offset(*tz, utc),
            Zone::Rules(rules) => rules.offset_at(utc),
        }
    }

    /// The instant a local reading denotes. RFC 5545 §3.3.5: a repeated local time means its
    /// first occurrence, and a skipped one is read with the offset in effect before the gap.
    pub(crate) fn to_utc(&self, local: NaiveDateTime) -> i64 {
        let reading = local.and_utc().timestamp();
        if let Zone::Fixed(offset) = self {
            return reading - i64::from(*offset);
        }
        // Zone offsets change at most once a day, so the offsets a day either side of the
        // reading are the only candidates.
        let before = self.offset_at(reading - 86_400);
        let after = self.offset_at(reading + 86_400);
        let fits = |offset: i32| self.offset_at(reading - i64::from(offset)) == offset;
        let offset = match (fits(before), fits(after)) {
            (true, true) => before.max(after), // repeated: the larger offset is the earlier
            (false, true) => after,
            _ => before, // also the gap case: the offset before the gap
        };
        reading - i64::from(offset)
    }

    /// The local reading of `utc`.
    pub(crate) fn to_local(&self, utc: i64) -> NaiveDateTime {
        naive(utc + i64::from(self.offset_at(utc)))
    }
}

/// A Unix time as a naive date-time (the epoch for values chrono cannot represent).
pub(crate) fn naive(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0).map(|date| date.naive_utc()).unwrap_or_default()
}

fn iana_offset(tz: chrono_tz::Tz, utc: i64) -> i32 {
    tz.offset_from_utc_datetime(&naive(utc)).fix().local_minus_utc()
}

/// The zones one request needs: every TZID the object references, plus floating and UTC.
#[derive(Debug)]
pub(crate) struct Zones {
    named: HashMap<String, Zone>,
    floating: Zone,
    utc: Zone,
}

impl Zones {
    /// Resolves up front every TZID on the time properties expansion reads, so an
    /// uninterpretable one is an error for the whole object rather than a silently shifted
    /// instance. TZIDs on other properties (X- properties, for instance) are not consulted.
    pub(crate) fn new(ical: &ICalendar, floating_tz: chrono_tz::Tz) -> Result<Self, IcalError> {
        let mut named = HashMap::new();
        let members =
            ical.components.iter().filter(|component| CompType::of(&component.component_type).is_some());
        let timed = members
            .flat_map(|component| component.entries.iter())
            .filter(|entry| TIMED.contains(&entry.name));
        for entry in timed {
            if let Some(tzid) = entry.tz_id()
                && !named.contains_key(tzid)
            {
                named.insert(tzid.to_string(), resolve(ical, tzid)?);
            }
        }
        Ok(Zones { named, floating: Zone::Iana(floating_tz), utc: Zone::Fixed(0) })
    }

    pub(crate) fn named(&self, tzid: &str) -> Result<&Zone, IcalError> {
        self.named.get(tzid).ok_or_else(|| unknown_tzid(tzid))
    }

    pub(crate) fn floating(&self) -> &Zone {
        &self.floating
    }

    pub(crate) fn utc(&self) -> &Zone {
        &self.utc
    }
}

fn is_timezone_part(component: &ICalendarComponent) -> bool {
    matches!(
        component.component_type,
        ICalendarComponentType::VTimezone
            | ICalendarComponentType::Standard
            | ICalendarComponentType::Daylight
    )
}

fn unknown_tzid(tzid: &str) -> IcalError {
    IcalError::Invalid(format!(
        "TZID {tzid:?} has no VTIMEZONE and is not a known time zone name (RFC 5545 §3.2.19)"
    ))
}

/// Resolves one TZID as described in the module documentation.
fn resolve(ical: &ICalendar, tzid: &str) -> Result<Zone, IcalError> {
    match ical.timezones().find(|vtimezone| tzid_of(vtimezone) == Some(tzid)) {
        Some(vtimezone) => resolve_vtimezone(ical, vtimezone),
        None => by_name(tzid).ok_or_else(|| unknown_tzid(tzid)),
    }
}

fn tzid_of(vtimezone: &ICalendarComponent) -> Option<&str> {
    vtimezone.property(&ICalendarProperty::Tzid)?.values.first()?.as_text()
}

fn resolve_vtimezone(ical: &ICalendar, vtimezone: &ICalendarComponent) -> Result<Zone, IcalError> {
    if let Some(zone) = vtimezone.timezone().and_then(|(_, tz)| from_calcard(tz)) {
        return Ok(zone);
    }
    let rules = VtzRules::from_vtimezone(ical, vtimezone)?;
    Ok(match match_iana(&rules) {
        Some(tz) => Zone::Iana(tz),
        None => Zone::Rules(rules),
    })
}

/// calcard's name resolution: IANA, 131 Windows names, Outlook display names, prefixes.
fn by_name(name: &str) -> Option<Zone> {
    CalTz::from_str(name).ok().and_then(from_calcard)
}

fn from_calcard(tz: CalTz) -> Option<Zone> {
    match tz {
        CalTz::Tz(tz) => Some(Zone::Iana(tz)),
        CalTz::Fixed(offset) => Some(Zone::Fixed(offset.local_minus_utc())),
        CalTz::Floating => None,
    }
}

/// The first tz database zone with the same UTC offset as `rules` at every sample instant.
fn match_iana(rules: &VtzRules) -> Option<chrono_tz::Tz> {
    let samples = sample_instants(rules);
    let expected: Vec<i32> = samples.iter().map(|utc| rules.offset_at(*utc)).collect();
    PREFERRED
        .iter()
        .chain(chrono_tz::TZ_VARIANTS.iter())
        .copied()
        .find(|tz| samples.iter().zip(&expected).all(|(utc, offset)| iana_offset(*tz, *utc) == *offset))
}

/// Instants that pin down a zone's behaviour in the sample years: January and July first
/// (they reject most zones at once), each VTIMEZONE transition and the second before it (so
/// transition times must agree exactly), then twice a day (so the candidate has no extra
/// transitions). When the VTIMEZONE's rules stop before the sample years, its last year is
/// sampled too, so historical definitions are not mapped to a zone that only agrees today.
fn sample_instants(rules: &VtzRules) -> Vec<i64> {
    let mut years = SAMPLE_YEARS.to_vec();
    if let Some(last) = rules.last_onset_year().filter(|year| (1970..SAMPLE_YEARS[0]).contains(year)) {
        years.push(last);
    }
    let starts: Vec<i64> = years.iter().filter_map(|year| year_start(*year)).collect();
    let mut samples: Vec<i64> = starts.iter().flat_map(|start| [*start, start + 181 * 86_400]).collect();
    for start in &starts {
        let end = start + 366 * 86_400;
        for (onset, _) in rules.transitions.iter().filter(|(onset, _)| (*start..end).contains(onset)) {
            samples.extend([onset - 1, *onset]);
        }
    }
    for start in &starts {
        samples.extend((0..366 * 2).map(|half_day| start + half_day * 43_200));
    }
    samples
}

fn year_start(year: i32) -> Option<i64> {
    Some(NaiveDate::from_ymd_opt(year, 1, 1)?.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A VTIMEZONE's observances as a transition table (RFC 5545 §3.6.5: "The offset to apply at
/// any given time is found by locating the observance that has the last onset date and time
/// before the time in question, and using the offset value from that observance").
#[derive(Debug, Clone)]
pub(crate) struct VtzRules {
    /// (onset in UTC, offset from then on), sorted by onset.
    transitions: Vec<(i64, i32)>,
    /// Before the first onset: the earliest observance's TZOFFSETFROM.
    initial: i32,
}

impl VtzRules {
    pub(crate) fn offset_at(&self, utc: i64) -> i32 {
        match self.transitions.partition_point(|(onset, _)| *onset <= utc) {
            0 => self.initial,
            after => self.transitions[after - 1].1,
        }
    }

    fn last_onset_year(&self) -> Option<i32> {
        self.transitions.last().map(|(onset, _)| naive(*onset).year())
    }

    fn from_vtimezone(ical: &ICalendar, vtimezone: &ICalendarComponent) -> Result<Self, IcalError> {
        let mut transitions = Vec::new();
        let mut earliest: Option<(NaiveDateTime, i32)> = None;
        let observances = vtimezone.component_ids.iter().filter_map(|id| ical.components.get(*id as usize));
        for component in observances.filter(|component| is_timezone_part(component)) {
            let observance = Observance::read(component)?;
            if earliest.is_none_or(|(start, _)| observance.dtstart < start) {
                earliest = Some((observance.dtstart, observance.from));
            }
            observance.onsets(&mut transitions);
        }
        let Some((_, initial)) = earliest else {
            return Err(IcalError::Invalid(format!(
                "VTIMEZONE {:?} has no STANDARD or DAYLIGHT observance (RFC 5545 §3.6.5)",
                tzid_of(vtimezone).unwrap_or_default()
            )));
        };
        transitions.sort_unstable();
        transitions.dedup_by_key(|(onset, _)| *onset);
        Ok(VtzRules { transitions, initial })
    }
}

/// One STANDARD or DAYLIGHT sub-component.
struct Observance<'c> {
    dtstart: NaiveDateTime,
    from: i32,
    to: i32,
    rrule: Option<&'c calcard::icalendar::ICalendarRecurrenceRule>,
    rdates: Vec<NaiveDateTime>,
}

impl<'c> Observance<'c> {
    fn read(component: &'c ICalendarComponent) -> Result<Self, IcalError> {
        let first = |property: ICalendarProperty| {
            component.property(&property).and_then(|entry| entry.values.first())
        };
        let missing = |name: &str| {
            IcalError::Invalid(format!(
                "{} observance without a valid {name} (RFC 5545 §3.6.5)",
                component.component_type.as_str()
            ))
        };
        let dtstart = first(ICalendarProperty::Dtstart)
            .and_then(ICalendarValue::as_partial_date_time)
            .and_then(PartialDateTime::to_date_time)
            .ok_or_else(|| missing("DTSTART"))?
            .date_time;
        let from = first(ICalendarProperty::Tzoffsetfrom)
            .and_then(offset_value)
            .ok_or_else(|| missing("TZOFFSETFROM"))?;
        let to = first(ICalendarProperty::Tzoffsetto)
            .and_then(offset_value)
            .ok_or_else(|| missing("TZOFFSETTO"))?;
        let rrule = match first(ICalendarProperty::Rrule) {
            Some(ICalendarValue::RecurrenceRule(rule)) => Some(rule.as_ref()),
            _ => None,
        };
        let rdates = component
            .properties(&ICalendarProperty::Rdate)
            .flat_map(|entry| entry.values.iter())
            .filter_map(|value| value.as_partial_date_time()?.to_date_time())
            .map(|value| value.date_time)
            .collect();
        Ok(Observance { dtstart, from, to, rrule, rdates })
    }

    /// Appends (onset in UTC, TZOFFSETTO) for every onset; onsets are local times read with
    /// TZOFFSETFROM (RFC 5545 §3.6.5), and a UTC UNTIL bounds them in UTC.
    fn onsets(&self, out: &mut Vec<(i64, i32)>) {
        let utc = |local: NaiveDateTime| local.and_utc().timestamp() - i64::from(self.from);
        out.push((utc(self.dtstart), self.to));
        out.extend(self.rdates.iter().map(|local| (utc(*local), self.to)));
        let Some(source) = self.rrule else { return };
        let until = until_local(source, false, |utc| naive(utc + i64::from(self.from)));
        let rule = Rule::new(source, self.dtstart, until);
        let lower =
            NaiveDate::from_ymd_opt(RULES_FIRST_YEAR, 1, 1).and_then(|date| date.and_hms_opt(0, 0, 0));
        let mut cursor = rule.cursor(lower.unwrap_or(self.dtstart));
        let mut budget = Budget::new(OBSERVANCE_BUDGET);
        // A rule calcard cannot expand, or one that exhausts the budget, leaves the onsets
        // found so far: the zone still works, with the last known offset continuing.
        while let Ok(Some(local)) = cursor.next(&mut budget) {
            if local.year() >= RULES_END_YEAR {
                break;
            }
            out.push((utc(local), self.to));
        }
    }
}

/// A UTC-OFFSET value (RFC 5545 §3.3.14), which calcard stores in a PartialDateTime.
fn offset_value(value: &ICalendarValue) -> Option<i32> {
    let offset = value.as_partial_date_time()?;
    let seconds = i32::from(offset.tz_hour?) * 3600 + i32::from(offset.tz_minute.unwrap_or(0)) * 60;
    Some(if offset.tz_minus { -seconds } else { seconds })
}

/// The zone a CALDAV:calendar-timezone value (RFC 4791 §5.2.2) stands for.
pub(crate) fn calendar_timezone(ical: &ICalendar) -> Result<chrono_tz::Tz, IcalError> {
    let mut vtimezones = ical.timezones();
    let (Some(vtimezone), None) = (vtimezones.next(), vtimezones.next()) else {
        return Err(IcalError::Invalid(
            "calendar-timezone must hold exactly one VTIMEZONE (RFC 4791 §5.2.2)".into(),
        ));
    };
    let name = tzid_of(vtimezone).unwrap_or_default();
    match resolve_vtimezone(ical, vtimezone)? {
        Zone::Iana(tz) => Ok(tz),
        Zone::Fixed(offset) if offset % 3600 == 0 => {
            // Etc/GMT names count the other way round: Etc/GMT-5 is UTC+05:00.
            let etc = format!("Etc/GMT{:+}", -offset / 3600).replace("+0", "");
            chrono_tz::Tz::from_str(&etc).map_err(|_| no_iana(name))
        }
        _ => Err(no_iana(name)),
    }
}

fn no_iana(name: &str) -> IcalError {
    IcalError::Invalid(format!("VTIMEZONE {name:?} matches no IANA time zone"))
}

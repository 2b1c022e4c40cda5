//! The one place davit writes iCalendar text, and the transformations CalDAV applies to an
//! object before it is written into a REPORT answer (RFC 4791 §9.6): component/property
//! selection, recurrence expansion and limiting the recurrence set.
//!
//! Writing goes through calcard's writer (folding at 75 octets, CRLF, escaping of TEXT) with
//! one fix-up: calcard text-escapes URI values, so `geo:37.3,-122.0` came out as
//! `geo:37.3\,-122.0` and `data:…;base64,…` as `base64\,` (DEPENDENCIES.md §2). A URI value
//! (RFC 5545 §3.3.13) is not TEXT and is never escaped, so those backslashes are removed here.

use std::collections::HashSet;

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarFreeBusyType,
    ICalendarParameter, ICalendarParameterName, ICalendarParameterValue, ICalendarPeriod, ICalendarProperty,
    ICalendarValue, ICalendarValueType,
};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use super::timezone::Zones;
use super::{CompType, IcalError, Instance, times};
use crate::caldav::request::CompSelection;

/// Lines are folded at 75 octets, CRLF excluded (RFC 5545 §3.1).
const FOLD_AT: usize = 75;
/// Components nest a few levels deep in practice (VCALENDAR › VEVENT › VALARM); deeper
/// structures are not copied, so hostile nesting cannot exhaust the stack.
const MAX_DEPTH: usize = 32;
/// Work allowed for the instance lists limit-recurrence-set needs: beyond it every override
/// is kept, which over-answers rather than drops one that matters.
const LIMIT_SET_CAP: usize = 100_000;

/// The PRODID of iCalendar objects davit composes itself (free-busy answers).
pub const PRODID: &str = "-//davit//CalDAV Server//EN";

/// The object as iCalendar text: CRLF line ends, lines folded at 75 octets, URI values
/// unescaped. Walks the component tree from the root (component 0).
pub fn write(ical: &ICalendar) -> String {
    let mut out = String::new();
    if ical.components.is_empty() {
        return out;
    }
    // An explicit stack: (component, index of the next child to write).
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    boundary(&mut out, "BEGIN:", &ical.components[0]);
    for entry in &ical.components[0].entries {
        write_entry(entry, &mut out);
    }
    while let Some((current, next)) = stack.last_mut() {
        let component = &ical.components[*current];
        let child = component.component_ids.get(*next).map(|&id| id as usize);
        *next += 1;
        match child.filter(|&id| id < ical.components.len() && stack.len() < MAX_DEPTH) {
            Some(id) => {
                boundary(&mut out, "BEGIN:", &ical.components[id]);
                for entry in &ical.components[id].entries {
                    write_entry(entry, &mut out);
                }
                stack.push((id, 0));
            }
            None if child.is_some() => {} // skipped: dangling or too deep
            None => {
                boundary(&mut out, "END:", component);
                stack.pop();
            }
        }
    }
    out
}

fn boundary(out: &mut String, keyword: &str, component: &ICalendarComponent) {
    fold(&format!("{keyword}{}", component.component_type.as_str().to_ascii_uppercase()), out);
}

/// One property line: calcard's, with the URI fix-up when the value is a URI.
fn write_entry(entry: &ICalendarEntry, out: &mut String) {
    let mut line = String::new();
    if entry.write_to(&mut line).is_err() {
        return;
    }
    if !is_uri_valued(entry) {
        out.push_str(&line);
        return;
    }
    let unfolded = line.trim_end_matches("\r\n").replace("\r\n ", "");
    match value_start(&unfolded) {
        Some(at) => fold(&format!("{}{}", &unfolded[..at], unescape_uri(&unfolded[at..])), out),
        None => out.push_str(&line),
    }
}

/// Whether the entry's value is a URI (RFC 5545 §3.3.13) rather than TEXT: calcard parsed it
/// as one, `VALUE=URI` says so, or an X-/unknown property (whose type calcard cannot know)
/// holds a `geo:` or `data:` URI, as Apple's X-APPLE-STRUCTURED-LOCATION does.
fn is_uri_valued(entry: &ICalendarEntry) -> bool {
    let value_uri = entry.params.iter().any(|param| {
        param.name == ICalendarParameterName::Value
            && match &param.value {
                ICalendarParameterValue::Value(kind) => *kind == ICalendarValueType::Uri,
                ICalendarParameterValue::Text(text) => text.eq_ignore_ascii_case("URI"),
                _ => false,
            }
    });
    let uri_text = matches!(entry.name, ICalendarProperty::Other(_))
        && entry.values.iter().any(|value| match value {
            ICalendarValue::Text(text) => {
                let head = text.get(..5).unwrap_or(text);
                head.eq_ignore_ascii_case("data:")
                    || head.get(..4).is_some_and(|h| h.eq_ignore_ascii_case("geo:"))
            }
            _ => false,
        });
    value_uri || uri_text || entry.values.iter().any(|value| matches!(value, ICalendarValue::Uri(_)))
}

/// The byte offset just after the first colon outside double quotes (where the value starts).
fn value_start(line: &str) -> Option<usize> {
    let mut quoted = false;
    line.char_indices().find_map(|(at, ch)| match ch {
        '"' => {
            quoted = !quoted;
            None
        }
        ':' if !quoted => Some(at + 1),
        _ => None,
    })
}

/// Undoes calcard's TEXT escaping of `\`, `,` and `;` in a URI value.
fn unescape_uri(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\\'
            && let Some(&next @ (',' | ';' | '\\')) = chars.peek()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(ch);
    }
    out
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 sequence) and a CRLF
/// (RFC 5545 §3.1). The one folding routine for everything davit writes.
pub fn fold(line: &str, out: &mut String) {
    let mut used = 0;
    for ch in line.chars() {
        let width = ch.len_utf8();
        if used + width > FOLD_AT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(ch);
        used += width;
    }
    out.push_str("\r\n");
}

fn name_of(component: &ICalendarComponent) -> &str {
    component.component_type.as_str()
}

/// Copies component `index` of `from` with its whole subtree into `to`, returning its new
/// index; `edit` may change each copied component.
fn copy_subtree(
    from: &ICalendar,
    index: usize,
    to: &mut ICalendar,
    depth: usize,
    edit: &mut dyn FnMut(&mut ICalendarComponent),
) -> u32 {
    let source = &from.components[index];
    let mut copy = ICalendarComponent {
        component_type: source.component_type.clone(),
        entries: source.entries.clone(),
        component_ids: Vec::new(),
    };
    edit(&mut copy);
    let at = to.components.len();
    to.components.push(copy);
    if depth < MAX_DEPTH {
        let children: Vec<u32> = source
            .component_ids
            .iter()
            .filter(|&&id| (id as usize) < from.components.len())
            .map(|&id| copy_subtree(from, id as usize, to, depth + 1, edit))
            .collect();
        to.components[at].component_ids = children;
    }
    at as u32
}

/// A new object holding the root's properties and, below it, the root children `keep`
/// selects, in document order.
fn with_root_children(ical: &ICalendar, mut keep: impl FnMut(usize) -> bool) -> ICalendar {
    let mut out = ICalendar { components: Vec::new() };
    let Some(root) = ical.components.first() else { return out };
    out.components.push(ICalendarComponent {
        component_type: root.component_type.clone(),
        entries: root.entries.clone(),
        component_ids: Vec::new(),
    });
    let mut children = Vec::new();
    for &id in &root.component_ids {
        if (id as usize) < ical.components.len() && keep(id as usize) {
            children.push(copy_subtree(ical, id as usize, &mut out, 1, &mut |_| {}));
        }
    }
    out.components[0].component_ids = children;
    out
}

/// Keeps only the components and properties `sel` names (RFC 4791 §9.6.1–§9.6.4), from the
/// root down. `allprop`/`allcomp` keep every property/sub-component; a `comp` element that
/// names neither properties nor components keeps its component whole, as the VTIMEZONE of
/// the RFC 4791 §7.8.1 example shows. VERSION and PRODID of VCALENDAR are kept only when
/// selected like any other property; VTIMEZONEs only under `allcomp` or when named.
pub fn select(ical: &ICalendar, sel: &CompSelection) -> ICalendar {
    let mut out = ICalendar { components: Vec::new() };
    let Some(root) = ical.components.first() else { return out };
    if !name_of(root).eq_ignore_ascii_case(&sel.name) {
        // The selection does not describe this object: an empty VCALENDAR.
        out.components.push(ICalendarComponent {
            component_type: root.component_type.clone(),
            entries: Vec::new(),
            component_ids: Vec::new(),
        });
        return out;
    }
    copy_selected(ical, 0, sel, &mut out, 0);
    out
}

fn copy_selected(
    ical: &ICalendar,
    index: usize,
    sel: &CompSelection,
    out: &mut ICalendar,
    depth: usize,
) -> u32 {
    let whole = !sel.all_props && sel.props.is_empty() && !sel.all_comps && sel.comps.is_empty();
    if whole {
        return copy_subtree(ical, index, out, depth, &mut |_| {});
    }
    let source = &ical.components[index];
    let entries = source
        .entries
        .iter()
        .filter(|entry| {
            sel.all_props || sel.props.iter().any(|name| name.eq_ignore_ascii_case(entry.name.as_str()))
        })
        .cloned()
        .collect();
    let at = out.components.len();
    out.components.push(ICalendarComponent {
        component_type: source.component_type.clone(),
        entries,
        component_ids: Vec::new(),
    });
    if depth >= MAX_DEPTH {
        return at as u32;
    }
    let mut children = Vec::new();
    for &id in &source.component_ids {
        let Some(child) = ical.components.get(id as usize) else { continue };
        if sel.all_comps {
            children.push(copy_subtree(ical, id as usize, out, depth + 1, &mut |_| {}));
        } else if let Some(child_sel) = sel.comps.iter().find(|s| s.name.eq_ignore_ascii_case(name_of(child)))
        {
            children.push(copy_selected(ical, id as usize, child_sel, out, depth + 1));
        }
    }
    out.components[at].component_ids = children;
    at as u32
}

/// RFC 4791 §9.6.5: every instance overlapping `[from, to)` (the §9.9 overlap rule) as a
/// component of its own, sorted by start. Each carries RECURRENCE-ID when the object
/// recurs, its DTSTART and DTEND/DUE in UTC (DATE values stay DATE: they name no zone), and
/// no RRULE, RDATE, EXDATE or EXRULE; an overridden instance is the override with its own
/// properties. VTIMEZONEs are dropped, and every other zoned or floating date-time in the
/// copied components (VALARMs included) is converted to UTC; a property whose TZID cannot be
/// resolved is dropped, since nothing could interpret it. Components without a start
/// (a VTODO without DTSTART and DUE, say) and VFREEBUSY are kept as they are, in UTC.
///
/// More than `max` instances in the range → [`IcalError::TooManyInstances`].
pub fn expand(
    ical: &ICalendar,
    from: i64,
    to: i64,
    floating: Tz,
    max: usize,
) -> Result<ICalendar, IcalError> {
    let instances = super::instances(ical, Some(from), Some(to), floating, max)?;
    let zones = Zones::new(ical, floating)?;
    let mut out = ICalendar { components: Vec::new() };
    let Some(root) = ical.components.first() else { return Ok(out) };
    out.components.push(ICalendarComponent {
        component_type: root.component_type.clone(),
        entries: root.entries.clone(),
        component_ids: Vec::new(),
    });
    let mut children = Vec::new();
    // VFREEBUSY is not a recurrence set: it is passed through below, once.
    let placeable = |instance: &&Instance| {
        CompType::of(&ical.components[instance.component].component_type) != Some(CompType::FreeBusy)
    };
    for instance in instances.iter().filter(placeable) {
        let mut failed = None;
        let mut first = true;
        let id = copy_subtree(ical, instance.component, &mut out, 1, &mut |component| {
            let result = if std::mem::take(&mut first) {
                place_instance(component, instance, &zones, floating)
            } else {
                to_utc(component, &zones)
            };
            if let Err(error) = result {
                failed.get_or_insert(error);
            }
        });
        if let Some(error) = failed {
            return Err(error);
        }
        children.push(id);
    }
    for &id in &root.component_ids {
        let Some(component) = ical.components.get(id as usize) else { continue };
        if is_timezone(component) || has_start(component) {
            continue;
        }
        let mut failed = None;
        children.push(copy_subtree(ical, id as usize, &mut out, 1, &mut |component| {
            if let Err(error) = to_utc(component, &zones) {
                failed.get_or_insert(error);
            }
        }));
        if let Some(error) = failed {
            return Err(error);
        }
    }
    out.components[0].component_ids = children;
    Ok(out)
}

fn is_timezone(component: &ICalendarComponent) -> bool {
    component.component_type == ICalendarComponentType::VTimezone
}

/// Whether expansion can place the component in time (it then appears as instances).
fn has_start(component: &ICalendarComponent) -> bool {
    let has = |property: ICalendarProperty| component.has_property(&property);
    match CompType::of(&component.component_type) {
        Some(CompType::Event | CompType::Journal) => {
            has(ICalendarProperty::Dtstart) || has(ICalendarProperty::RecurrenceId)
        }
        Some(CompType::Todo) => has(ICalendarProperty::Dtstart) || has(ICalendarProperty::Due),
        Some(CompType::FreeBusy) | None => false,
    }
}

/// Rewrites a copy of the component an instance comes from into that one instance.
fn place_instance(
    component: &mut ICalendarComponent,
    instance: &Instance,
    zones: &Zones,
    floating: Tz,
) -> Result<(), IcalError> {
    let end_name = if component.component_type == ICalendarComponentType::VTodo {
        ICalendarProperty::Due
    } else {
        ICalendarProperty::Dtend
    };
    // RECURRENCE-ID has the value type of the master's DTSTART: the override's own, else the
    // instance's (a master instance's start is the master's).
    let rid_is_date =
        component.property(&ICalendarProperty::RecurrenceId).map(entry_is_date).unwrap_or(instance.all_day);
    let recurrence_id = instance
        .recurrence_id
        .map(|rid| when(ICalendarProperty::RecurrenceId, &[], rid, rid_is_date, floating));
    let mut entries = Vec::with_capacity(component.entries.len() + 1);
    let mut placed_rid = false;
    for entry in std::mem::take(&mut component.entries) {
        match &entry.name {
            ICalendarProperty::Dtstart => {
                entries.push(when(
                    ICalendarProperty::Dtstart,
                    &entry.params,
                    instance.start,
                    entry_is_date(&entry),
                    floating,
                ));
                if let Some(rid) = recurrence_id.clone().filter(|_| !placed_rid) {
                    entries.push(rid);
                    placed_rid = true;
                }
            }
            ICalendarProperty::Dtend | ICalendarProperty::Due => {
                entries.push(when(
                    entry.name.clone(),
                    &entry.params,
                    instance.end,
                    entry_is_date(&entry),
                    floating,
                ));
            }
            ICalendarProperty::Duration => {
                // Kept while it still says how long this instance is in UTC terms; a nominal
                // day across a DST change is not 86 400 s, so then the end is written.
                let exact = match entry.values.first() {
                    Some(ICalendarValue::Duration(duration)) => {
                        instance.all_day || duration.as_seconds() == instance.end - instance.start
                    }
                    _ => false,
                };
                if exact {
                    entries.push(entry);
                } else {
                    entries.push(when(end_name.clone(), &[], instance.end, instance.all_day, floating));
                }
            }
            ICalendarProperty::RecurrenceId => {
                if let Some(rid) = recurrence_id.clone().filter(|_| !placed_rid) {
                    entries.push(rid);
                    placed_rid = true;
                }
            }
            ICalendarProperty::Rrule
            | ICalendarProperty::Rdate
            | ICalendarProperty::Exdate
            | ICalendarProperty::Exrule => {}
            _ => entries.extend(entry_to_utc(entry, zones)?),
        }
    }
    if let Some(rid) = recurrence_id.filter(|_| !placed_rid) {
        entries.push(rid);
    }
    component.entries = entries;
    Ok(())
}

/// Converts every zoned or floating date-time of a copied component to UTC.
fn to_utc(component: &mut ICalendarComponent, zones: &Zones) -> Result<(), IcalError> {
    let mut entries = Vec::with_capacity(component.entries.len());
    for entry in std::mem::take(&mut component.entries) {
        entries.extend(entry_to_utc(entry, zones)?);
    }
    component.entries = entries;
    Ok(())
}

/// The entry with its date-times (and periods) in UTC and no TZID; `None` when it has a TZID
/// that cannot be applied (an unknown zone, or a value that is not a date-time): the
/// VTIMEZONE it points to is not returned.
fn entry_to_utc(mut entry: ICalendarEntry, zones: &Zones) -> Result<Option<ICalendarEntry>, IcalError> {
    let zoned = |value: &PartialDateTime| value.hour.is_some() && value.tz_hour.is_none();
    let needs = entry.values.iter().any(|value| match value {
        ICalendarValue::PartialDateTime(value) => zoned(value),
        ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => zoned(start) || zoned(end),
        ICalendarValue::Period(ICalendarPeriod::Duration { start, .. }) => zoned(start),
        _ => false,
    });
    if let Some(tzid) = entry.tz_id() {
        // calcard keeps X- property values as TEXT, which cannot be converted.
        let convertible = entry
            .values
            .iter()
            .all(|value| matches!(value, ICalendarValue::PartialDateTime(_) | ICalendarValue::Period(_)));
        if !convertible || (needs && zones.named(tzid).is_err()) {
            return Ok(None);
        }
    } else if !needs {
        return Ok(Some(entry));
    }
    let mut converted = Vec::with_capacity(entry.values.len());
    for value in &entry.values {
        let utc = |value: &PartialDateTime| -> Result<PartialDateTime, IcalError> {
            if !zoned(value) {
                return Ok(value.clone());
            }
            Ok(PartialDateTime::from_utc_timestamp(times::moment(zones, &entry, value)?.utc))
        };
        converted.push(match value {
            ICalendarValue::PartialDateTime(value) => ICalendarValue::PartialDateTime(Box::new(utc(value)?)),
            ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => {
                ICalendarValue::Period(ICalendarPeriod::Range { start: utc(start)?, end: utc(end)? })
            }
            ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
                ICalendarValue::Period(ICalendarPeriod::Duration {
                    start: utc(start)?,
                    duration: duration.clone(),
                })
            }
            other => other.clone(),
        });
    }
    entry.values = converted;
    entry.params.retain(|param| param.name != ICalendarParameterName::Tzid);
    Ok(Some(entry))
}

fn entry_is_date(entry: &ICalendarEntry) -> bool {
    matches!(entry.values.first(), Some(ICalendarValue::PartialDateTime(value)) if value.hour.is_none())
}

/// A DATE (the local date of `utc` in the calendar's zone) or UTC DATE-TIME property with
/// `params` minus TZID and VALUE.
fn when(
    name: ICalendarProperty,
    params: &[ICalendarParameter],
    utc: i64,
    is_date: bool,
    floating: Tz,
) -> ICalendarEntry {
    let mut params: Vec<ICalendarParameter> = params
        .iter()
        .filter(|param| {
            !matches!(
                param.name,
                ICalendarParameterName::Tzid | ICalendarParameterName::Value | ICalendarParameterName::Range
            )
        })
        .cloned()
        .collect();
    let value = if is_date {
        params.insert(
            0,
            ICalendarParameter {
                name: ICalendarParameterName::Value,
                value: ICalendarParameterValue::Value(ICalendarValueType::Date),
            },
        );
        date_value(local_date(utc, floating))
    } else {
        PartialDateTime::from_utc_timestamp(utc)
    };
    ICalendarEntry { name, params, values: vec![ICalendarValue::PartialDateTime(Box::new(value))] }
}

fn local_date(utc: i64, zone: Tz) -> NaiveDate {
    zone.timestamp_opt(utc, 0).single().map(|at| at.date_naive()).unwrap_or_default()
}

fn date_value(date: NaiveDate) -> PartialDateTime {
    use chrono::Datelike;
    PartialDateTime {
        year: u16::try_from(date.year()).ok(),
        month: u8::try_from(date.month()).ok(),
        day: u8::try_from(date.day()).ok(),
        ..Default::default()
    }
}

/// RFC 4791 §9.6.6: the master component(s) and only the overridden instances that impact
/// `[from, to)`: the override's own start/end overlaps it, or the start/end the instance
/// had before it was overridden does, or it is a RANGE=THISANDFUTURE override starting before
/// `to` (it moves instances that may lie in the range). Everything else (VTIMEZONEs,
/// non-recurring components) is kept. A recurrence set too large to enumerate keeps every
/// override: more than asked, never less.
pub fn limit_recurrence_set(
    ical: &ICalendar,
    from: i64,
    to: i64,
    floating: Tz,
) -> Result<ICalendar, IcalError> {
    let overrides: Vec<usize> = ical
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            CompType::of(&c.component_type).is_some() && c.has_property(&ICalendarProperty::RecurrenceId)
        })
        .map(|(index, _)| index)
        .collect();
    if overrides.is_empty() {
        return Ok(with_root_children(ical, |_| true));
    }
    let now = match super::instances(ical, Some(from), Some(to), floating, LIMIT_SET_CAP) {
        Ok(list) => list,
        Err(IcalError::TooManyInstances) => return Ok(with_root_children(ical, |_| true)),
        Err(error) => return Err(error),
    };
    let current: HashSet<usize> = now.iter().map(|instance| instance.component).collect();
    // The same set without its overrides gives each instance's original time.
    let mut masters_only = ical.clone();
    for &index in &overrides {
        masters_only.components[index] = ICalendarComponent {
            component_type: ICalendarComponentType::Other("X-DAVIT-OVERRIDE".into()),
            entries: Vec::new(),
            component_ids: Vec::new(),
        };
    }
    let original: HashSet<i64> =
        match super::instances(&masters_only, Some(from), Some(to), floating, LIMIT_SET_CAP) {
            Ok(list) => list.iter().filter_map(|instance| instance.recurrence_id).collect(),
            Err(IcalError::TooManyInstances) => return Ok(with_root_children(ical, |_| true)),
            Err(error) => return Err(error),
        };
    let zones = Zones::new(ical, floating)?;
    let mut dropped = HashSet::new();
    for &index in &overrides {
        let component = &ical.components[index];
        let rid = recurrence_id_utc(ical, component, &zones)?;
        let this_and_future = component.property(&ICalendarProperty::RecurrenceId).is_some_and(|entry| {
            entry.params.iter().any(|param| {
                param.name == ICalendarParameterName::Range
                    && match &param.value {
                        ICalendarParameterValue::Bool(flag) => *flag,
                        ICalendarParameterValue::Text(text) => text.eq_ignore_ascii_case("THISANDFUTURE"),
                        _ => false,
                    }
            })
        });
        let impacts = current.contains(&index)
            || rid.is_some_and(|rid| original.contains(&rid) || (this_and_future && rid < to));
        if !impacts {
            dropped.insert(index);
        }
    }
    Ok(with_root_children(ical, |index| !dropped.contains(&index)))
}

/// An override's RECURRENCE-ID in UTC, read as expansion reads it: a floating date-time on a
/// zoned series means the master's wall-clock time (RFC 5545 §3.8.4.4).
fn recurrence_id_utc(
    ical: &ICalendar,
    component: &ICalendarComponent,
    zones: &Zones,
) -> Result<Option<i64>, IcalError> {
    let Some(rid) = times::property_moment(zones, component, &ICalendarProperty::RecurrenceId)? else {
        return Ok(None);
    };
    if rid.floating && !rid.is_date {
        let uid = component.uid();
        let master = ical.components.iter().find(|c| {
            c.component_type == component.component_type
                && c.uid() == uid
                && !c.has_property(&ICalendarProperty::RecurrenceId)
        });
        if let Some(master) = master
            && let Some(start) = times::property_moment(zones, master, &ICalendarProperty::Dtstart)?
            && !start.floating
        {
            return Ok(Some(start.zone.to_utc(rid.local)));
        }
    }
    Ok(Some(rid.utc))
}

/// The FBTYPE of a busy period (RFC 5545 §3.2.9); FREE time is never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BusyType {
    Busy,
    BusyUnavailable,
    BusyTentative,
}

/// A busy period, UTC Unix seconds, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusyPeriod {
    pub start: i64,
    pub end: i64,
    pub kind: BusyType,
}

/// The answer of a free-busy query (RFC 4791 §7.10): one VCALENDAR holding one VFREEBUSY
/// with DTSTAMP, DTSTART/DTEND = the queried range and one FREEBUSY property per period, in
/// the order given, each with its FBTYPE.
pub fn freebusy(start: i64, end: i64, dtstamp: i64, periods: &[BusyPeriod]) -> String {
    let utc = |name: ICalendarProperty, at: i64| ICalendarEntry {
        name,
        params: Vec::new(),
        values: vec![ICalendarValue::PartialDateTime(Box::new(PartialDateTime::from_utc_timestamp(at)))],
    };
    let text = |name: ICalendarProperty, value: &str| ICalendarEntry {
        name,
        params: Vec::new(),
        values: vec![ICalendarValue::Text(value.into())],
    };
    let mut entries = vec![
        utc(ICalendarProperty::Dtstamp, dtstamp),
        utc(ICalendarProperty::Dtstart, start),
        utc(ICalendarProperty::Dtend, end),
    ];
    for period in periods {
        let fbtype = match period.kind {
            BusyType::Busy => ICalendarFreeBusyType::Busy,
            BusyType::BusyUnavailable => ICalendarFreeBusyType::BusyUnavailable,
            BusyType::BusyTentative => ICalendarFreeBusyType::BusyTentative,
        };
        entries.push(ICalendarEntry {
            name: ICalendarProperty::Freebusy,
            params: vec![ICalendarParameter {
                name: ICalendarParameterName::Fbtype,
                value: ICalendarParameterValue::Fbtype(fbtype),
            }],
            values: vec![ICalendarValue::Period(ICalendarPeriod::Range {
                start: PartialDateTime::from_utc_timestamp(period.start),
                end: PartialDateTime::from_utc_timestamp(period.end),
            })],
        });
    }
    let ical = ICalendar {
        components: vec![
            ICalendarComponent {
                component_type: ICalendarComponentType::VCalendar,
                entries: vec![
                    text(ICalendarProperty::Version, "2.0"),
                    text(ICalendarProperty::Prodid, PRODID),
                ],
                component_ids: vec![1],
            },
            ICalendarComponent {
                component_type: ICalendarComponentType::VFreebusy,
                entries,
                component_ids: Vec::new(),
            },
        ],
    };
    write(&ical)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines joined with CRLF, a CRLF after the last.
    fn crlf(lines: &[&str]) -> String {
        lines.iter().map(|line| format!("{line}\r\n")).collect()
    }

    fn parse(lines: &[&str]) -> ICalendar {
        crate::ical::parse(crlf(lines).as_bytes()).expect("test object parses")
    }

    fn unfolded(text: &str) -> Vec<String> {
        text.replace("\r\n ", "").split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    const BERLIN: &[&str] = &[
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "TZNAME:CEST",
        "DTSTART:19700329T020000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "TZNAME:CET",
        "DTSTART:19701025T030000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "END:STANDARD",
        "END:VTIMEZONE",
    ];

    fn calendar(parts: &[&[&str]]) -> Vec<&'static str> {
        let mut lines: Vec<&str> = vec!["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//davit//tests//EN"];
        for part in parts {
            lines.extend_from_slice(part);
        }
        lines.push("END:VCALENDAR");
        // The tests only pass 'static slices.
        lines.into_iter().map(|l| -> &'static str { Box::leak(l.to_owned().into_boxed_str()) }).collect()
    }

    fn utc(text: &str) -> i64 {
        crate::caldav::request::parse_utc(text).unwrap()
    }

    const APPLE_LOCATION: &str = "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-ADDRESS=\"1 Apple Park Way, Cupertino\
                                  , CA 95014\";X-APPLE-RADIUS=141.17;X-TITLE=\"Apple Park\":geo:37.334900,-122.009020";

    #[test]
    fn uri_values_are_written_without_text_escapes() {
        let ical = parse(&calendar(&[&[
            "BEGIN:VEVENT",
            "UID:apple",
            "DTSTAMP:20240402T170012Z",
            "DTSTART:20240410T210000Z",
            "LOCATION:Apple Park\\, Cupertino",
            APPLE_LOCATION,
            "URL:https://example.org/a,b;c",
            "ATTACH:data:text/plain;base64,SGVsbG8=",
            "X-LOC:geo:1.5,2.5",
            "X-NOTE:one\\, two",
            "END:VEVENT",
        ]]));
        let mut calcard_text = String::new();
        ical.write_to(&mut calcard_text).unwrap();
        assert!(
            calcard_text.replace("\r\n ", "").contains("geo:37.334900\\,-122.009020"),
            "calcard's defect"
        );
        let text = write(&ical);
        let lines = unfolded(&text);
        let expect = [
            "LOCATION:Apple Park\\, Cupertino",
            "X-APPLE-STRUCTURED-LOCATION;X-ADDRESS=\"1 Apple Park Way, Cupertino, CA 95014\";\
             X-APPLE-RADIUS=141.17;X-TITLE=\"Apple Park\";VALUE=URI:geo:37.334900,-122.009020",
            "URL:https://example.org/a,b;c",
            "ATTACH:data:text/plain;base64,SGVsbG8=",
            "X-LOC:geo:1.5,2.5",
            "X-NOTE:one\\, two",
        ];
        for line in expect {
            assert!(lines.iter().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Folded at 75 octets, CRLF everywhere, and it parses back to the same values.
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
        assert!(!text.replace("\r\n", "").contains('\n'));
        let again = crate::ical::parse(text.as_bytes()).unwrap();
        assert_eq!(write(&again), text, "stable under a second round trip");
    }

    #[test]
    fn folding_respects_utf8() {
        let summary = format!("SUMMARY:{}", "Grüße aus Köln ".repeat(8));
        let ical = parse(&calendar(&[&[
            "BEGIN:VEVENT",
            "UID:u",
            "DTSTART:20260101T100000Z",
            &summary,
            "END:VEVENT",
        ]]));
        let text = write(&ical);
        assert!(text.split("\r\n").all(|l| l.len() <= 75));
        assert!(
            unfolded(&text).contains(&summary.trim_end().to_owned()) || unfolded(&text).contains(&summary)
        );
    }

    const SELECT_EVENT: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:sel-1",
        "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20260105T120000",
        "DTEND;TZID=Europe/Berlin:20260105T130000",
        "SUMMARY:Lunch\\, with Bob",
        "LOCATION:Cafe",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Soon",
        "TRIGGER:-PT15M",
        "END:VALARM",
        "END:VEVENT",
    ];

    fn comp(name: &str, props: &[&str], comps: Vec<CompSelection>) -> CompSelection {
        CompSelection {
            name: name.into(),
            props: props.iter().map(|p| p.to_string()).collect(),
            comps,
            ..Default::default()
        }
    }

    #[test]
    fn select_keeps_only_named_parts() {
        let source = calendar(&[BERLIN, SELECT_EVENT]);
        let ical = parse(&source);
        let partial = comp("VCALENDAR", &["VERSION"], vec![comp("VEVENT", &["SUMMARY", "uid"], vec![])]);
        assert_eq!(
            write(&select(&ical, &partial)),
            crlf(&[
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                "BEGIN:VEVENT",
                "UID:sel-1",
                "SUMMARY:Lunch\\, with Bob",
                "END:VEVENT",
                "END:VCALENDAR",
            ])
        );
        // Neither VERSION nor PRODID when not named; a VALARM only when named.
        let alarm = comp(
            "VCALENDAR",
            &[],
            vec![comp("VEVENT", &["UID"], vec![comp("VALARM", &["TRIGGER"], vec![])])],
        );
        assert_eq!(
            write(&select(&ical, &alarm)),
            crlf(&[
                "BEGIN:VCALENDAR",
                "BEGIN:VEVENT",
                "UID:sel-1",
                "BEGIN:VALARM",
                "TRIGGER:-PT15M",
                "END:VALARM",
                "END:VEVENT",
                "END:VCALENDAR",
            ])
        );
        // allprop + allcomp = everything; an empty comp element keeps its component whole
        // (the VTIMEZONE of RFC 4791 §7.8.1).
        let everything = CompSelection {
            name: "VCALENDAR".into(),
            all_props: true,
            all_comps: true,
            ..Default::default()
        };
        assert_eq!(write(&select(&ical, &everything)), crlf(&source));
        let mut with_tz = comp("VCALENDAR", &[], vec![comp("VTIMEZONE", &[], vec![])]);
        with_tz.all_props = true;
        with_tz.comps.push(CompSelection {
            name: "VEVENT".into(),
            all_props: true,
            all_comps: true,
            ..Default::default()
        });
        assert_eq!(write(&select(&ical, &with_tz)), crlf(&source));
        // allprop without allcomp: no VTIMEZONE, no VEVENT.
        let props_only = CompSelection { name: "VCALENDAR".into(), all_props: true, ..Default::default() };
        assert_eq!(
            write(&select(&ical, &props_only)),
            crlf(&["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//davit//tests//EN", "END:VCALENDAR"])
        );
    }

    /// Weekly on Mondays 10:00 Berlin (09:00 UTC in winter), six times from 2026-01-05; the
    /// 19th excluded; the 26th moved to Tuesday 27th 15:00 with its own summary.
    const WEEKLY: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:weekly",
        "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20260105T100000",
        "DTEND;TZID=Europe/Berlin:20260105T110000",
        "RRULE:FREQ=WEEKLY;COUNT=6",
        "EXDATE;TZID=Europe/Berlin:20260119T100000",
        "SUMMARY:Standup",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Standup",
        "TRIGGER:-PT5M",
        "END:VALARM",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:weekly",
        "DTSTAMP:20260101T000000Z",
        "RECURRENCE-ID;TZID=Europe/Berlin:20260126T100000",
        "DTSTART;TZID=Europe/Berlin:20260127T150000",
        "DTEND;TZID=Europe/Berlin:20260127T160000",
        "SUMMARY:Standup (moved)",
        "END:VEVENT",
    ];

    #[test]
    fn expand_gives_utc_instances_with_recurrence_ids() {
        let ical = parse(&calendar(&[BERLIN, WEEKLY]));
        let expanded =
            expand(&ical, utc("20260110T000000Z"), utc("20260203T000000Z"), chrono_tz::UTC, 100).unwrap();
        let instance = |start: &str, rid: &str, end: &str| {
            vec![
                "BEGIN:VEVENT".to_owned(),
                "UID:weekly".into(),
                "DTSTAMP:20260101T000000Z".into(),
                format!("DTSTART:{start}"),
                format!("RECURRENCE-ID:{rid}"),
                format!("DTEND:{end}"),
                "SUMMARY:Standup".into(),
                "BEGIN:VALARM".into(),
                "ACTION:DISPLAY".into(),
                "DESCRIPTION:Standup".into(),
                "TRIGGER:-PT5M".into(),
                "END:VALARM".into(),
                "END:VEVENT".into(),
            ]
        };
        let mut expect: Vec<String> =
            ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//davit//tests//EN"].map(str::to_owned).to_vec();
        expect.extend(instance("20260112T090000Z", "20260112T090000Z", "20260112T100000Z"));
        expect.extend(
            [
                "BEGIN:VEVENT",
                "UID:weekly",
                "DTSTAMP:20260101T000000Z",
                "RECURRENCE-ID:20260126T090000Z",
                "DTSTART:20260127T140000Z",
                "DTEND:20260127T150000Z",
                "SUMMARY:Standup (moved)",
                "END:VEVENT",
            ]
            .map(str::to_owned),
        );
        expect.extend(instance("20260202T090000Z", "20260202T090000Z", "20260202T100000Z"));
        expect.push("END:VCALENDAR".into());
        let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
        assert_eq!(write(&expanded), crlf(&expect));
    }

    #[test]
    fn expand_edge_cases() {
        let ical = parse(&calendar(&[BERLIN, WEEKLY]));
        // The excluded Monday yields nothing; a window with no instance yields an empty VCALENDAR.
        let none =
            expand(&ical, utc("20260119T000000Z"), utc("20260120T000000Z"), chrono_tz::UTC, 100).unwrap();
        assert_eq!(
            write(&none),
            crlf(&["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//davit//tests//EN", "END:VCALENDAR"])
        );
        // More instances than allowed.
        assert!(matches!(
            expand(&ical, utc("20260101T000000Z"), utc("20270101T000000Z"), chrono_tz::UTC, 2),
            Err(IcalError::TooManyInstances)
        ));
        // All-day: DATE values stay DATE (they name no zone), RECURRENCE-ID too; DURATION kept.
        let all_day = parse(&calendar(&[&[
            "BEGIN:VEVENT",
            "UID:days",
            "DTSTART;VALUE=DATE:20260101",
            "DURATION:P1D",
            "RRULE:FREQ=DAILY;COUNT=3",
            "END:VEVENT",
        ]]));
        let berlin = chrono_tz::Europe::Berlin;
        let expanded =
            expand(&all_day, utc("20260101T120000Z"), utc("20260102T120000Z"), berlin, 10).unwrap();
        assert_eq!(
            unfolded(&write(&expanded))[3..].join("\n"),
            [
                "BEGIN:VEVENT",
                "UID:days",
                "DTSTART;VALUE=DATE:20260101",
                "RECURRENCE-ID;VALUE=DATE:20260101",
                "DURATION:P1D",
                "END:VEVENT",
                "BEGIN:VEVENT",
                "UID:days",
                "DTSTART;VALUE=DATE:20260102",
                "RECURRENCE-ID;VALUE=DATE:20260102",
                "DURATION:P1D",
                "END:VEVENT",
                "END:VCALENDAR",
            ]
            .join("\n")
        );
        // A non-recurring floating event: UTC in the calendar's zone, no RECURRENCE-ID; a
        // DURATION that no longer matches in UTC (P1D over the DST change) becomes DTEND.
        let single = parse(&calendar(&[&[
            "BEGIN:VEVENT",
            "UID:single",
            "DTSTART:20260328T120000",
            "DURATION:P1D",
            "X-ORIGINAL;TZID=Nowhere/Special:20260328T120000",
            "COMPLETED:20260328T130000",
            "END:VEVENT",
        ]]));
        let expanded = expand(&single, utc("20260328T000000Z"), utc("20260330T000000Z"), berlin, 10).unwrap();
        assert_eq!(
            unfolded(&write(&expanded))[3..].join("\n"),
            [
                "BEGIN:VEVENT",
                "UID:single",
                "DTSTART:20260328T110000Z",
                "DTEND:20260329T100000Z",
                "COMPLETED:20260328T120000Z",
                "END:VEVENT",
                "END:VCALENDAR",
            ]
            .join("\n")
        );
    }

    #[test]
    fn expand_passes_vfreebusy_through_once() {
        let fb = parse(&calendar(&[&[
            "BEGIN:VFREEBUSY",
            "UID:fb",
            "DTSTAMP:20260101T000000Z",
            "FREEBUSY:20260101T100000Z/PT1H,20260101T120000Z/PT1H",
            "END:VFREEBUSY",
        ]]));
        let expanded =
            expand(&fb, utc("20260101T000000Z"), utc("20260102T000000Z"), chrono_tz::UTC, 10).unwrap();
        assert_eq!(write(&expanded), write(&fb));
    }

    #[test]
    fn expand_keeps_undated_todos() {
        let todo = parse(&calendar(&[&["BEGIN:VTODO", "UID:t", "SUMMARY:Someday", "END:VTODO"]]));
        let expanded =
            expand(&todo, utc("20260101T000000Z"), utc("20260102T000000Z"), chrono_tz::UTC, 10).unwrap();
        assert_eq!(write(&expanded), write(&todo));
    }

    /// Daily 10:00 UTC from March 1st, ten times, with four overrides.
    const DAILY: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:daily",
        "DTSTART:20260301T100000Z",
        "DURATION:PT1H",
        "RRULE:FREQ=DAILY;COUNT=10",
        "SUMMARY:Daily",
        "END:VEVENT",
    ];
    const IN_RANGE: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:daily",
        "RECURRENCE-ID:20260303T100000Z",
        "DTSTART:20260303T120000Z",
        "DURATION:PT1H",
        "SUMMARY:Later that day",
        "END:VEVENT",
    ];
    const OUT_OF_RANGE: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:daily",
        "RECURRENCE-ID:20260308T100000Z",
        "DTSTART:20260308T110000Z",
        "DURATION:PT1H",
        "SUMMARY:Out of range",
        "END:VEVENT",
    ];
    const MOVED_IN: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:daily",
        "RECURRENCE-ID:20260309T100000Z",
        "DTSTART:20260304T150000Z",
        "DURATION:PT1H",
        "SUMMARY:Moved into the range",
        "END:VEVENT",
    ];
    const MOVED_OUT: &[&str] = &[
        "BEGIN:VEVENT",
        "UID:daily",
        "RECURRENCE-ID:20260305T100000Z",
        "DTSTART:20260310T150000Z",
        "DURATION:PT1H",
        "SUMMARY:Moved out of the range",
        "END:VEVENT",
    ];

    #[test]
    fn limit_recurrence_set_keeps_master_and_impacting_overrides() {
        let ical = parse(&calendar(&[DAILY, IN_RANGE, OUT_OF_RANGE, MOVED_IN, MOVED_OUT]));
        let limited =
            limit_recurrence_set(&ical, utc("20260302T000000Z"), utc("20260306T000000Z"), chrono_tz::UTC)
                .unwrap();
        assert_eq!(write(&limited), crlf(&calendar(&[DAILY, IN_RANGE, MOVED_IN, MOVED_OUT])));
        // A range no override touches: the master alone.
        let limited =
            limit_recurrence_set(&ical, utc("20260301T000000Z"), utc("20260302T000000Z"), chrono_tz::UTC)
                .unwrap();
        assert_eq!(write(&limited), crlf(&calendar(&[DAILY])));
        // A non-recurring object is returned unchanged.
        let single =
            parse(&calendar(&[&["BEGIN:VEVENT", "UID:s", "DTSTART:20260101T100000Z", "END:VEVENT"]]));
        let limited =
            limit_recurrence_set(&single, utc("20270101T000000Z"), utc("20270102T000000Z"), chrono_tz::UTC)
                .unwrap();
        assert_eq!(write(&limited), write(&single));
    }

    #[test]
    fn freebusy_object() {
        let text = freebusy(
            utc("20260105T000000Z"),
            utc("20260112T000000Z"),
            utc("20260101T120000Z"),
            &[
                BusyPeriod {
                    start: utc("20260105T090000Z"),
                    end: utc("20260105T100000Z"),
                    kind: BusyType::Busy,
                },
                BusyPeriod {
                    start: utc("20260106T090000Z"),
                    end: utc("20260106T093000Z"),
                    kind: BusyType::BusyTentative,
                },
                BusyPeriod {
                    start: utc("20260107T090000Z"),
                    end: utc("20260107T093000Z"),
                    kind: BusyType::BusyUnavailable,
                },
            ],
        );
        assert_eq!(
            text,
            crlf(&[
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                "PRODID:-//davit//CalDAV Server//EN",
                "BEGIN:VFREEBUSY",
                "DTSTAMP:20260101T120000Z",
                "DTSTART:20260105T000000Z",
                "DTEND:20260112T000000Z",
                "FREEBUSY;FBTYPE=BUSY:20260105T090000Z/20260105T100000Z",
                "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260106T090000Z/20260106T093000Z",
                "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260107T090000Z/20260107T093000Z",
                "END:VFREEBUSY",
                "END:VCALENDAR",
            ])
        );
        assert!(crate::ical::parse(text.as_bytes()).is_ok());
    }
}

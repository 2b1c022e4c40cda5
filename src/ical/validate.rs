//! The rules a calendar object resource must satisfy before it is stored (RFC 4791 §4.1,
//! plus the RFC 5545 §3.6 property rules the index depends on).

use std::collections::HashSet;

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty, ICalendarValue,
};

use super::{CompType, IcalError};

/// What the checks established about the object.
#[derive(Debug)]
pub(crate) struct Shape {
    pub uid: String,
    pub comp_type: CompType,
    /// Some component has RRULE, RDATE or RECURRENCE-ID.
    pub recurring: bool,
}

pub(crate) fn check(ical: &ICalendar) -> Result<Shape, IcalError> {
    let root = match ical.components.first() {
        Some(root) if root.component_type == ICalendarComponentType::VCalendar => root,
        _ => return Err(invalid("the object is not a VCALENDAR")),
    };
    if root.has_property(&ICalendarProperty::Method) {
        return Err(invalid("METHOD is not allowed in a calendar object resource (RFC 4791 §4.1)"));
    }
    let members = members(ical, root)?;
    let comp_type = single_type(&members)?;
    let uid = shared_uid(&members)?;
    check_masters(&members)?;
    for (component, kind) in &members {
        check_component(component, *kind)?;
    }
    let recurring = members.iter().any(|(component, _)| component.is_recurrent_or_override());
    Ok(Shape { uid, comp_type, recurring })
}

fn invalid(message: impl Into<String>) -> IcalError {
    IcalError::Invalid(message.into())
}

/// The VCALENDAR's calendar components. VTIMEZONEs are allowed alongside (RFC 4791 §4.1),
/// X- components are ignored as RFC 5545 §3.6 asks; anything else does not belong in a
/// calendar collection.
fn members<'a>(
    ical: &'a ICalendar,
    root: &ICalendarComponent,
) -> Result<Vec<(&'a ICalendarComponent, CompType)>, IcalError> {
    let mut found = Vec::new();
    for id in &root.component_ids {
        let component =
            ical.components.get(*id as usize).ok_or_else(|| invalid("dangling component reference"))?;
        match &component.component_type {
            ICalendarComponentType::VTimezone => {}
            ICalendarComponentType::Other(name)
                if name.get(..2).is_some_and(|x| x.eq_ignore_ascii_case("X-")) => {}
            other => match CompType::of(other) {
                Some(kind) => found.push((component, kind)),
                None => {
                    return Err(invalid(format!(
                        "{} is not allowed at the top level of a calendar object resource (RFC 4791 §4.1)",
                        other.as_str()
                    )));
                }
            },
        }
    }
    Ok(found)
}

/// RFC 4791 §4.1: "MUST NOT contain more than one type of calendar component".
fn single_type(members: &[(&ICalendarComponent, CompType)]) -> Result<CompType, IcalError> {
    let Some((_, first)) = members.first() else {
        return Err(invalid("the object has no VEVENT, VTODO, VJOURNAL or VFREEBUSY"));
    };
    match members.iter().find(|(_, kind)| kind != first) {
        Some((_, other)) => Err(invalid(format!(
            "the object mixes {} and {}; RFC 4791 §4.1 allows one component type per resource",
            first.name(),
            other.name()
        ))),
        None => Ok(*first),
    }
}

/// RFC 4791 §4.1: one UID per resource; RFC 5545 §3.8.4.7: exactly one UID per component.
fn shared_uid(members: &[(&ICalendarComponent, CompType)]) -> Result<String, IcalError> {
    let mut shared: Option<&str> = None;
    for (component, kind) in members {
        let mut uids = component.properties(&ICalendarProperty::Uid);
        let uid = match (uids.next().and_then(|entry| entry.values.first()), uids.next()) {
            (Some(ICalendarValue::Text(uid)), None) if !uid.is_empty() => uid.as_str(),
            (_, Some(_)) => return Err(invalid(format!("a {} has more than one UID", kind.name()))),
            _ => return Err(invalid(format!("a {} has no UID (RFC 5545 §3.8.4.7)", kind.name()))),
        };
        match shared {
            Some(first) if first != uid => {
                return Err(invalid(format!(
                    "components with different UIDs ({first:?} and {uid:?}) must be stored as separate \
                     resources (RFC 4791 §4.1)"
                )));
            }
            _ => shared = Some(uid),
        }
    }
    Ok(shared.unwrap_or_default().to_string())
}

/// At most one master (the component without RECURRENCE-ID), and no two overrides of the
/// same instance (RFC 5545 §3.8.4.4: the RECURRENCE-ID identifies one instance).
fn check_masters(members: &[(&ICalendarComponent, CompType)]) -> Result<(), IcalError> {
    let mut masters = 0;
    let mut seen: HashSet<(Option<&str>, &PartialDateTime)> = HashSet::new();
    for (component, _) in members {
        let Some(entry) = component.property(&ICalendarProperty::RecurrenceId) else {
            masters += 1;
            if masters > 1 {
                return Err(invalid(
                    "more than one component without RECURRENCE-ID: every override needs one (RFC 5545 §3.8.4.4)",
                ));
            }
            continue;
        };
        let Some(ICalendarValue::PartialDateTime(value)) = entry.values.first() else {
            return Err(invalid("RECURRENCE-ID is not a date or date-time"));
        };
        if !seen.insert((entry.tz_id(), value.as_ref())) {
            return Err(invalid("two overrides have the same RECURRENCE-ID"));
        }
    }
    Ok(())
}

/// The RFC 5545 §3.6.1/§3.6.2 property rules whose violation would make the time-range index
/// ambiguous.
fn check_component(component: &ICalendarComponent, kind: CompType) -> Result<(), IcalError> {
    let has = |property: ICalendarProperty| component.has_property(&property);
    match kind {
        CompType::Event if !has(ICalendarProperty::Dtstart) => {
            Err(invalid("a VEVENT has no DTSTART (required without METHOD, RFC 5545 §3.6.1)"))
        }
        CompType::Event if has(ICalendarProperty::Dtend) && has(ICalendarProperty::Duration) => {
            Err(invalid("a VEVENT has both DTEND and DURATION (RFC 5545 §3.6.1)"))
        }
        CompType::Todo if has(ICalendarProperty::Due) && has(ICalendarProperty::Duration) => {
            Err(invalid("a VTODO has both DUE and DURATION (RFC 5545 §3.6.2)"))
        }
        CompType::Todo if has(ICalendarProperty::Duration) && !has(ICalendarProperty::Dtstart) => {
            Err(invalid("a VTODO has DURATION without DTSTART (RFC 5545 §3.6.2)"))
        }
        _ => Ok(()),
    }
}

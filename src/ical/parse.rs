//! Strict parsing of a calendar object resource body.
//!
//! calcard's parser is lenient (DEPENDENCIES.md §2): it drops lines without a colon, closes
//! unterminated components, keeps an unparsable DTSTART as text, and its `strict()` mode loses
//! sync after the first problem. A server storing client data must refuse such bodies with a
//! useful message instead (RFC 4791 §5.3.2, CALDAV:valid-calendar-data), so the line
//! structure is checked here first (RFC 5545 §3.1) and the typed values after calcard parsed.

use std::borrow::Cow;

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarPeriod,
    ICalendarProperty, ICalendarValue,
};
use calcard::{Entry, Parser};

use super::IcalError;

pub(crate) fn parse(body: &[u8]) -> Result<ICalendar, IcalError> {
    let text = std::str::from_utf8(body).map_err(|error| {
        syntax(format!("the body is not UTF-8 (invalid bytes at offset {})", error.valid_up_to()))
    })?;
    // RFC 5545 §3.1.4 mandates UTF-8; a byte-order mark in front is tolerated.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_structure(text)?;
    let ical = run_calcard(text)?;
    check_values(&ical)?;
    Ok(ical)
}

fn syntax(message: impl Into<String>) -> IcalError {
    IcalError::Syntax(message.into())
}

/// Content lines after unfolding (RFC 5545 §3.1: CRLF followed by one space or tab continues
/// the line), each with the physical line number it starts on. Bare LF is accepted too. A
/// line that was not folded is borrowed from `text` (nearly all of them): no copy per line.
pub(crate) fn logical_lines(text: &str) -> Result<Vec<(usize, Cow<'_, str>)>, IcalError> {
    let mut lines: Vec<(usize, Cow<'_, str>)> = Vec::with_capacity(text.len() / 32);
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match raw.strip_prefix([' ', '\t']) {
            Some(continuation) => match lines.last_mut() {
                Some((_, line)) => line.to_mut().push_str(continuation),
                None => return Err(syntax("line 1: the body starts with a folded continuation line")),
            },
            None => lines.push((index + 1, Cow::Borrowed(raw))),
        }
    }
    Ok(lines)
}

/// Checks every content line's shape and the BEGIN/END nesting: exactly one VCALENDAR,
/// nothing before or after it, every component closed by a matching END.
fn check_structure(text: &str) -> Result<(), IcalError> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut seen_calendar = false;
    for (number, line) in logical_lines(text)? {
        if line.trim().is_empty() {
            continue; // blank lines are not content lines; calcard skips them as well
        }
        if seen_calendar && open.is_empty() {
            return Err(syntax(format!("line {number}: content after END:VCALENDAR: {}", snippet(&line))));
        }
        let (name, value) = split_line(&line, number)?;
        let component = || value.trim().to_ascii_uppercase();
        if name.eq_ignore_ascii_case("BEGIN") {
            let component = component();
            let outermost = open.is_empty();
            if outermost != (component == "VCALENDAR") {
                let message =
                    if outermost { "the body must start with BEGIN:VCALENDAR" } else { "nested VCALENDAR" };
                return Err(syntax(format!("line {number}: {message}")));
            }
            seen_calendar = true;
            open.push((component, number));
        } else if name.eq_ignore_ascii_case("END") {
            let component = component();
            match open.pop() {
                Some((begun, _)) if begun == component => {}
                Some((begun, at)) => {
                    return Err(syntax(format!(
                        "line {number}: END:{component} does not close BEGIN:{begun} from line {at}"
                    )));
                }
                None => return Err(syntax(format!("line {number}: END:{component} without BEGIN"))),
            }
        } else if open.is_empty() {
            return Err(syntax(format!("line {number}: {name} outside BEGIN:VCALENDAR")));
        }
    }
    match open.last() {
        Some((begun, at)) => Err(syntax(format!("BEGIN:{begun} on line {at} has no END:{begun}"))),
        None if !seen_calendar => Err(syntax("no BEGIN:VCALENDAR")),
        None => Ok(()),
    }
}

/// Splits `name *(";" param) ":" value` (RFC 5545 §3.1), checking each parameter has a name,
/// an `=` and properly quoted values. Returns the name and the value.
fn split_line(line: &str, number: usize) -> Result<(&str, &str), IcalError> {
    let bytes = line.as_bytes();
    let name_end = token_end(bytes, 0);
    if name_end == 0 {
        return Err(syntax(format!("line {number}: expected a property name: {}", snippet(line))));
    }
    let mut at = name_end;
    loop {
        match bytes.get(at) {
            Some(b':') => return Ok((&line[..name_end], &line[at + 1..])),
            Some(b';') => at = parameter_end(bytes, at + 1, number, line)?,
            _ => {
                return Err(syntax(format!(
                    "line {number}: no ':' between name and value: {}",
                    snippet(line)
                )));
            }
        }
    }
}

/// The end of a name token (RFC 5545 iana-token/x-name; `_` is accepted as other parsers do).
fn token_end(bytes: &[u8], start: usize) -> usize {
    let length = bytes[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
        .count();
    start + length
}

/// Parses `param-name "=" param-value *("," param-value)` from `start`, returning the index
/// of the `;` or `:` that follows.
fn parameter_end(bytes: &[u8], start: usize, number: usize, line: &str) -> Result<usize, IcalError> {
    let name_end = token_end(bytes, start);
    let name = &line[start..name_end];
    if name.is_empty() {
        return Err(syntax(format!("line {number}: empty parameter name: {}", snippet(line))));
    }
    if bytes.get(name_end) != Some(&b'=') {
        return Err(syntax(format!(
            "line {number}: parameter {name} has no '=' (RFC 5545 §3.2): {}",
            snippet(line)
        )));
    }
    let mut at = name_end + 1;
    loop {
        if bytes.get(at) == Some(&b'"') {
            let close = bytes[at + 1..].iter().position(|byte| *byte == b'"').ok_or_else(|| {
                syntax(format!("line {number}: unterminated quoted value of parameter {name}"))
            })?;
            at += close + 2;
        } else {
            at += bytes[at..].iter().take_while(|byte| !matches!(byte, b';' | b':' | b',' | b'"')).count();
        }
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b';' | b':') => return Ok(at),
            _ => {
                return Err(syntax(format!(
                    "line {number}: malformed value of parameter {name}: {}",
                    snippet(line)
                )));
            }
        }
    }
}

/// The start of a line for error messages (at most 60 characters).
fn snippet(line: &str) -> String {
    let cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() { format!("{cut:?}…") } else { format!("{cut:?}") }
}

/// Runs calcard's parser; after `check_structure` anything but one VCALENDAR is a bug
/// somewhere, still reported as a syntax error rather than a panic.
fn run_calcard(text: &str) -> Result<ICalendar, IcalError> {
    let mut parser = Parser::new(text);
    let ical = match parser.entry() {
        Entry::ICalendar(ical) => ical,
        other => return Err(describe(other)),
    };
    match parser.entry() {
        Entry::Eof => Ok(ical),
        other => Err(describe(other)),
    }
}

fn describe(entry: Entry) -> IcalError {
    syntax(match entry {
        Entry::InvalidLine(line) => format!("unparsable line {line:?}"),
        Entry::UnexpectedComponentEnd { expected, found } => {
            format!("END:{} where END:{} was expected", found.as_str(), expected.as_str())
        }
        Entry::UnterminatedComponent(name) => format!("{name} is not terminated"),
        Entry::TooManyComponents => "too many components".to_string(),
        Entry::VCard(_) => "a vCard is not a calendar object".to_string(),
        Entry::Eof => "the body is empty".to_string(),
        _ => "unexpected content".to_string(),
    })
}

/// The value kinds time-range handling depends on. calcard keeps a value it cannot parse as
/// `Text`; that is a syntax error here, not an event without a start.
fn check_values(ical: &ICalendar) -> Result<(), IcalError> {
    for component in &ical.components {
        for entry in &component.entries {
            check_entry(component, entry)?;
        }
    }
    Ok(())
}

fn check_entry(component: &ICalendarComponent, entry: &ICalendarEntry) -> Result<(), IcalError> {
    // COMPLETED and CREATED matter only where the RFC 4791 §9.9 VTODO table reads them.
    let todo = component.component_type == ICalendarComponentType::VTodo;
    let expected = match entry.name {
        ICalendarProperty::Dtstart
        | ICalendarProperty::Dtend
        | ICalendarProperty::Due
        | ICalendarProperty::RecurrenceId
        | ICalendarProperty::Exdate => "a DATE or DATE-TIME (RFC 5545 §3.3.4, §3.3.5)",
        ICalendarProperty::Completed | ICalendarProperty::Created if todo => "a DATE-TIME (RFC 5545 §3.3.5)",
        ICalendarProperty::Rdate => "a DATE, DATE-TIME or PERIOD (RFC 5545 §3.8.5.2)",
        ICalendarProperty::Rrule => "a recurrence rule (RFC 5545 §3.3.10)",
        ICalendarProperty::Duration => "a DURATION (RFC 5545 §3.3.6)",
        _ => return Ok(()),
    };
    let valid = |value: &ICalendarValue| match (&entry.name, value) {
        (ICalendarProperty::Rrule, ICalendarValue::RecurrenceRule(_)) => true,
        (ICalendarProperty::Duration, ICalendarValue::Duration(_)) => true,
        (ICalendarProperty::Rdate, ICalendarValue::Period(period)) => valid_period(period),
        (ICalendarProperty::Rrule | ICalendarProperty::Duration, _) => false,
        (_, ICalendarValue::PartialDateTime(date)) => valid_date(date),
        _ => false,
    };
    let bad = match entry.values.iter().find(|value| !valid(value)) {
        Some(ICalendarValue::Text(text)) => format!("{text:?}"),
        Some(_) => "(a value of another type)".to_string(),
        // An empty EXDATE or RDATE adds or removes nothing; other properties need a value.
        None if entry.values.is_empty()
            && !matches!(entry.name, ICalendarProperty::Exdate | ICalendarProperty::Rdate) =>
        {
            "(empty)".to_string()
        }
        None => return Ok(()),
    };
    Err(syntax(format!(
        "{} {}: value {bad} is not {expected}",
        component.component_type.as_str(),
        entry.name.as_str()
    )))
}

/// A date that exists (calcard accepts 20240230 as digits; chrono does not).
fn valid_date(date: &PartialDateTime) -> bool {
    date.to_date_time().is_some()
}

fn valid_period(period: &ICalendarPeriod) -> bool {
    match period {
        ICalendarPeriod::Range { start, end } => valid_date(start) && valid_date(end),
        ICalendarPeriod::Duration { start, .. } => valid_date(start),
    }
}

//! Birthdays and anniversaries as exports write them, to vCard 4.0 dates (RFC 6350 §4.3.1):
//! ISO (`1980-05-17`, Google), year-less (`--05-17`), US `5/17/1980` (Outlook, Yahoo),
//! European `17.5.1980` (German Outlook). Outlook's "no date" (`0/0/00`, `0.0.00`) is none.

/// `19800517` or `--0517`, or None when the text is not a date we can read for sure.
pub fn parse(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    if let Some(rest) = t.strip_prefix("--") {
        let (m, d) = two(rest, '-').or_else(|| (rest.len() == 4).then(|| (&rest[..2], &rest[2..])))?;
        return format_date(None, m, d);
    }
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        return format_date(Some(&t[..4]), &t[4..6], &t[6..]);
    }
    if let Some((y, rest)) = t.split_once('-') {
        let (m, d) = two(rest, '-')?;
        return format_date(Some(y), m, d);
    }
    if let Some((a, rest)) = t.split_once('/') {
        let (b, y) = two(rest, '/')?;
        // US order, except when the first number cannot be a month (UK exports).
        let (m, d) = if a.parse::<u32>().ok()? > 12 { (b, a) } else { (a, b) };
        return format_date(Some(y), m, d);
    }
    if let Some((d, rest)) = t.split_once('.') {
        let (m, y) = two(rest.trim_end_matches('.'), '.')?;
        return format_date(Some(y), m, d);
    }
    None
}

/// Outlook's placeholder for an empty date field: only zeros and separators.
pub fn is_no_date(text: &str) -> bool {
    text.chars().all(|c| matches!(c, '0' | '/' | '.' | '-' | ' '))
}

fn two(s: &str, sep: char) -> Option<(&str, &str)> {
    let (a, b) = s.split_once(sep)?;
    (!b.contains(sep)).then_some((a, b))
}

fn format_date(year: Option<&str>, month: &str, day: &str) -> Option<String> {
    let m: u32 = month.trim().parse().ok()?;
    let d: u32 = day.trim().parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    match year {
        None => Some(format!("--{m:02}{d:02}")),
        Some(y) => {
            let y = y.trim();
            if !y.bytes().all(|b| b.is_ascii_digit()) || y.len() != 4 {
                return None;
            }
            let y: i32 = y.parse().ok()?;
            // Apple writes 1604 for "no year"; a real date must exist in the calendar.
            chrono::NaiveDate::from_ymd_opt(y, m, d)?;
            if y == 1604 { Some(format!("--{m:02}{d:02}")) } else { Some(format!("{y:04}{m:02}{d:02}")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_forms_exports_use() {
        assert_eq!(parse("1980-05-17").as_deref(), Some("19800517"));
        assert_eq!(parse("19800517").as_deref(), Some("19800517"));
        assert_eq!(parse("--05-17").as_deref(), Some("--0517"));
        assert_eq!(parse("5/17/1980").as_deref(), Some("19800517"));
        assert_eq!(parse("17/5/1980").as_deref(), Some("19800517"));
        assert_eq!(parse("17.5.1980").as_deref(), Some("19800517"));
        assert_eq!(parse("1980-05-17 00:00:00").as_deref(), Some("19800517"));
        for none in ["0/0/00", "0.0.00", "", "soon", "1980-02-30", "5/17/80"] {
            assert_eq!(parse(none), None, "{none}");
        }
    }
}

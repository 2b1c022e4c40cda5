//! CSV contacts: decode (`encoding`), find the separator and the vendor from the header row
//! (`detect`), map each row's cells through the vendor's column map (`outlook`, `google`,
//! `thunderbird`, `apple`, `yahoo`, `generic`) into a [`contact::Contact`], and write it as a
//! vCard 4.0 (`vcard_out`) with a UID derived from who the contact is.

mod apple;
pub mod column;
pub mod contact;
pub mod dates;
pub mod detect;
pub mod encoding;
mod generic;
mod google;
mod outlook;
mod thunderbird;
pub mod vcard_out;
mod yahoo;

use csv::ReaderBuilder;

use super::{Entry, Item, Parsed};
use contact::Contact;
use detect::Vendor;

/// Rows read as contacts, before they become vCards.
pub struct Rows {
    pub vendor: Vendor,
    pub encoding: &'static str,
    /// (line where the row starts, the contact or why the row is not one).
    pub rows: Vec<(usize, Result<Contact, String>)>,
}

/// Reads the file's rows through the detected vendor's column map.
pub fn rows(data: &[u8]) -> Rows {
    let decoded = encoding::decode(data);
    let text = decoded.text.trim_start_matches('\u{feff}');
    let delimiter = detect::delimiter(text.lines().next().unwrap_or(""));
    let mut reader = ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Rows { vendor: Vendor::Generic, encoding: decoded.encoding, rows: Vec::new() };
    let mut records = reader.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(str::to_owned).collect(),
        Some(Err(e)) => {
            out.rows.push((1, Err(format!("the header row cannot be read: {e}"))));
            return out;
        }
        None => {
            out.rows.push((1, Err("the file is empty".into())));
            return out;
        }
    };
    out.vendor = detect::vendor(&headers);
    let columns: Vec<_> = headers.iter().map(|h| out.vendor.column(h)).collect();
    if columns.iter().all(Option::is_none) {
        let shown: Vec<&str> = headers.iter().take(5).map(String::as_str).collect();
        out.rows
            .push((1, Err(format!("no column is a contact field the importer knows (headers: {shown:?}…)"))));
        return out;
    }
    let mut lines = LineCounter { text: text.as_bytes(), at: 0, line: 1 };
    for record in records {
        let (line, result) = match record {
            Ok(r) => {
                let line = lines.line_of(r.position().map_or(0, |p| p.byte()));
                if r.iter().all(|cell| cell.trim().is_empty()) {
                    continue;
                }
                let c = contact::from_row(&columns, &r);
                let result = match c.display_name() {
                    Some(_) => Ok(c),
                    None => Err("no name, e-mail address or phone number".into()),
                };
                (line, result)
            }
            Err(e) => {
                (lines.line_of(e.position().map_or(0, |p| p.byte())), Err(format!("unreadable row: {e}")))
            }
        };
        out.rows.push((line, result));
    }
    out
}

/// Line numbers from the byte offsets the csv reader gives: its own line count lags one line
/// behind after a CRLF (the record "starts" at the LF of the previous line's end).
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn line_of(&mut self, byte: u64) -> usize {
        let mut target = usize::try_from(byte).unwrap_or(usize::MAX).min(self.text.len());
        while target < self.text.len() && matches!(self.text[target], b'\r' | b'\n') {
            target += 1;
        }
        if target > self.at {
            self.line += self.text[self.at..target].iter().filter(|&&b| b == b'\n').count();
            self.at = target;
        }
        self.line
    }
}

/// The production path: rows → contacts → vCards, and the rows that are not contacts.
pub fn read(data: &[u8]) -> Parsed {
    let rows = rows(data);
    let mut parsed =
        Parsed { format: format!("CSV ({}, {})", rows.vendor.name(), rows.encoding), ..Default::default() };
    for (line, row) in rows.rows {
        match row {
            Ok(c) => {
                let name = c.display_name().unwrap_or_default();
                let body = vcard_out::write(&c, &c.stable_uid(), &name);
                parsed.items.push(Item { line, body: body.into_bytes() });
            }
            Err(reason) => parsed.skipped.push(Entry::skipped(line, reason)),
        }
    }
    parsed
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

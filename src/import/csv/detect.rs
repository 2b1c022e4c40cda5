//! Which program wrote a CSV file, from its header row, and which character separates its
//! fields. Each vendor's table is scored on the headers; the best one wins if it explains at
//! least as many columns as the generic names do.

use super::column::Column;
use super::{apple, generic, google, outlook, thunderbird, yahoo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Outlook for Windows, Outlook.com and Office 365 (English and German headers).
    Outlook,
    /// Google Contacts / Gmail.
    Google,
    Thunderbird,
    /// macOS / iCloud contacts through an exporter app.
    Apple,
    Yahoo,
    /// Anything else: common English column names.
    Generic,
}

impl Vendor {
    const SPECIFIC: [Vendor; 5] =
        [Vendor::Outlook, Vendor::Google, Vendor::Thunderbird, Vendor::Apple, Vendor::Yahoo];

    pub fn name(self) -> &'static str {
        match self {
            Vendor::Outlook => "Outlook",
            Vendor::Google => "Google",
            Vendor::Thunderbird => "Thunderbird",
            Vendor::Apple => "Apple",
            Vendor::Yahoo => "Yahoo",
            Vendor::Generic => "generic",
        }
    }

    fn own_column(self, header: &str) -> Option<Column> {
        match self {
            Vendor::Outlook => outlook::column(header),
            Vendor::Google => google::column(header),
            Vendor::Thunderbird => thunderbird::column(header),
            Vendor::Apple => apple::column(header),
            Vendor::Yahoo => yahoo::column(header),
            Vendor::Generic => generic::column(header),
        }
    }

    /// The vendor's meaning of a header, else the generic one (exports gain columns).
    pub fn column(self, header: &str) -> Option<Column> {
        self.own_column(header).or_else(|| generic::column(header))
    }
}

pub fn vendor(headers: &[String]) -> Vendor {
    let score = |v: Vendor| headers.iter().filter(|h| v.own_column(h).is_some()).count();
    let generic = score(Vendor::Generic);
    let mut best = (Vendor::Generic, 0);
    for v in Vendor::SPECIFIC {
        let s = score(v);
        if s > best.1 {
            best = (v, s);
        }
    }
    if best.1 >= 3 && best.1 >= generic { best.0 } else { Vendor::Generic }
}

/// The separator of the header line: `,` normally, `;` from spreadsheet programs in locales
/// whose decimal mark is a comma, tab from Outlook's "Tab Separated Values".
pub fn delimiter(header_line: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in header_line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let seps = [b',', b';', b'\t'];
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { seps[best] }
}

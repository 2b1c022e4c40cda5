//! What one CSV column holds, in vendor-neutral terms. Each vendor file maps its header names
//! to these; `contact::from_row` applies them.

/// The type a vendor gives an address, e-mail or web page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Home,
    Work,
    Other,
    Unspecified,
}

/// Phone columns as exports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phone {
    Cell,
    Home,
    Work,
    Fax(Kind),
    Pager,
    Main,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdrPart {
    Street,
    PoBox,
    Extended,
    City,
    Region,
    Code,
    Country,
}

/// Google's numbered groups (`E-mail 1 - Label`, `E-mail 1 - Value`, `Address 2 - City`):
/// the label and the value arrive in separate columns and are paired by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotKind {
    Email,
    Phone,
    Address,
    Website,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPart {
    Label,
    Value,
    Adr(AdrPart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    FullName,
    Given,
    Middle,
    Family,
    Prefix,
    Suffix,
    Nickname,
    Email(Kind),
    Phone(Phone),
    Adr(Kind, AdrPart),
    Org,
    Department,
    Title,
    Birthday,
    /// Thunderbird splits the birthday into three columns.
    BirthYear,
    BirthMonth,
    BirthDay,
    Anniversary,
    Note,
    Url(Kind),
    /// Categories or groups, several in one cell.
    Categories,
    Slot(SlotKind, u8, SlotPart),
}

/// A header as compared: trimmed, lower-case, BOM and surrounding quotes removed.
pub fn normalize_header(h: &str) -> String {
    h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"').to_lowercase()
}

/// Looks `header` up in a vendor table (case-insensitively).
pub fn lookup(table: &[(&str, Column)], header: &str) -> Option<Column> {
    let h = normalize_header(header);
    // The length test first: it rejects almost every entry without allocating.
    table.iter().find(|(name, _)| name.len() == h.len() && name.to_lowercase() == h).map(|(_, c)| *c)
}

//! macOS / iCloud contacts as CSV. Contacts.app itself exports only vCard; CSV comes from
//! exporter apps ("Exporter for Contacts" and similar), whose header set is this one: a typed
//! label before the field (`Home Email`, `iPhone`, `Work Street`). Unverified against every
//! such app: unknown columns fall back to the generic names.

use super::column::AdrPart::{City, Code, Country, Region, Street};
use super::column::Column::{self, *};
use super::column::Kind::{Home, Other, Work};
use super::column::Phone;

const TABLE: &[(&str, Column)] = &[
    ("First Name", Given),
    ("Middle Name", Middle),
    ("Last Name", Family),
    ("Prefix", Prefix),
    ("Suffix", Suffix),
    ("Nickname", Nickname),
    ("Company", Org),
    ("Department", Department),
    ("Job Title", Title),
    ("Home Email", Email(Home)),
    ("Work Email", Email(Work)),
    ("Other Email", Email(Other)),
    ("iCloud Email", Email(Other)),
    ("Mobile Phone", Column::Phone(Phone::Cell)),
    ("iPhone", Column::Phone(Phone::Cell)),
    ("Home Phone", Column::Phone(Phone::Home)),
    ("Work Phone", Column::Phone(Phone::Work)),
    ("Main Phone", Column::Phone(Phone::Main)),
    ("Home Fax", Column::Phone(Phone::Fax(Home))),
    ("Work Fax", Column::Phone(Phone::Fax(Work))),
    ("Pager", Column::Phone(Phone::Pager)),
    ("Other Phone", Column::Phone(Phone::Other)),
    ("Home Street", Adr(Home, Street)),
    ("Home City", Adr(Home, City)),
    ("Home State", Adr(Home, Region)),
    ("Home ZIP", Adr(Home, Code)),
    ("Home Country", Adr(Home, Country)),
    ("Work Street", Adr(Work, Street)),
    ("Work City", Adr(Work, City)),
    ("Work State", Adr(Work, Region)),
    ("Work ZIP", Adr(Work, Code)),
    ("Work Country", Adr(Work, Country)),
    ("Home Page", Url(Home)),
    ("Work Page", Url(Work)),
    ("Birthday", Birthday),
    ("Anniversary", Anniversary),
    ("Note", Note),
    ("Groups", Categories),
];

pub fn column(header: &str) -> Option<Column> {
    super::column::lookup(TABLE, header)
}

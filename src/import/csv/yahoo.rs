//! Yahoo Mail contacts export (`First`, `Last`, `Email`, `Alternate Email 1`, `Comments`).

use super::column::AdrPart::{City, Code, Country, Region, Street};
use super::column::Column::{self, *};
use super::column::Kind::{Home, Other, Work};
use super::column::Phone;

const TABLE: &[(&str, Column)] = &[
    ("First", Given),
    ("Middle", Middle),
    ("Last", Family),
    ("Nickname", Nickname),
    ("Email", Email(Other)),
    ("Alternate Email 1", Email(Other)),
    ("Alternate Email 2", Email(Other)),
    ("Category", Categories),
    ("Home", Column::Phone(Phone::Home)),
    ("Work", Column::Phone(Phone::Work)),
    ("Pager", Column::Phone(Phone::Pager)),
    ("Fax", Column::Phone(Phone::Fax(Other))),
    ("Mobile", Column::Phone(Phone::Cell)),
    ("Other", Column::Phone(Phone::Other)),
    ("Primary", Column::Phone(Phone::Main)),
    ("Personal Website", Url(Home)),
    ("Business Website", Url(Work)),
    ("Title", Title),
    ("Company", Org),
    ("Work Address", Adr(Work, Street)),
    ("Work City", Adr(Work, City)),
    ("Work State", Adr(Work, Region)),
    ("Work ZIP", Adr(Work, Code)),
    ("Work Country", Adr(Work, Country)),
    ("Home Address", Adr(Home, Street)),
    ("Home City", Adr(Home, City)),
    ("Home State", Adr(Home, Region)),
    ("Home ZIP", Adr(Home, Code)),
    ("Home Country", Adr(Home, Country)),
    ("Birthday", Birthday),
    ("Anniversary", Anniversary),
    ("Comments", Note),
];

pub fn column(header: &str) -> Option<Column> {
    super::column::lookup(TABLE, header)
}

//! Thunderbird's address book export ("Comma Separated"), English headers. The birthday
//! comes as three columns.

use super::column::AdrPart::{City, Code, Country, Street};
use super::column::Column::{self, *};
use super::column::Kind::{Home, Other, Work};
use super::column::Phone;

const TABLE: &[(&str, Column)] = &[
    ("First Name", Given),
    ("Last Name", Family),
    ("Display Name", FullName),
    ("Nickname", Nickname),
    ("Primary Email", Email(Other)),
    ("Secondary Email", Email(Other)),
    ("Work Phone", Column::Phone(Phone::Work)),
    ("Home Phone", Column::Phone(Phone::Home)),
    ("Fax Number", Column::Phone(Phone::Fax(Other))),
    ("Pager Number", Column::Phone(Phone::Pager)),
    ("Mobile Number", Column::Phone(Phone::Cell)),
    ("Home Address", Adr(Home, Street)),
    ("Home Address 2", Adr(Home, Street)),
    ("Home City", Adr(Home, City)),
    ("Home State", Adr(Home, super::column::AdrPart::Region)),
    ("Home ZipCode", Adr(Home, Code)),
    ("Home Country", Adr(Home, Country)),
    ("Work Address", Adr(Work, Street)),
    ("Work Address 2", Adr(Work, Street)),
    ("Work City", Adr(Work, City)),
    ("Work State", Adr(Work, super::column::AdrPart::Region)),
    ("Work ZipCode", Adr(Work, Code)),
    ("Work Country", Adr(Work, Country)),
    ("Job Title", Title),
    ("Department", Department),
    ("Organization", Org),
    ("Web Page 1", Url(Work)),
    ("Web Page 2", Url(Home)),
    ("Birth Year", BirthYear),
    ("Birth Month", BirthMonth),
    ("Birth Day", BirthDay),
    ("Notes", Note),
];

pub fn column(header: &str) -> Option<Column> {
    super::column::lookup(TABLE, header)
}

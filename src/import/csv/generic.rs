//! The fallback for CSV files from anything else (Proton, CRMs, hand-made sheets): common
//! English column names, compared without case, spaces, '-' and '_'.

use super::column::AdrPart::{City, Code, Country, Region, Street};
use super::column::Column::{self, *};
use super::column::Kind::{Home, Other, Unspecified, Work};
use super::column::Phone;

const TABLE: &[(&str, Column)] = &[
    ("name", FullName),
    ("fullname", FullName),
    ("displayname", FullName),
    ("firstname", Given),
    ("givenname", Given),
    ("forename", Given),
    ("middlename", Middle),
    ("lastname", Family),
    ("surname", Family),
    ("familyname", Family),
    ("prefix", Prefix),
    ("suffix", Suffix),
    ("nickname", Nickname),
    ("email", Email(Other)),
    ("mail", Email(Other)),
    ("emailaddress", Email(Other)),
    ("email1", Email(Other)),
    ("email2", Email(Other)),
    ("email3", Email(Other)),
    ("workemail", Email(Work)),
    ("homeemail", Email(Home)),
    ("phone", Column::Phone(Phone::Other)),
    ("phonenumber", Column::Phone(Phone::Other)),
    ("telephone", Column::Phone(Phone::Other)),
    ("tel", Column::Phone(Phone::Other)),
    ("mobile", Column::Phone(Phone::Cell)),
    ("mobilephone", Column::Phone(Phone::Cell)),
    ("cell", Column::Phone(Phone::Cell)),
    ("cellphone", Column::Phone(Phone::Cell)),
    ("workphone", Column::Phone(Phone::Work)),
    ("businessphone", Column::Phone(Phone::Work)),
    ("homephone", Column::Phone(Phone::Home)),
    ("fax", Column::Phone(Phone::Fax(Unspecified))),
    ("address", Adr(Other, Street)),
    ("street", Adr(Other, Street)),
    ("city", Adr(Other, City)),
    ("town", Adr(Other, City)),
    ("state", Adr(Other, Region)),
    ("region", Adr(Other, Region)),
    ("province", Adr(Other, Region)),
    ("zip", Adr(Other, Code)),
    ("zipcode", Adr(Other, Code)),
    ("postcode", Adr(Other, Code)),
    ("postalcode", Adr(Other, Code)),
    ("country", Adr(Other, Country)),
    ("company", Org),
    ("organization", Org),
    ("organisation", Org),
    ("department", Department),
    ("title", Title),
    ("jobtitle", Title),
    ("position", Title),
    ("birthday", Birthday),
    ("dateofbirth", Birthday),
    ("dob", Birthday),
    ("anniversary", Anniversary),
    ("notes", Note),
    ("note", Note),
    ("comments", Note),
    ("website", Url(Unspecified)),
    ("webpage", Url(Unspecified)),
    ("url", Url(Unspecified)),
    ("homepage", Url(Home)),
    ("categories", Categories),
    ("category", Categories),
    ("groups", Categories),
    ("group", Categories),
    ("tags", Categories),
    ("labels", Categories),
];

pub fn column(header: &str) -> Option<Column> {
    let key: String = super::column::normalize_header(header)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    TABLE.iter().find(|(name, _)| *name == key).map(|(_, c)| *c)
}

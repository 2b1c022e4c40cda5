//! Typed 207 Multi-Status responses and `DAV:error` bodies, serialised in one place.

use http::StatusCode;

use super::error::{Condition, DavError};
use super::names::{self, DAVIT, QName};
use super::props::PropValue;
use super::xml::{XmlWriter, escape_attr, escape_text, push_escaped_text};

#[derive(Debug, Default)]
pub struct Multistatus {
    pub responses: Vec<Response>,
    /// Top-level `DAV:sync-token` (RFC 6578 §6.4).
    pub sync_token: Option<String>,
}

#[derive(Debug)]
pub struct Response {
    pub href: String,
    pub body: ResponseBody,
}

#[derive(Debug)]
pub enum ResponseBody {
    Propstats(Vec<Propstat>),
    Status(StatusCode, Option<Condition>),
}

#[derive(Debug)]
pub struct Propstat {
    pub status: StatusCode,
    pub props: Vec<(QName, PropValue)>,
    pub condition: Option<Condition>,
}

/// `HTTP/1.1 200 OK`: clients such as Thunderbird match these lines literally.
pub fn status_line(status: StatusCode) -> String {
    let mut line = String::new();
    push_status_line(&mut line, status);
    line
}

fn push_status_line(out: &mut String, status: StatusCode) {
    out.push_str("HTTP/1.1 ");
    out.push_str(status.as_str());
    out.push(' ');
    out.push_str(status.canonical_reason().unwrap_or(""));
}

fn push_status_element(w: &mut XmlWriter, status: StatusCode) {
    let out = w.buffer();
    out.push_str("<D:status>");
    push_status_line(out, status);
    out.push_str("</D:status>");
}

fn open_root(w: &mut XmlWriter, tag: &str) {
    let attrs = names::xmlns_attrs();
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    w.open(tag, &attrs);
}

/// Writes `<prefix:name` for known namespaces, `<name xmlns="ns"` for others (left open for
/// the caller to end), straight into `out`: this runs for every property of every response.
fn push_prop_open(out: &mut String, q: &QName, prefix: Option<&str>) {
    out.push('<');
    match prefix {
        Some(p) => {
            out.push_str(p);
            out.push(':');
            out.push_str(&q.name);
        }
        None => {
            out.push_str(&q.name);
            out.push_str(" xmlns=\"");
            out.push_str(&escape_attr(&q.ns));
            out.push('"');
        }
    }
}

fn push_prop_close(out: &mut String, q: &QName, prefix: Option<&str>) {
    out.push_str("</");
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(&q.name);
    out.push('>');
}

pub fn write_prop(out: &mut String, q: &QName, value: &PropValue) {
    if let PropValue::Dead(xml) = value {
        out.push_str(xml);
        return;
    }
    let prefix = names::prefix_of(&q.ns);
    push_prop_open(out, q, prefix);
    match value {
        PropValue::Empty => {
            out.push_str("/>");
            return;
        }
        PropValue::Text(t) => {
            out.push('>');
            push_escaped_text(out, t);
        }
        PropValue::Href(h) => {
            out.push_str("><D:href>");
            push_escaped_text(out, h);
            out.push_str("</D:href>");
        }
        PropValue::Hrefs(hs) => {
            out.push('>');
            for h in hs {
                out.push_str("<D:href>");
                push_escaped_text(out, h);
                out.push_str("</D:href>");
            }
        }
        PropValue::Xml(x) => {
            out.push('>');
            out.push_str(x);
        }
        PropValue::Dead(_) => unreachable!("handled above"),
    }
    push_prop_close(out, q, prefix);
}

/// `write_prop` of a text value that is only borrowed (a stored body): no `PropValue`, no
/// copy of the text before it is escaped into `out`.
pub fn write_text_prop(out: &mut String, q: &QName, text: &str) {
    let prefix = names::prefix_of(&q.ns);
    push_prop_open(out, q, prefix);
    out.push('>');
    push_escaped_text(out, text);
    push_prop_close(out, q, prefix);
}

fn condition_xml(c: &Condition) -> String {
    let (ns, name) = c.element();
    let prefix = names::prefix_of(ns).unwrap_or("D");
    match c {
        Condition::NeedPrivileges(list) => {
            let mut s = String::from("<D:need-privileges>");
            for (href, privilege) in list {
                let p = if *privilege == "read-free-busy" { "C" } else { "D" };
                s.push_str(&format!(
                    "<D:resource><D:href>{}</D:href><D:privilege><{p}:{privilege}/></D:privilege></D:resource>",
                    escape_text(href)
                ));
            }
            s.push_str("</D:need-privileges>");
            s
        }
        Condition::NoUidConflict { href, .. } => {
            format!("<{prefix}:{name}><D:href>{}</D:href></{prefix}:{name}>", escape_text(href))
        }
        _ => format!("<{prefix}:{name}/>"),
    }
}

impl Multistatus {
    /// With `minimal` (RFC 8144 §2.1), 404 propstats are left out.
    pub fn to_xml(&self, minimal: bool) -> String {
        let mut w = MultistatusWriter::new(minimal, 0);
        for r in &self.responses {
            w.push(r);
        }
        w.finish(self.sync_token.as_deref())
    }
}

/// Serialises a multistatus one response at a time, so that a long listing is written as it
/// is described instead of being held whole as values and then again as XML.
pub struct MultistatusWriter {
    w: XmlWriter,
    minimal: bool,
}

impl MultistatusWriter {
    /// With `minimal` (RFC 8144 §2.1), 404 propstats are left out. `capacity` pre-sizes the
    /// buffer (bytes).
    pub fn new(minimal: bool, capacity: usize) -> Self {
        let mut w = XmlWriter::with_capacity(capacity);
        open_root(&mut w, "D:multistatus");
        MultistatusWriter { w, minimal }
    }

    pub fn push(&mut self, r: &Response) {
        let w = &mut self.w;
        w.open("D:response", &[]);
        w.text_element("D:href", &r.href);
        match &r.body {
            ResponseBody::Status(status, condition) => {
                push_status_element(w, *status);
                if let Some(c) = condition {
                    w.raw(&format!("<D:error>{}</D:error>", condition_xml(c)));
                }
            }
            ResponseBody::Propstats(stats) => write_propstats(w, stats, self.minimal),
        }
        w.close("D:response");
    }

    /// Starts a `<D:response>` whose propstats the caller writes in place (see
    /// `propfind::describe_into`): `open_ok_props`, then `write_prop`s into `buffer`, then
    /// `close_ok_props`, then `push_propstats` for the others, then `close_response`.
    pub fn open_response(&mut self, href: &str) {
        self.w.open("D:response", &[]);
        self.w.text_element("D:href", href);
    }

    /// Opens the 200 propstat; it must not stay empty (an empty one is not written at all).
    pub fn open_ok_props(&mut self) {
        self.w.buffer().push_str("<D:propstat><D:prop>");
    }

    pub fn close_ok_props(&mut self) {
        self.w.buffer().push_str("</D:prop>");
        push_status_element(&mut self.w, StatusCode::OK);
        self.w.close("D:propstat");
    }

    /// Propstats other than the 200 one, written as `push` writes them.
    pub fn push_propstats(&mut self, stats: &[Propstat]) {
        write_propstats(&mut self.w, stats, self.minimal);
    }

    pub fn close_response(&mut self) {
        self.w.close("D:response");
    }

    pub fn buffer(&mut self) -> &mut String {
        self.w.buffer()
    }

    pub fn finish(mut self, sync_token: Option<&str>) -> String {
        if let Some(token) = sync_token {
            self.w.text_element("D:sync-token", token);
        }
        self.w.close("D:multistatus");
        self.w.into_string()
    }
}

fn write_propstats(w: &mut XmlWriter, stats: &[Propstat], minimal: bool) {
    // 200 first: Thunderbird's CardDAV code reads only the first status.
    let mut ordered: Vec<&Propstat> = stats.iter().filter(|s| !s.props.is_empty()).collect();
    ordered.sort_by_key(|s| s.status != StatusCode::OK);
    for s in ordered {
        if minimal && s.status == StatusCode::NOT_FOUND {
            continue;
        }
        w.open("D:propstat", &[]);
        let out = w.buffer();
        out.push_str("<D:prop>");
        for (q, v) in &s.props {
            write_prop(out, q, v);
        }
        out.push_str("</D:prop>");
        push_status_element(w, s.status);
        if let Some(c) = &s.condition {
            w.raw(&format!("<D:error>{}</D:error>", condition_xml(c)));
        }
        w.close("D:propstat");
    }
}

/// The `DAV:error` body of an error response (RFC 4918 §16), with a human message.
pub fn error_body(e: &DavError) -> String {
    let mut w = XmlWriter::new();
    open_root(&mut w, "D:error");
    if let Some(c) = &e.condition {
        w.raw(&condition_xml(c));
    }
    w.text_element("x:message", &e.message);
    w.close("D:error");
    let _ = DAVIT;
    w.into_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;

    use super::*;
    use crate::dav::names::DAV;
    use crate::dav::xml;

    /// Text XML 1.0 can carry (§2.2 Char), which is any text a property or href may hold.
    fn xml_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec!['&', '<', '>', '"', '\'', '\r', '\n', '\t', ' ', ']', ';']),
                prop::char::range(' ', '\u{D7FF}'),
                prop::char::range('\u{E000}', '\u{FFFD}'),
                prop::char::range('\u{10000}', '\u{10FFFF}'),
            ],
            0..40,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    /// The text of every element named `local`, in document order, read with quick-xml alone.
    fn texts_of(doc: &str, local: &str) -> Vec<String> {
        let mut reader = Reader::from_str(doc);
        let (mut open, mut found, mut current) = (Vec::new(), Vec::new(), String::new());
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Start(s) => {
                    open.push(s.local_name().as_ref().to_owned());
                    current.clear();
                }
                Event::End(_) => {
                    let closed = open.pop();
                    if closed.as_deref() == Some(local) {
                        found.push(std::mem::take(&mut current));
                    }
                }
                Event::Text(t) => current.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => match r.resolve_char_ref().expect("valid reference") {
                    Some(c) => current.push(c),
                    None => current.push_str(match &*r {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    }),
                },
                Event::Eof => return found,
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any href, property text, dead-property namespace and sync token written into a
        /// multistatus reads back as exactly the same text, with quick-xml and with davit's
        /// own reader.
        #[test]
        fn multistatus_text_reads_back_unchanged(
            href in xml_text(),
            name in xml_text(),
            other in xml_text(),
            ns in xml_text(),
            owner in xml_text(),
            token in xml_text(),
            message in xml_text(),
        ) {
            let ms = Multistatus {
                responses: vec![
                    Response {
                        href: href.clone(),
                        body: ResponseBody::Propstats(vec![Propstat {
                            status: StatusCode::OK,
                            props: vec![
                                (QName::new(DAV, "displayname"), PropValue::Text(name.clone())),
                                (QName::new(&ns, "note"), PropValue::Text(other.clone())),
                                (QName::new(DAV, "owner"), PropValue::Href(owner.clone())),
                            ],
                            condition: None,
                        }]),
                    },
                    Response {
                        href: owner.clone(),
                        body: ResponseBody::Status(
                            StatusCode::CONFLICT,
                            Some(Condition::NoUidConflict { carddav: false, href: href.clone() }),
                        ),
                    },
                ],
                sync_token: Some(token.clone()),
            };
            let doc = ms.to_xml(false);
            prop_assert_eq!(texts_of(&doc, "displayname"), vec![name.clone()]);
            prop_assert_eq!(texts_of(&doc, "note"), vec![other.clone()]);
            prop_assert_eq!(texts_of(&doc, "sync-token"), vec![token.clone()]);
            prop_assert_eq!(texts_of(&doc, "href"), vec![href.clone(), owner.clone(), owner.clone(), href.clone()]);

            let root = xml::parse(doc.as_bytes()).expect("davit reads its own multistatus");
            let prop = root.child(DAV, "response").and_then(|r| r.child(DAV, "propstat")).and_then(|p| p.child(DAV, "prop")).unwrap();
            prop_assert_eq!(prop.child(DAV, "displayname").unwrap().text(), name);
            prop_assert_eq!(prop.child(&ns, "note").unwrap().text(), other);

            let error = error_body(&DavError::bad_request(message.clone()));
            prop_assert_eq!(texts_of(&error, "message"), vec![message]);
        }

        /// Attribute values the writer escapes read back unchanged (no whitespace folding).
        #[test]
        fn attribute_values_read_back_unchanged(value in xml_text()) {
            let mut w = xml::XmlWriter::new();
            w.empty("x:y", &[("xmlns:x", "urn:x"), ("v", &value)]);
            let root = xml::parse(w.into_string().as_bytes()).expect("well-formed");
            prop_assert_eq!(root.attr("v"), Some(value.as_str()));
        }
    }
}

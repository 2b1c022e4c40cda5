//! Request bodies parsed into typed values before any handler runs: PROPFIND (RFC 4918
//! §14.20), PROPPATCH (§14.19), extended MKCOL (RFC 5689 §5.1) and MKCALENDAR (RFC 4791 §5.3.1).

use http::StatusCode;

use super::error::{Condition, DavError, DavResult};
use super::names::{CALDAV, DAV, QName};
use super::xml::{self, Element, XmlError};

#[derive(Debug, Clone, PartialEq)]
pub enum Propfind {
    AllProp { include: Vec<QName> },
    PropName,
    Prop(Vec<QName>),
}

/// One `set` or `remove` instruction, in document order (RFC 4918 §9.2: applied in order).
#[derive(Debug, Clone)]
pub struct PropUpdate {
    pub name: QName,
    /// The property element for `set`; `None` for `remove`.
    pub value: Option<Element>,
}

pub fn parse_xml(body: &[u8]) -> DavResult<Element> {
    xml::parse(body).map_err(|e| match e {
        // RFC 4918 §16: no-external-entities is used with 403.
        XmlError::Doctype | XmlError::UnknownEntity(_) => DavError::with(
            StatusCode::FORBIDDEN,
            Condition::NoExternalEntities,
            format!("XML with DOCTYPE or entity declarations is refused: {e}"),
        ),
        other => DavError::bad_request(format!("malformed XML body: {other}")),
    })
}

fn qname(e: &Element) -> QName {
    QName::new(&e.ns, &e.name)
}

fn expect_root(root: &Element, ns: &str, name: &str) -> DavResult<()> {
    if root.is(ns, name) {
        Ok(())
    } else {
        Err(DavError::bad_request(format!(
            "expected a {{{ns}}}{name} body, got {{{}}}{}",
            root.ns, root.name
        )))
    }
}

pub fn parse_propfind(body: &[u8]) -> DavResult<Propfind> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Propfind::AllProp { include: vec![] }); // RFC 4918 §9.1: no body = allprop
    }
    let root = parse_xml(body)?;
    expect_root(&root, DAV, "propfind")?;
    let mut result = None;
    let mut include = Vec::new();
    for child in root.elements() {
        match (child.ns.as_str(), child.name.as_str()) {
            (DAV, "prop") => result = Some(Propfind::Prop(child.elements().map(qname).collect())),
            (DAV, "allprop") => result = Some(Propfind::AllProp { include: vec![] }),
            (DAV, "propname") => result = Some(Propfind::PropName),
            (DAV, "include") => include = child.elements().map(qname).collect(),
            _ => {}
        }
    }
    match result {
        Some(Propfind::AllProp { .. }) => Ok(Propfind::AllProp { include }),
        Some(other) => Ok(other),
        None => Err(DavError::bad_request("propfind needs prop, allprop or propname")),
    }
}

/// `xml:lang` of `el`, or the one inherited from its ancestors.
fn lang_in_scope(el: &Element, inherited: Option<String>) -> Option<String> {
    el.attrs.iter().find(|a| a.ns == xml::XML_NS && a.name == "lang").map(|a| a.value.clone()).or(inherited)
}

/// A property value keeps the `xml:lang` in scope where it was set (RFC 4918 §4.3), even when
/// the attribute sat on an enclosing element.
fn with_lang(p: &Element, lang: Option<&String>) -> Element {
    let mut p = p.clone();
    if let Some(lang) = lang
        && !p.attrs.iter().any(|a| a.ns == xml::XML_NS && a.name == "lang")
    {
        p.attrs.push(xml::Attribute { ns: xml::XML_NS.into(), name: "lang".into(), value: lang.clone() });
    }
    p
}

pub fn parse_propertyupdate(body: &[u8]) -> DavResult<Vec<PropUpdate>> {
    let root = parse_xml(body)?;
    expect_root(&root, DAV, "propertyupdate")?;
    let root_lang = lang_in_scope(&root, None);
    let mut updates = Vec::new();
    for action in root.elements() {
        let set = match (action.ns.as_str(), action.name.as_str()) {
            (DAV, "set") => true,
            (DAV, "remove") => false,
            _ => {
                return Err(DavError::bad_request("propertyupdate holds only set and remove"));
            }
        };
        let prop =
            action.child(DAV, "prop").ok_or_else(|| DavError::bad_request("set/remove without prop"))?;
        let lang = lang_in_scope(prop, lang_in_scope(action, root_lang.clone()));
        for p in prop.elements() {
            updates.push(PropUpdate { name: qname(p), value: set.then(|| with_lang(p, lang.as_ref())) });
        }
    }
    if updates.is_empty() {
        return Err(DavError::bad_request("propertyupdate changes no property"));
    }
    Ok(updates)
}

/// Properties set by an extended MKCOL (`DAV:mkcol`) or MKCALENDAR (`C:mkcalendar`) body.
pub fn parse_mkcol_body(body: &[u8], calendar: bool) -> DavResult<Vec<Element>> {
    let root = parse_xml(body)?;
    let (ns, name) = if calendar { (CALDAV, "mkcalendar") } else { (DAV, "mkcol") };
    if !root.is(ns, name) {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be a {{{ns}}}{name} document"),
        ));
    }
    let mut props = Vec::new();
    for set in root.elements() {
        if !set.is(DAV, "set") {
            return Err(DavError::bad_request(format!("{name} holds only DAV:set")));
        }
        for prop in set.elements().filter(|e| e.is(DAV, "prop")) {
            props.extend(prop.elements().cloned());
        }
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propfind_forms() {
        assert_eq!(parse_propfind(b"").unwrap(), Propfind::AllProp { include: vec![] });
        let p = parse_propfind(
            b"<D:propfind xmlns:D='DAV:'><D:prop><D:getetag/><x:y xmlns:x='urn:x'/></D:prop></D:propfind>",
        )
        .unwrap();
        assert_eq!(p, Propfind::Prop(vec![QName::new(DAV, "getetag"), QName::new("urn:x", "y")]));
        assert_eq!(
            parse_propfind(b"<propfind xmlns='DAV:'><propname/></propfind>").unwrap(),
            Propfind::PropName
        );
        assert!(parse_propfind(b"<propfind xmlns='urn:other'><propname/></propfind>").is_err());
        assert!(parse_propfind(b"<propfind xmlns='DAV:'/>").is_err());
    }

    #[test]
    fn hostile_xml_is_no_external_entities() {
        let e = parse_propfind(b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><propfind xmlns='DAV:'><prop>&x;</prop></propfind>").unwrap_err();
        assert_eq!(e.condition, Some(Condition::NoExternalEntities));
    }

    #[test]
    fn proppatch_order_is_kept() {
        let u = parse_propertyupdate(b"<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop><a xmlns='urn:x'>1</a></D:prop></D:set><D:remove><D:prop><b xmlns='urn:x'/></D:prop></D:remove></D:propertyupdate>").unwrap();
        assert_eq!(u.len(), 2);
        assert!(u[0].value.is_some());
        assert!(u[1].value.is_none());
        assert_eq!(u[1].name, QName::new("urn:x", "b"));
    }
}

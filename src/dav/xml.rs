//! XML for WebDAV: a hardened reader producing a tiny namespace-resolved DOM,
//! a serialiser for stored dead properties, and a string writer for responses.
//!
//! Request bodies are untrusted, so the reader never interprets a DTD (no XXE,
//! no entity expansion bombs), bounds depth and element count, and only accepts
//! documents that are namespace-well-formed. Everything it returns can be written
//! back out with [`Element::to_xml`] and parsed again to an equal value.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::XmlVersion;
use quick_xml::errors::Error as QuickError;
use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::Attribute as QuickAttribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{NamespaceError, NamespaceResolver, QName, ResolveResult};
use quick_xml::reader::NsReader;

/// Deepest element nesting accepted; real DAV bodies stay below ten.
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one body; bounds the DOM we allocate.
pub const MAX_ELEMENTS: usize = 20_000;
/// The namespace the `xml:` prefix is permanently bound to.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` declarations; nothing else may live in it.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Why a request body was rejected. The Display text is safe to show clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML body is empty")]
    Empty,
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    #[error("undefined entity reference &{0};")]
    UnknownEntity(String),
    #[error("undeclared namespace prefix")]
    UnknownPrefix,
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("XML elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("XML body has more than {MAX_ELEMENTS} elements")]
    TooLarge,
}

/// An element with its namespace resolved; `ns` is "" when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Node>,
}

/// An attribute; `ns` is "" when unprefixed. `xmlns` declarations are not kept
/// because they are consumed by namespace resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Node {
    /// True for text made only of XML whitespace (indentation between elements).
    pub fn is_whitespace(&self) -> bool {
        matches!(self, Node::Text(t) if t.chars().all(is_xml_space))
    }
}

impl Element {
    /// An element without attributes or children.
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> Self {
        Element { ns: ns.into(), name: name.into(), attrs: Vec::new(), children: Vec::new() }
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// Child elements only; text (including indentation) is skipped.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(el) => Some(el),
            Node::Text(_) => None,
        })
    }

    /// Children without whitespace-only text, for code that must notice
    /// unexpected text but not indentation.
    pub fn significant_children(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter(|node| !node.is_whitespace())
    }

    /// First child element with this expanded name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|el| el.is(ns, name))
    }

    /// All descendant text concatenated, in document order.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(el) => el.collect_text(out),
            }
        }
    }

    /// Value of an attribute that has no namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.ns.is_empty() && a.name == name).map(|a| a.value.as_str())
    }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/// Parses an untrusted request body into a namespace-resolved element tree.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    parse_with_limit(body, MAX_ELEMENTS)
}

/// `parse` with another element limit, for trusted documents such as our own responses
/// read back by tests. Every other rule (no DOCTYPE, depth cap) still applies.
pub fn parse_with_limit(body: &[u8], max_elements: usize) -> Result<Element, XmlError> {
    let input = decode(body)?;
    let mut reader = NsReader::from_str(input);
    let mut tree = TreeBuilder { max_elements, ..TreeBuilder::default() };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => return Err(at(from_quick(err), reader.error_position())),
        };
        if matches!(event, Event::Eof) {
            return tree.finish().map_err(|e| at(e, reader.buffer_position()));
        }
        tree.feed(reader.resolver(), event).map_err(|e| at(e, reader.buffer_position()))?;
    }
}

/// Checks encoding and characters of the whole body up front, so later stages
/// can assume every raw character (names, text, values) is legal XML 1.0.
fn decode(body: &[u8]) -> Result<&str, XmlError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| XmlError::Malformed(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    // quick-xml strips a UTF-8 byte order mark, so it must not count as content.
    if text.trim_start_matches('\u{FEFF}').chars().all(is_xml_space) {
        return Err(XmlError::Empty);
    }
    if let Some((pos, c)) = text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        return Err(XmlError::Malformed(format!(
            "character U+{:04X} is not allowed in XML (at byte {pos})",
            c as u32
        )));
    }
    Ok(text)
}

/// Builds the DOM from reader events and enforces the structural rules that
/// quick-xml leaves to its caller (one root, no stray text, limits).
#[derive(Default)]
struct TreeBuilder {
    /// Open elements, innermost last.
    stack: Vec<Element>,
    /// Set once the root element has been closed.
    root: Option<Element>,
    /// Elements seen so far, for the MAX_ELEMENTS limit.
    count: usize,
    /// Text not yet attached, so text, references and CDATA merge into one node.
    pending: String,
    /// Element limit (MAX_ELEMENTS for request bodies).
    max_elements: usize,
}

impl TreeBuilder {
    fn feed(&mut self, resolver: &NamespaceResolver, event: Event) -> Result<(), XmlError> {
        match event {
            Event::Start(start) => self.open(&start, resolver),
            Event::Empty(start) => {
                self.open(&start, resolver)?;
                self.close()
            }
            Event::End(_) => self.close(),
            Event::Text(text) => self.text(&text.xml10_content(), true),
            Event::CData(cdata) => self.text(&cdata.xml10_content(), false),
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                self.text(c.encode_utf8(&mut [0; 4]), false)
            }
            // Refusing every DTD is what keeps XXE and entity bombs out; DAV never needs one.
            Event::DocType(_) => Err(XmlError::Doctype),
            Event::Decl(_) if self.root.is_some() || !self.stack.is_empty() => {
                Err(malformed("XML declaration after the start of the document"))
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Eof => Ok(()),
        }
    }

    fn open(&mut self, start: &BytesStart, resolver: &NamespaceResolver) -> Result<(), XmlError> {
        if self.root.is_some() {
            return Err(malformed("more than one root element"));
        }
        // Limits come before any allocation for the new element.
        self.count += 1;
        if self.count > self.max_elements {
            return Err(XmlError::TooLarge);
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(XmlError::TooDeep);
        }
        let element = read_start(start, resolver)?;
        self.flush_text();
        self.stack.push(element);
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlError> {
        self.flush_text();
        let element = self.stack.pop().ok_or_else(|| malformed("end tag without a start tag"))?;
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(element)),
            None => self.root = Some(element),
        }
        Ok(())
    }

    /// `plain` is true for literal text, the only thing (and only when it is
    /// whitespace) that may appear outside the root element.
    fn text(&mut self, text: &str, plain: bool) -> Result<(), XmlError> {
        if self.stack.is_empty() {
            if plain && text.chars().all(is_xml_space) {
                return Ok(());
            }
            return Err(malformed("text outside the root element"));
        }
        self.pending.push_str(text);
        Ok(())
    }

    fn flush_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.children.push(Node::Text(std::mem::take(&mut self.pending)));
        }
    }

    fn finish(self) -> Result<Element, XmlError> {
        if let Some(open) = self.stack.last() {
            return Err(malformed(format!("element <{}> is not closed", open.name)));
        }
        self.root.ok_or_else(|| malformed("no root element"))
    }
}

/// Turns a start tag into an element, resolving its name and attributes
/// against the bindings in scope (the reader has already pushed this tag's own).
fn read_start(start: &BytesStart, resolver: &NamespaceResolver) -> Result<Element, XmlError> {
    let qname = start.name();
    check_qname(qname)?;
    let (ns, local) = resolver.resolve_element(qname);
    let ns = namespace_name(ns)?;
    if ns == XMLNS_NS {
        return Err(malformed("elements cannot use the xmlns prefix"));
    }
    Ok(Element {
        ns,
        name: local.into_inner().to_owned(),
        attrs: read_attributes(start, resolver)?,
        children: Vec::new(),
    })
}

fn read_attributes(start: &BytesStart, resolver: &NamespaceResolver) -> Result<Vec<Attribute>, XmlError> {
    let mut attrs = Vec::new();
    // `attributes()` checks syntax and literal duplicates for us.
    for attr in start.attributes() {
        let attr = attr.map_err(|e| malformed(e.to_string()))?;
        check_qname(attr.key)?;
        if attr.key.as_namespace_binding().is_some() {
            continue; // already applied by the resolver
        }
        let (ns, local) = resolver.resolve_attribute(attr.key);
        attrs.push(Attribute {
            ns: namespace_name(ns)?,
            name: local.into_inner().to_owned(),
            value: attribute_value(&attr.value)?.into_owned(),
        });
    }
    reject_duplicate_attributes(&attrs)?;
    Ok(attrs)
}

/// `a:x` and `b:x` are distinct literally but clash when both prefixes name the
/// same namespace; the Namespaces spec makes that a well-formedness error.
fn reject_duplicate_attributes(attrs: &[Attribute]) -> Result<(), XmlError> {
    let mut seen = HashSet::with_capacity(attrs.len());
    for attr in attrs {
        if !seen.insert((attr.ns.as_str(), attr.name.as_str())) {
            return Err(malformed(format!("duplicate attribute {}", attr.name)));
        }
    }
    Ok(())
}

/// Maps a resolution result to the namespace string used in the DOM.
fn namespace_name(result: ResolveResult) -> Result<String, XmlError> {
    match result {
        ResolveResult::Unbound => Ok(String::new()),
        // The resolver stores declarations raw, so `xmlns="a&amp;b"` must still
        // be unescaped to get the namespace name it really declares.
        ResolveResult::Bound(ns) => Ok(attribute_value(ns.into_inner())?.into_owned()),
        ResolveResult::Unknown(_) => Err(XmlError::UnknownPrefix),
    }
}

/// Unescapes and normalises a raw attribute value, allowing only the five
/// predefined entities (there is no DTD that could define others).
fn attribute_value(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    let attr = QuickAttribute { key: QName("_"), value: Cow::Borrowed(raw) };
    let value =
        attr.normalized_value_with(XmlVersion::Implicit1_0, 1, predefined_entity).map_err(from_quick)?;
    // Character references can produce characters the raw-input check never saw.
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(illegal_char_ref(c));
    }
    Ok(value)
}

/// Resolves `&name;` or `&#N;` in text to the character it stands for.
fn resolve_reference(reference: &BytesRef) -> Result<char, XmlError> {
    if let Some(c) = reference.resolve_char_ref().map_err(from_quick)? {
        return if is_xml_char(c) { Ok(c) } else { Err(illegal_char_ref(c)) };
    }
    let name: &str = reference;
    predefined_entity(name)
        .and_then(|s| s.chars().next())
        .ok_or_else(|| XmlError::UnknownEntity(name.to_owned()))
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}

fn illegal_char_ref(c: char) -> XmlError {
    malformed(format!("character reference to U+{:04X}, which XML does not allow", c as u32))
}

/// quick-xml does not validate names; we do, so that whatever we later
/// serialise (e.g. a stored dead property) is well-formed for every client.
fn check_qname(qname: QName) -> Result<(), XmlError> {
    let (local, prefix) = qname.decompose();
    let prefix_ok = prefix.is_none_or(|p| is_ncname(p.into_inner()));
    if prefix_ok && is_ncname(local.into_inner()) {
        Ok(())
    } else {
        Err(malformed(format!("invalid name `{}`", qname.into_inner())))
    }
}

/// A name without colons (XML Namespaces `NCName`).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

/// XML 1.0 (5th ed.) `NameStartChar`, minus the colon.
fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (5th ed.) `NameChar`, minus the colon.
fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// XML 1.0 `Char`; Rust chars already exclude surrogates.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn malformed(msg: impl Into<String>) -> XmlError {
    XmlError::Malformed(msg.into())
}

/// Adds the byte offset to malformed-input errors so clients can find the problem.
fn at(err: XmlError, pos: u64) -> XmlError {
    match err {
        XmlError::Malformed(msg) => XmlError::Malformed(format!("{msg} (at byte {pos})")),
        other => other,
    }
}

fn from_quick(err: QuickError) -> XmlError {
    match err {
        QuickError::Escape(EscapeError::UnrecognizedEntity(_, name)) => XmlError::UnknownEntity(name),
        QuickError::Namespace(NamespaceError::UnknownPrefix(_)) => XmlError::UnknownPrefix,
        // The resolver's own caps (bindings in scope, nesting) are resource limits too.
        QuickError::Namespace(NamespaceError::TooManyBindings(_)) => XmlError::TooLarge,
        QuickError::Namespace(NamespaceError::TooDeeplyNested(_)) => XmlError::TooDeep,
        other => XmlError::Malformed(other.to_string()),
    }
}

// ---------------------------------------------------------------------------
// Serialiser for dead properties
// ---------------------------------------------------------------------------

impl Element {
    /// Serialises to a fragment that means the same wherever it is pasted:
    /// every element declares its own default namespace and every namespaced
    /// attribute a local prefix, so no binding is inherited from the context.
    ///
    /// `parse(el.to_xml()) == el` for any element `parse` can return (text
    /// nodes non-empty and never adjacent, names valid, characters legal).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }

    fn write_xml(&self, out: &mut String) {
        self.write_start_tag(out);
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for node in &self.children {
            match node {
                Node::Element(el) => el.write_xml(out),
                Node::Text(text) => out.push_str(&escape_text(text)),
            }
        }
        out.push_str("</");
        self.write_tag_name(out);
        out.push('>');
    }

    fn write_start_tag(&self, out: &mut String) {
        out.push('<');
        self.write_tag_name(out);
        // The xml namespace must not be declared, so such elements keep `xml:`.
        if self.ns != XML_NS {
            push_attr(out, "xmlns", &self.ns);
        }
        // One generated prefix per distinct attribute namespace on this element.
        let mut prefixes: Vec<&str> = Vec::new();
        for attr in &self.attrs {
            if attr.ns.is_empty() || attr.ns == XML_NS || prefixes.contains(&attr.ns.as_str()) {
                continue;
            }
            push_attr(out, &format!("xmlns:a{}", prefixes.len()), &attr.ns);
            prefixes.push(&attr.ns);
        }
        for attr in &self.attrs {
            let name = if attr.ns.is_empty() {
                attr.name.clone()
            } else if attr.ns == XML_NS {
                format!("xml:{}", attr.name)
            } else {
                let index = prefixes.iter().position(|p| *p == attr.ns).unwrap_or(0);
                format!("a{index}:{}", attr.name)
            };
            push_attr(out, &name, &attr.value);
        }
    }

    fn write_tag_name(&self, out: &mut String) {
        if self.ns == XML_NS {
            out.push_str("xml:");
        }
        out.push_str(&self.name);
    }
}

fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&escape_attr(value));
    out.push('"');
}

/// Escapes character data. `\r` becomes a character reference because a
/// literal one would be turned into `\n` by the next parser.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes a double-quoted attribute value. Tab and newline are written as
/// references too: attribute normalisation would otherwise turn them into spaces.
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// `escape_text` straight onto `out`: calendar and address data are escaped this way, with
/// no intermediate string (every line of them ends in `\r`).
pub fn push_escaped_text(out: &mut String, s: &str) {
    push_escaped(out, s, false);
}

/// A stored body as text for a response: checked (fast) as UTF-8 and copied once; a body
/// that is not UTF-8 has its bad bytes replaced (lossy decoding is ~10× slower, so only then).
pub fn body_text(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Borrows when nothing needs escaping, which is the common case.
fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    if !s.bytes().any(|b| replacement(b, attr).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    push_escaped(&mut out, s, attr);
    Cow::Owned(out)
}

/// What an ASCII byte is written as, if it must be escaped. Everything escaped is ASCII, so
/// the runs between such bytes are whole UTF-8 sequences and are copied as they are.
#[inline]
fn replacement(b: u8, attr: bool) -> Option<&'static str> {
    match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#13;"),
        b'"' if attr => Some("&quot;"),
        b'\n' if attr => Some("&#10;"),
        b'\t' if attr => Some("&#9;"),
        _ => None,
    }
}

fn push_escaped(out: &mut String, s: &str, attr: bool) {
    if attr {
        push_escaped_bytewise(out, s, true);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of every x86-64 processor (the architecture's baseline).
    unsafe {
        push_escaped_text_sse2(out, s)
    };
    #[cfg(not(target_arch = "x86_64"))]
    push_escaped_bytewise(out, s, false);
}

/// Text: mostly iCalendar and vCard data, whose every line ends in CR (every ~25 bytes) and
/// which seldom holds `&`, `<` or `>`. SSE2 compares 16 bytes at a time with all four; each
/// block is stored to the output whole, and where it holds one of them the output goes on
/// from there with the escape. Copying the runs between CRs with `push_str` instead (a
/// capacity check and a `memcpy` call each) cost ~140 instructions per line: 17 % of a
/// 100-href calendar-multiget.
///
/// # Safety
/// The processor must have SSE2, which every x86-64 one has.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn push_escaped_text_sse2(out: &mut String, s: &str) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_storeu_si128,
    };
    /// Most bytes one step writes past `written`: a whole block (16), or up to 15 bytes of
    /// one and then an escape stored as 8 bytes.
    const STEP: usize = 24;
    let src = s.as_bytes();
    let (cr, amp) = (_mm_set1_epi8(b'\r' as i8), _mm_set1_epi8(b'&' as i8));
    let (lt, gt) = (_mm_set1_epi8(b'<' as i8), _mm_set1_epi8(b'>' as i8));
    // SAFETY: only whole UTF-8 sequences of `s` and ASCII escapes are written (each escaped
    // byte is ASCII, so no sequence is split), and the length is set to what was written.
    let vec = unsafe { out.as_mut_vec() };
    let mut written = vec.len();
    let mut at = 0;
    while at < src.len() {
        // Room for this step; lines of ~25 bytes grow by ~1/6 when their CRs are escaped.
        if vec.capacity() - written < STEP {
            // SAFETY: `..written` has been written.
            unsafe { vec.set_len(written) };
            vec.reserve((src.len() - at) + (src.len() - at) / 4 + STEP);
        }
        let dst = vec.as_mut_ptr();
        let escape = if at + 16 <= src.len() {
            // SAFETY: the 16 bytes read start at `at` and end within `src`; the 16 bytes written
            // start at `written` and end within the capacity (STEP, checked above).
            let v = unsafe { _mm_loadu_si128(src.as_ptr().add(at).cast()) };
            unsafe { _mm_storeu_si128(dst.add(written).cast(), v) };
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, amp)),
                _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, gt)),
            );
            let found = _mm_movemask_epi8(hits) as u32;
            if found == 0 {
                at += 16;
                written += 16;
                continue;
            }
            let first = found.trailing_zeros() as usize;
            at += first;
            written += first;
            padded_escape(src[at])
        } else {
            // The last bytes, one at a time.
            let b = src[at];
            match replacement(b, false) {
                Some(_) => padded_escape(b),
                None => {
                    // SAFETY: `written` is within the capacity (checked above).
                    unsafe { dst.add(written).write(b) };
                    at += 1;
                    written += 1;
                    continue;
                }
            }
        };
        // SAFETY: 8 bytes from `written`, at most 15 bytes past where this step began: within
        // the capacity (STEP, checked above).
        unsafe { dst.add(written).cast::<[u8; 8]>().write_unaligned(escape.0) };
        at += 1;
        written += escape.1;
    }
    // SAFETY: `..written` has been written, within the capacity.
    unsafe { vec.set_len(written) };
}

/// The escape of `&`, `<`, `>` or CR padded to 8 bytes, and its length.
#[inline]
fn padded_escape(b: u8) -> ([u8; 8], usize) {
    match b {
        b'&' => (*b"&amp;\0\0\0", 5),
        b'<' => (*b"&lt;\0\0\0\0", 4),
        b'>' => (*b"&gt;\0\0\0\0", 4),
        _ => (*b"&#13;\0\0\0", 5),
    }
}

fn push_escaped_bytewise(out: &mut String, s: &str, attr: bool) {
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(escaped) = replacement(b, attr) {
            out.push_str(&s[run_start..i]);
            out.push_str(escaped);
            run_start = i + 1;
        }
    }
    out.push_str(&s[run_start..]);
}

// ---------------------------------------------------------------------------
// Response writer
// ---------------------------------------------------------------------------

/// Builds response bodies as a string. Tags are literals chosen by the caller
/// (e.g. `"D:multistatus"`), so only text and attribute values are escaped.
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A writer whose buffer holds `capacity` bytes before it grows (long listings).
    pub fn with_capacity(capacity: usize) -> Self {
        const DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
        // Large answers reuse a kept buffer (see `memory::buffers`); an empty Vec is valid UTF-8.
        let mut out = String::from_utf8(crate::memory::buffers::take(capacity.max(DECL.len())))
            .unwrap_or_else(|_| String::with_capacity(capacity));
        out.push_str(DECL);
        XmlWriter { out }
    }

    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.out.push_str("/>");
    }

    pub fn text_element(&mut self, tag: &str, text: &str) {
        self.open(tag, &[]);
        self.text(text);
        self.close(tag);
    }

    pub fn text(&mut self, text: &str) {
        push_escaped_text(&mut self.out, text);
    }

    /// Appends a fragment verbatim; it must already be well-formed.
    pub fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }

    /// The buffer itself, for writers of well-formed fragments that append in place.
    pub fn buffer(&mut self) -> &mut String {
        &mut self.out
    }

    pub fn into_string(self) -> String {
        self.out
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            push_attr(&mut self.out, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes())
    }

    fn text(s: &str) -> Node {
        Node::Text(s.to_owned())
    }

    fn el(ns: &str, name: &str, attrs: Vec<Attribute>, children: Vec<Node>) -> Element {
        Element { ns: ns.into(), name: name.into(), attrs, children }
    }

    fn attr(ns: &str, name: &str, value: &str) -> Attribute {
        Attribute { ns: ns.into(), name: name.into(), value: value.into() }
    }

    fn assert_round_trip(element: &Element) {
        let xml = element.to_xml();
        assert_eq!(parse_str(&xml).as_ref(), Ok(element), "serialised as {xml}");
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
    }

    // --- reader: namespaces ---------------------------------------------

    #[test]
    fn propfind_with_prefixed_and_default_namespaces() {
        let body = r#"<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:" xmlns="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:getetag/>
    <calendar-data/>
    <x:color xmlns:x="http://apple.com/ns/ical/"/>
    <plain xmlns=""/>
  </D:prop>
</D:propfind>"#;
        let root = parse_str(body).unwrap();
        assert!(root.is("DAV:", "propfind"));
        let prop = root.child("DAV:", "prop").unwrap();
        let names: Vec<(&str, &str)> = prop.elements().map(|e| (e.ns.as_str(), e.name.as_str())).collect();
        assert_eq!(
            names,
            [
                ("DAV:", "getetag"),
                ("urn:ietf:params:xml:ns:caldav", "calendar-data"),
                ("http://apple.com/ns/ical/", "color"),
                ("", "plain"),
            ]
        );
        // Namespace declarations are not attributes.
        assert!(root.attrs.is_empty());
        assert!(prop.elements().all(|e| e.attrs.is_empty()));
        // Indentation is kept as text but helpers skip it.
        assert!(prop.children.iter().any(Node::is_whitespace));
        assert_eq!(prop.significant_children().count(), 4);
    }

    #[test]
    fn empty_default_namespace_inside_default_namespaced_parent() {
        let root = parse_str(r#"<a xmlns="urn:x"><b xmlns=""><c/></b><d/></a>"#).unwrap();
        assert_eq!(root.ns, "urn:x");
        let b = root.child("", "b").unwrap();
        assert_eq!(b.child("", "c").map(|c| c.ns.as_str()), Some(""));
        assert!(root.child("urn:x", "d").is_some());
    }

    #[test]
    fn elements_without_namespace_have_empty_ns() {
        let root = parse_str("<root><child/></root>").unwrap();
        assert!(root.is("", "root"));
        assert!(root.child("", "child").is_some());
    }

    #[test]
    fn xml_lang_and_namespaced_attributes() {
        let root = parse_str(
            r#"<D:displayname xmlns:D="DAV:" xmlns:x="urn:x" xml:lang="de" x:a="1" b="2">Kalender</D:displayname>"#,
        )
        .unwrap();
        assert_eq!(root.attrs, [attr(XML_NS, "lang", "de"), attr("urn:x", "a", "1"), attr("", "b", "2")]);
        assert_eq!(root.attr("b"), Some("2"));
        assert_eq!(root.attr("lang"), None, "attr() only finds unnamespaced attributes");
        assert_eq!(root.text(), "Kalender");
    }

    #[test]
    fn escaped_namespace_uri_is_unescaped() {
        let root = parse_str(r#"<p:a xmlns:p="urn:a&amp;b"/>"#).unwrap();
        assert_eq!(root.ns, "urn:a&b");
    }

    #[test]
    fn unknown_prefix_is_rejected() {
        assert_eq!(parse_str("<D:propfind/>"), Err(XmlError::UnknownPrefix));
        assert_eq!(parse_str(r#"<a xmlns:D="DAV:"><D:b/><C:c/></a>"#), Err(XmlError::UnknownPrefix));
        assert_eq!(parse_str(r#"<a x:attr="1"/>"#), Err(XmlError::UnknownPrefix));
        // A prefix declared on a sibling is out of scope.
        assert_eq!(parse_str(r#"<a><b xmlns:x="urn:x"/><x:c/></a>"#), Err(XmlError::UnknownPrefix));
    }

    #[test]
    fn duplicate_expanded_attribute_names_are_rejected() {
        let err = parse_str(r#"<a xmlns:p="urn:x" xmlns:q="urn:x" p:n="1" q:n="2"/>"#);
        assert!(matches!(err, Err(XmlError::Malformed(_))), "{err:?}");
        let err = parse_str(r#"<a n="1" n="2"/>"#);
        assert!(matches!(err, Err(XmlError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn invalid_names_are_rejected() {
        for body in ["<a:b:c xmlns:a='urn:a'/>", "<1a/>", "<a 1b='x'/>", "<:a/>"] {
            let err = parse_str(body);
            assert!(matches!(err, Err(XmlError::Malformed(_))), "{body}: {err:?}");
        }
        assert!(parse_str("<é-ü.x_1/>").is_ok());
    }

    // --- reader: text and entities ----------------------------------------

    #[test]
    fn predefined_entities_and_char_refs_merge_into_one_text_node() {
        let root = parse_str("<a>x &lt;&gt;&amp;&apos;&quot; &#65;&#x42;&#x1F600; y</a>").unwrap();
        assert_eq!(root.children, [text("x <>&'\" AB\u{1F600} y")]);
    }

    #[test]
    fn entities_in_attribute_values() {
        let root = parse_str(r#"<a v="&lt;&amp;&quot;&#65;&#x9;x"/>"#).unwrap();
        assert_eq!(root.attr("v"), Some("<&\"A\tx"));
    }

    #[test]
    fn undefined_entities_are_rejected() {
        assert_eq!(parse_str("<a>&foo;</a>"), Err(XmlError::UnknownEntity("foo".into())));
        assert_eq!(parse_str(r#"<a v="&nbsp;"/>"#), Err(XmlError::UnknownEntity("nbsp".into())));
    }

    #[test]
    fn illegal_characters_are_rejected() {
        for body in ["<a>&#1;</a>", "<a>&#0;</a>", "<a v='&#x1;'/>", "<a>\u{1}</a>", "<a>&#xZZ;</a>"] {
            let err = parse_str(body);
            assert!(matches!(err, Err(XmlError::Malformed(_))), "{body:?}: {err:?}");
        }
    }

    #[test]
    fn cdata_becomes_text_and_merges() {
        let root = parse_str("<a>1<![CDATA[<b>&amp;</b>]]>2</a>").unwrap();
        assert_eq!(root.children, [text("1<b>&amp;</b>2")]);
    }

    #[test]
    fn comments_and_processing_instructions_are_skipped() {
        let root =
            parse_str("<?xml version='1.0'?><!-- c --><?pi x?><a>x<!-- c -->y<?pi?><b/></a><!-- end -->")
                .unwrap();
        assert_eq!(root.children, [text("xy"), Node::Element(Element::new("", "b"))]);
    }

    #[test]
    fn whitespace_text_is_kept_and_line_ends_normalised() {
        let root = parse_str("<a> <b/>\r\n<c> </c></a>").unwrap();
        assert_eq!(root.children.len(), 4);
        assert_eq!(root.children[2], text("\n"));
        assert_eq!(root.child("", "c").unwrap().text(), " ");
        assert_eq!(root.text(), " \n ");
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let root = parse(b"\xEF\xBB\xBF<a/>").unwrap();
        assert!(root.is("", "a"));
    }

    // --- reader: hostile and malformed input ---------------------------------

    #[test]
    fn doctype_with_external_entity_is_rejected() {
        let body = r#"<?xml version="1.0"?>
<!DOCTYPE D:propfind [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>"#;
        assert_eq!(parse_str(body), Err(XmlError::Doctype));
    }

    #[test]
    fn billion_laughs_is_rejected() {
        let mut body = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
        for i in 1..10 {
            let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
            body += &format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10));
        }
        body += "]><a>&lol9;</a>";
        assert_eq!(parse_str(&body), Err(XmlError::Doctype));
    }

    #[test]
    fn any_doctype_is_rejected() {
        assert_eq!(parse_str("<!DOCTYPE a><a/>"), Err(XmlError::Doctype));
        assert_eq!(parse_str("<a/><!DOCTYPE a>"), Err(XmlError::Doctype));
    }

    #[test]
    fn nesting_depth_limit() {
        assert!(parse_str(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(parse_str(&nested(MAX_DEPTH + 1)), Err(XmlError::TooDeep));
    }

    #[test]
    fn element_count_limit() {
        let body = |n: usize| format!("<a>{}</a>", "<b/>".repeat(n - 1));
        assert_eq!(parse_str(&body(MAX_ELEMENTS)).unwrap().elements().count(), MAX_ELEMENTS - 1);
        assert_eq!(parse_str(&body(MAX_ELEMENTS + 1)), Err(XmlError::TooLarge));
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let err = parse(b"<a>\xFF\xFE</a>");
        assert!(matches!(&err, Err(XmlError::Malformed(m)) if m.contains("UTF-8")), "{err:?}");
    }

    #[test]
    fn mismatched_end_tag_is_malformed() {
        let err = parse_str("<a><b></a></b>");
        assert!(matches!(&err, Err(XmlError::Malformed(m)) if m.contains("byte")), "{err:?}");
    }

    #[test]
    fn structural_errors_are_malformed() {
        let cases = [
            "<a/><b/>",                     // two roots
            "<a></a>text",                  // text after the root
            "text<a/>",                     // text before the root
            "<a/>&amp;",                    // reference after the root
            "<a>",                          // unclosed root
            "<a><b></a>",                   // unclosed child
            "</a>",                         // end tag only
            "not xml at all",               // garbage
            "<a b=c/>",                     // unquoted attribute
            "<a>x & y</a>",                 // bare ampersand
            "<?xml version='1.0'?>",        // declaration but no element
            "<a><?xml version='1.0'?></a>", // declaration inside content
        ];
        for body in cases {
            let err = parse_str(body);
            assert!(matches!(err, Err(XmlError::Malformed(_))), "{body:?}: {err:?}");
        }
    }

    #[test]
    fn empty_bodies() {
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert_eq!(parse(b" \r\n\t "), Err(XmlError::Empty));
    }

    #[test]
    fn errors_have_human_messages() {
        assert_eq!(XmlError::Doctype.to_string(), "DOCTYPE declarations are not allowed");
        assert_eq!(XmlError::UnknownEntity("foo".into()).to_string(), "undefined entity reference &foo;");
        assert_eq!(XmlError::TooDeep.to_string(), "XML elements nested deeper than 64 levels");
    }

    #[test]
    fn hostile_fixtures_are_rejected() {
        let xxe = include_bytes!("../../fixtures/hostile/xxe.xml");
        let laughs = include_bytes!("../../fixtures/hostile/billion-laughs.xml");
        let deep = include_bytes!("../../fixtures/hostile/deep-nesting.xml");
        let prefix = include_bytes!("../../fixtures/hostile/unknown-prefix.xml");
        let mismatched = include_bytes!("../../fixtures/hostile/mismatched.xml");
        assert_eq!(parse(xxe), Err(XmlError::Doctype));
        assert_eq!(parse(laughs), Err(XmlError::Doctype));
        assert_eq!(parse(deep), Err(XmlError::TooDeep));
        assert_eq!(parse(prefix), Err(XmlError::UnknownPrefix));
        assert!(matches!(parse(mismatched), Err(XmlError::Malformed(_))));
    }

    // --- serialiser -------------------------------------------------------------

    #[test]
    fn to_xml_declares_namespaces_on_every_element() {
        let element = el(
            "urn:x",
            "color",
            vec![attr("", "a", "1"), attr("urn:y", "b", "2"), attr(XML_NS, "lang", "en")],
            vec![Node::Element(Element::new("", "plain")), text("a<b")],
        );
        assert_eq!(
            element.to_xml(),
            r#"<color xmlns="urn:x" xmlns:a0="urn:y" a="1" a0:b="2" xml:lang="en"><plain xmlns=""/>a&lt;b</color>"#
        );
    }

    #[test]
    fn to_xml_is_self_contained_in_a_foreign_context() {
        let element =
            el("", "p", vec![attr("urn:attr", "x", "1")], vec![Node::Element(Element::new("DAV:", "c"))]);
        // The surrounding document binds the default namespace and `a0` differently.
        let wrapped = format!(
            r#"<D:prop xmlns:D="DAV:" xmlns="urn:other" xmlns:a0="urn:wrong">{}</D:prop>"#,
            element.to_xml()
        );
        let parsed = parse_str(&wrapped).unwrap();
        assert_eq!(parsed.children, [Node::Element(element)]);
    }

    #[test]
    fn round_trip_unicode_beyond_bmp() {
        let element = el(
            "urn:\u{1F4C5}",
            "名前",
            vec![attr("urn:\u{10FFFF}", "𝒜", "\u{1F600}\u{10000}")],
            vec![text("𝄞 music \u{1F3B5} and \u{FFFD}")],
        );
        assert_round_trip(&element);
    }

    #[test]
    fn round_trip_mixed_content_and_foreign_namespaces() {
        let inner = el(
            "urn:inner",
            "i",
            vec![attr("urn:outer", "ref", "x"), attr("urn:third", "t", "y")],
            vec![text("deep")],
        );
        let middle = el("", "m", vec![], vec![Node::Element(inner), text(" tail ")]);
        let element = el(
            "urn:outer",
            "o",
            vec![attr(XML_NS, "space", "preserve")],
            vec![
                text("  lead\n"),
                Node::Element(middle),
                text("mid"),
                Node::Element(Element::new("urn:outer", "e")),
                text("end  "),
            ],
        );
        assert_round_trip(&element);
    }

    #[test]
    fn round_trip_escaping() {
        let tricky = "a&b<c>d\"e'f ]]> \r\n \r \t &amp; &#13;";
        let element = el(
            "urn:q?a=1&b=\"2\"",
            "x",
            vec![attr("", "v", tricky), attr("urn:<>", "w", tricky)],
            vec![text(tricky)],
        );
        assert_round_trip(&element);
    }

    #[test]
    fn round_trip_xml_namespace_element() {
        assert_round_trip(&Element::new(XML_NS, "lang"));
        assert_eq!(Element::new(XML_NS, "lang").to_xml(), "<xml:lang/>");
    }

    #[test]
    fn round_trip_of_parsed_documents() {
        let body = r#"<D:prop xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/">
  <A:calendar-color xml:lang="en" A:symbolic="blue">#0000FFFF</A:calendar-color>
  <D:displayname>Work &amp; play</D:displayname>
</D:prop>"#;
        let parsed = parse_str(body).unwrap();
        assert_round_trip(&parsed);
        for child in parsed.elements() {
            assert_round_trip(child);
        }
    }

    /// Deterministic xorshift so the property test needs no extra crates.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const NAMESPACES: &[&str] = &["", "DAV:", "urn:ietf:params:xml:ns:caldav", "urn:a&b<c>\"", "urn:😀"];
    const NAMES: &[&str] = &["prop", "x", "calendar-data", "é", "a.b_c-1", "𝒜𝒷"];
    const TEXTS: &[&str] = &[" ", "\n  ", "plain", "a&b", "<tag>", "]]>", "\r\n\r", "\t\"'", "😀𝄞\u{10FFFF}"];

    fn random_element(rng: &mut Rng, depth: usize) -> Element {
        let mut element = Element::new(rng.pick(NAMESPACES), rng.pick(NAMES));
        for _ in 0..rng.below(4) {
            let ns = if rng.below(4) == 0 { XML_NS } else { rng.pick(NAMESPACES) };
            let candidate = attr(ns, rng.pick(NAMES), rng.pick(TEXTS));
            if !element.attrs.iter().any(|a| a.ns == candidate.ns && a.name == candidate.name) {
                element.attrs.push(candidate);
            }
        }
        let mut last_was_text = false;
        for _ in 0..if depth < 4 { rng.below(5) } else { 0 } {
            // Parsed trees never contain adjacent text nodes, so neither do these.
            if !last_was_text && rng.below(2) == 0 {
                element.children.push(text(rng.pick(TEXTS)));
                last_was_text = true;
            } else {
                element.children.push(Node::Element(random_element(rng, depth + 1)));
                last_was_text = false;
            }
        }
        element
    }

    #[test]
    fn round_trip_property() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            assert_round_trip(&random_element(&mut rng, 0));
        }
    }

    // --- writer ------------------------------------------------------------------

    #[test]
    fn escape_functions() {
        assert!(matches!(escape_text("plain"), Cow::Borrowed("plain")));
        assert_eq!(escape_text("a<b>&c\"d\re"), "a&lt;b&gt;&amp;c\"d&#13;e");
        assert_eq!(escape_attr("a<b>&c\"d\re\nf\tg'"), "a&lt;b&gt;&amp;c&quot;d&#13;e&#10;f&#9;g'");
    }

    #[test]
    fn block_wise_text_escaping_equals_the_byte_wise_one() {
        let mut rng = Rng(0x5eed);
        let pieces = ["\r\n", "\r", "&", "<", ">", "é", "日本", "SUMMARY:x", " ", "\n", "\"", "&amp;"];
        // Up to ~300 bytes: escapes and multi-byte characters at every place in and across the
        // 16-byte blocks, and tails of every length.
        for _ in 0..4000 {
            let n = rng.below(60);
            let text: String = (0..n).map(|_| rng.pick(&pieces)).collect();
            // Onto text already written (as in a response), with and without spare capacity.
            let before = rng.pick(&["", "<C:calendar-data>", "é"]);
            let mut expected = before.to_owned();
            push_escaped_bytewise(&mut expected, &text, false);
            let mut got = String::with_capacity(rng.below(64));
            got.push_str(before);
            push_escaped_text(&mut got, &text);
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn writer_builds_escaped_documents() {
        let mut w = XmlWriter::new();
        w.open("D:multistatus", &[("xmlns:D", "DAV:")]);
        w.open("D:response", &[]);
        w.text_element("D:href", "/cal/a&b <1>.ics");
        w.empty("D:x", &[("v", "\"q\" & <r>")]);
        w.raw(&Element::new("urn:p", "color").to_xml());
        w.text("t\r");
        w.close("D:response");
        w.close("D:multistatus");
        let out = w.into_string();
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <D:multistatus xmlns:D=\"DAV:\"><D:response>\
             <D:href>/cal/a&amp;b &lt;1&gt;.ics</D:href>\
             <D:x v=\"&quot;q&quot; &amp; &lt;r&gt;\"/>\
             <color xmlns=\"urn:p\"/>t&#13;</D:response></D:multistatus>"
        );
        let parsed = parse_str(&out).unwrap();
        let response = parsed.child("DAV:", "response").unwrap();
        assert_eq!(response.child("DAV:", "href").unwrap().text(), "/cal/a&b <1>.ics");
        assert_eq!(response.child("DAV:", "x").unwrap().attr("v"), Some("\"q\" & <r>"));
        assert!(response.child("urn:p", "color").is_some());
    }
}

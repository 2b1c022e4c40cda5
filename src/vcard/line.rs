//! One unfolded vCard content line, lexed without interpreting values:
//! `[group "."] name *(";" param) ":" value` (RFC 6350 §3.3, RFC 2426 §4, vCard 2.1 §2.1.3).
//!
//! Used twice: by `parse` to reject what calcard would silently drop, and by `convert` to
//! rewrite calcard's output line by line. Parameter values are kept raw (quotes included) so a
//! line that is not rewritten is printed back exactly as lexed.

/// Maximum octets per physical line before folding (RFC 6350 §3.2, RFC 2426 §2.6).
const FOLD_AT: usize = 75;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub group: Option<String>,
    pub name: String,
    pub params: Vec<Param>,
    /// The value exactly as on the wire (still escaped).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    /// `None` for a vCard 2.1 bare parameter (`TEL;WORK;PREF:`), else the raw values.
    pub values: Option<Vec<String>>,
}

impl Param {
    /// A parameter with values given as plain text; they are quoted as needed.
    pub fn new(name: &str, values: &[&str]) -> Param {
        Param { name: name.to_string(), values: Some(values.iter().map(|v| quote(v)).collect()) }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The values with surrounding quotes removed (RFC 6350 §5 quoted-string).
    pub fn unquoted(&self) -> impl Iterator<Item = &str> {
        self.values.iter().flatten().map(|v| unquote(v))
    }
}

/// Plain text as a raw parameter value: quoted when it holds `,`, `;`, `:` (RFC 6350 §3.3
/// param-value), or a space or `=` (as calcard quotes them). A `"`, a backslash or a control character cannot be written there and is
/// dropped, so a value taken from client data can never break the content line.
fn quote(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !matches!(c, '"' | '\\') && !c.is_ascii_control()).collect();
    if clean.contains([',', ';', ':', ' ', '=']) { format!("\"{clean}\"") } else { clean }
}

/// Removes one pair of surrounding double quotes.
pub(crate) fn unquote(raw: &str) -> &str {
    raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(raw)
}

/// An identifier as allowed for group, property and parameter names: RFC 6350 §3.3
/// `1*(ALPHA / DIGIT / "-")`, plus `_`, which real clients use in X- names.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Line {
    pub fn new(group: Option<String>, name: &str, value: String) -> Line {
        Line { group, name: name.to_string(), params: Vec::new(), value }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Lexes one unfolded content line. The error says what is wrong, for the client.
    pub fn parse(text: &str) -> Result<Line, String> {
        let head_end =
            text.find([';', ':']).ok_or_else(|| "no ':' between property name and value".to_string())?;
        let (group, name) = split_group(&text[..head_end])?;
        let mut line = Line::new(group, name, String::new());
        let mut rest = &text[head_end..];
        while let Some(after) = rest.strip_prefix(';') {
            let (param, tail) = lex_param(after)?;
            line.params.push(param);
            rest = tail;
        }
        match rest.strip_prefix(':') {
            Some(value) => line.value = value.to_string(),
            None => return Err("no ':' between property name and value".to_string()),
        }
        Ok(line)
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.is(name))
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// True if any value of any `name` parameter equals `value`, ignoring ASCII case.
    pub fn param_has(&self, name: &str, value: &str) -> bool {
        self.params
            .iter()
            .filter(|p| p.is(name))
            .flat_map(|p| p.unquoted())
            .any(|v| v.eq_ignore_ascii_case(value))
    }

    pub fn remove_param(&mut self, name: &str) {
        self.params.retain(|p| !p.is(name));
    }

    /// Adds `value` to the first `name` parameter, or appends a new parameter.
    pub fn add_param_value(&mut self, name: &str, value: &str) {
        match self.params.iter_mut().find(|p| p.is(name) && p.values.is_some()) {
            Some(Param { values: Some(values), .. }) => values.push(quote(value)),
            _ => self.params.push(Param::new(name, &[value])),
        }
    }

    /// Keeps the values of `name` parameters for which `keep` is true; drops parameters left
    /// without values.
    pub fn retain_param_values(&mut self, name: &str, keep: impl Fn(&str) -> bool) {
        for param in self.params.iter_mut().filter(|p| p.is(name)) {
            if let Some(values) = &mut param.values {
                values.retain(|v| keep(unquote(v)));
            }
        }
        self.params.retain(|p| !p.is(name) || p.values.as_ref().is_none_or(|v| !v.is_empty()));
    }

    /// Appends the line, folded at 75 octets with CRLF + space (RFC 6350 §3.2), to `out`.
    pub fn write_folded(&self, out: &mut String) {
        fold_into(out, &self.to_unfolded());
    }

    /// The logical line without folding or line break.
    pub fn to_unfolded(&self) -> String {
        let mut s = String::with_capacity(self.name.len() + self.value.len() + 32);
        if let Some(group) = &self.group {
            s.push_str(group);
            s.push('.');
        }
        s.push_str(&self.name);
        for param in &self.params {
            s.push(';');
            s.push_str(&param.name);
            if let Some(values) = &param.values {
                s.push('=');
                s.push_str(&values.join(","));
            }
        }
        s.push(':');
        s.push_str(&self.value);
        s
    }
}

/// Splits `group.name`; more than one dot or an invalid identifier is an error.
fn split_group(head: &str) -> Result<(Option<String>, &str), String> {
    let (group, name) = match head.split_once('.') {
        Some((group, name)) => (Some(group), name),
        None => (None, head),
    };
    if !is_name(name) {
        return Err(format!("'{}' is not a property name", clip(head)));
    }
    match group {
        Some(g) if !is_name(g) => Err(format!("'{}' is not a group name", clip(g))),
        _ => Ok((group.map(str::to_string), name)),
    }
}

/// Lexes `name[=value*("," value)]` after a `;`; returns the parameter and the text from the
/// delimiter (`;` or `:`) on.
fn lex_param(text: &str) -> Result<(Param, &str), String> {
    let name_end =
        text.find(['=', ';', ':']).ok_or_else(|| "parameter list not closed by ':'".to_string())?;
    let name = &text[..name_end];
    if !is_name(name) {
        return Err(format!("'{}' is not a parameter name", clip(name)));
    }
    let Some(mut rest) = text[name_end..].strip_prefix('=') else {
        return Ok((Param { name: name.to_string(), values: None }, &text[name_end..]));
    };
    let mut values = Vec::new();
    loop {
        let (value, tail) = lex_param_value(rest)?;
        values.push(value.to_string());
        match tail.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok((Param { name: name.to_string(), values: Some(values) }, tail)),
        }
    }
}

/// One parameter value: a quoted string or text up to `,`, `;` or `:` (RFC 6350 §3.3
/// param-value); in both a backslash escapes the next character, as calcard reads it.
fn lex_param_value(text: &str) -> Result<(&str, &str), String> {
    if let Some(inner) = text.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Ok((&text[..i + 2], &text[i + 2..])),
                _ => {}
            }
        }
        return Err("unterminated quoted parameter value".to_string());
    }
    // calcard reads a backslash as escaping the next character everywhere, so `\:` does not
    // end the parameters for it; the boundaries found here must be the ones calcard finds.
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' | ';' | ':' => return Ok((&text[..i], &text[i..])),
            '"' => return Err(format!("stray '\"' in parameter value '{}'", clip(&text[..i]))),
            _ => {}
        }
    }
    Err("parameter list not closed by ':'".to_string())
}

/// Folds one logical line into physical lines of at most 75 octets, never inside a UTF-8
/// sequence, each ending in CRLF. Linear in the line length.
///
/// A raw line break or other control character must never reach the output, where it would
/// end the content line early; a LF is written as the `\n` escape (RFC 6350 §3.4) and other
/// controls but HTAB are dropped. Values from `parse` never hold them; this is the last guard.
pub(crate) fn fold_into(out: &mut String, logical: &str) {
    out.reserve(logical.len() + logical.len() / FOLD_AT * 3 + 2);
    let mut used = 0;
    for c in logical.chars() {
        if c == '\n' {
            fold_into_str(out, &mut used, "\\n");
            continue;
        }
        if c.is_ascii_control() && c != '\t' {
            continue;
        }
        if used + c.len_utf8() > FOLD_AT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// Appends an escape sequence without folding inside it.
fn fold_into_str(out: &mut String, used: &mut usize, text: &str) {
    if *used + text.len() > FOLD_AT {
        out.push_str("\r\n ");
        *used = 1;
    }
    out.push_str(text);
    *used += text.len();
}

/// Shortens text quoted in error messages.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_group_params_and_value() {
        let line = Line::parse("item1.EMAIL;type=INTERNET,\"a;b\";PREF:x@y:z").unwrap();
        assert_eq!(line.group.as_deref(), Some("item1"));
        assert_eq!(line.name, "EMAIL");
        assert_eq!(line.params[0].values.as_ref().unwrap(), &["INTERNET", "\"a;b\""]);
        assert_eq!(line.params[1], Param { name: "PREF".into(), values: None });
        assert_eq!(line.value, "x@y:z");
        assert_eq!(line.to_unfolded(), "item1.EMAIL;type=INTERNET,\"a;b\";PREF:x@y:z");
    }

    #[test]
    fn rejects_junk() {
        assert!(Line::parse("this is not a property").is_err());
        assert!(Line::parse("FOO BAR:baz").is_err());
        assert!(Line::parse(":value").is_err());
        assert!(Line::parse("a.b.C:x").is_err());
        assert!(Line::parse("X;P=\"open:x").is_err());
    }

    #[test]
    fn folds_at_75_octets_on_char_boundaries() {
        let mut out = String::new();
        fold_into(&mut out, &format!("NOTE:{}", "é".repeat(100)));
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= FOLD_AT, "{physical}");
        }
        assert_eq!(out.replace("\r\n ", ""), format!("NOTE:{}\r\n", "é".repeat(100)));
    }
}

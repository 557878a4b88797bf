//! XML in and out, written from the wire reference: a small element tree for request bodies
//! (CreateJob, PutJobTagging) and an escaping writer for responses.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

/// The namespace S3 Control puts on its documents.
pub const NAMESPACE: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

/// Deeper request documents are refused: the model's shapes nest far less.
const MAX_DEPTH: usize = 32;

/// One element: local name, text content and child elements (attributes are not used by the
/// API).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct XmlNode {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlNode> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of a direct child, if present.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Writes this element and its subtree (escaped).
    pub fn write_to(&self, w: &mut XmlWriter) {
        if self.children.is_empty() {
            w.leaf(&self.name, &self.text);
        } else {
            w.open(&self.name);
            for c in &self.children {
                c.write_to(w);
            }
            w.close(&self.name);
        }
    }
}

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum XmlParseError {
    #[error("the XML you provided was not well-formed: {0}")]
    Malformed(String),
    #[error("the XML document nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("the request body is empty; an XML document was expected")]
    Empty,
}

/// Parses a whole document into its root element; mixed content is joined.
pub fn parse(body: &[u8]) -> Result<XmlNode, XmlParseError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut tree = TreeBuilder::default();
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(start) => tree.open(local_name(&start))?,
            Event::Empty(start) => tree.leaf(local_name(&start))?,
            Event::End(_) => tree.close()?,
            Event::Text(text) => tree.text(&text.decode().map_err(|e| malformed(&e))?)?,
            Event::CData(cdata) => tree.text(&cdata.decode().map_err(|e| malformed(&e))?)?,
            Event::GeneralRef(r) => tree.text(resolve_reference(&r)?.encode_utf8(&mut [0; 4]))?,
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::DocType(_) => {
                return Err(XmlParseError::Malformed("DOCTYPE is not allowed".into()));
            }
        }
    }
    tree.finish()
}

fn malformed(e: &dyn std::fmt::Display) -> XmlParseError {
    XmlParseError::Malformed(e.to_string())
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// A character reference (`&#65;`) or one of the five predefined entities; any other entity
/// is refused.
fn resolve_reference(r: &BytesRef<'_>) -> Result<char, XmlParseError> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(&e))? {
        return Ok(c);
    }
    match r.decode().map_err(|e| malformed(&e))?.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(XmlParseError::Malformed(format!(
            "unknown entity `&{other};`"
        ))),
    }
}

/// The element tree under construction: the open elements, innermost last, and the root once
/// its end tag has been read. It decides the document's shape: one root, at most `MAX_DEPTH`
/// deep, no text outside the root.
#[derive(Default)]
struct TreeBuilder {
    stack: Vec<XmlNode>,
    root: Option<XmlNode>,
}

impl TreeBuilder {
    /// A start tag.
    fn open(&mut self, name: String) -> Result<(), XmlParseError> {
        if self.root.is_some() {
            return Err(XmlParseError::Malformed(
                "content after the root element".into(),
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(XmlParseError::TooDeep);
        }
        self.stack.push(XmlNode {
            name,
            ..XmlNode::default()
        });
        Ok(())
    }

    /// An empty-element tag (`<Value/>`).
    fn leaf(&mut self, name: String) -> Result<(), XmlParseError> {
        let node = XmlNode {
            name,
            ..XmlNode::default()
        };
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None if self.root.is_none() => self.root = Some(node),
            None => {
                return Err(XmlParseError::Malformed(
                    "more than one root element".into(),
                ))
            }
        }
        Ok(())
    }

    /// An end tag (its name was checked against the start tag by the reader).
    fn close(&mut self) -> Result<(), XmlParseError> {
        let Some(mut node) = self.stack.pop() else {
            return Err(XmlParseError::Malformed("unexpected end tag".into()));
        };
        // Whitespace between child elements is layout; a leaf keeps its text as sent
        // (tag values may start or end with spaces).
        if !node.children.is_empty() && node.text.trim().is_empty() {
            node.text.clear();
        }
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => self.root = Some(node),
        }
        Ok(())
    }

    fn text(&mut self, s: &str) -> Result<(), XmlParseError> {
        match self.stack.last_mut() {
            Some(node) => {
                node.text.push_str(s);
                Ok(())
            }
            None if s.trim().is_empty() => Ok(()),
            None if self.root.is_some() => Err(XmlParseError::Malformed(
                "text after the root element".into(),
            )),
            None => Err(XmlParseError::Malformed(
                "text before the root element".into(),
            )),
        }
    }

    /// The root, once the document has ended with every element closed.
    fn finish(self) -> Result<XmlNode, XmlParseError> {
        if !self.stack.is_empty() {
            return Err(XmlParseError::Malformed(
                "unexpected end of document".into(),
            ));
        }
        self.root.ok_or(XmlParseError::Empty)
    }
}

/// A response document under construction. Text is always escaped; characters XML 1.0 cannot
/// carry are replaced by U+FFFD.
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts a document with the declaration and the root element (with the S3 Control xmlns).
    pub fn document(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<{root} xmlns=\"{NAMESPACE}\">");
        XmlWriter { out }
    }

    /// Starts a document whose root carries the given namespace (STS answers in its own).
    pub fn document_in(root: &str, namespace: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<{root} xmlns=\"{namespace}\">");
        XmlWriter { out }
    }

    /// Starts a document whose root carries no namespace (`ErrorResponse`).
    pub fn bare_document(root: &str) -> Self {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<{root}>");
        XmlWriter { out }
    }

    pub fn with_capacity_hint(mut self, bytes: usize) -> Self {
        self.out.reserve(bytes);
        self
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`, escaped.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    pub fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    pub fn leaf_display(&mut self, name: &str, value: impl std::fmt::Display) {
        self.open(name);
        let _ = write!(self.out, "{value}");
        self.close(name);
    }

    pub fn leaf_time(&mut self, name: &str, t: &DateTime<Utc>) {
        self.open(name);
        push_timestamp(&mut self.out, t);
        self.close(name);
    }

    /// An integer leaf without going through `fmt` (ListJobs pages write thousands).
    pub fn leaf_int(&mut self, name: &str, value: i64) {
        self.open(name);
        push_int(&mut self.out, value);
        self.close(name);
    }

    /// Closes the root and returns the document.
    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

fn push_int(out: &mut String, value: i64) {
    let mut buf = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut n = value;
    for i in (0..width.min(10)).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &b in &buf[..width.min(10)] {
        out.push(char::from(b));
    }
}

/// `2024-01-02T03:04:05.000Z`, as the wire shows timestamps.
pub fn push_timestamp(out: &mut String, t: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        return;
    }
    push_padded(out, year as u32, 4);
    out.push('-');
    push_padded(out, t.month(), 2);
    out.push('-');
    push_padded(out, t.day(), 2);
    out.push('T');
    push_padded(out, t.hour(), 2);
    out.push(':');
    push_padded(out, t.minute(), 2);
    out.push(':');
    push_padded(out, t.second(), 2);
    out.push('.');
    push_padded(out, t.timestamp_subsec_millis().min(999), 3);
    out.push('Z');
}

/// Escapes text content; replaces characters XML 1.0 cannot carry.
pub fn escape_into(out: &mut String, text: &str) {
    let plain = |b: u8| b >= 0x20 && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF);
    if text.bytes().all(plain) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entities_and_cdata() {
        let doc = parse(
            b"<?xml version=\"1.0\"?><R xmlns=\"x\"><A>a &amp; b&#x21;</A><B><![CDATA[<c>]]></B><E/></R>",
        )
        .unwrap();
        assert_eq!(doc.name, "R");
        assert_eq!(doc.child_text("A"), Some("a & b!"));
        assert_eq!(doc.child_text("B"), Some("<c>"));
        assert_eq!(doc.child_text("E"), Some(""));
        let spaced = parse(b"<R>\n  <V> v </V>\n</R>").unwrap();
        assert_eq!(
            (spaced.text.as_str(), spaced.child_text("V")),
            ("", Some(" v "))
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            &b""[..],
            b"<A>",
            b"<A></B>",
            b"<A/><B/>",
            b"text",
            b"<A>&bogus;</A>",
            b"</A>",
            b"<A><B></A></B>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(XmlParseError::TooDeep)
        ));
    }

    #[test]
    fn writes_timestamps_and_integers() {
        use chrono::TimeZone;
        let t =
            Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(7);
        let mut w = XmlWriter::bare_document("R");
        w.leaf_time("T", &t);
        w.leaf_int("A", -120);
        w.leaf_int("B", 0);
        w.leaf_int("C", i64::MAX);
        let s = w.finish("R");
        assert!(
            s.contains(
                "<T>2024-01-02T03:04:05.007Z</T><A>-120</A><B>0</B><C>9223372036854775807</C>"
            ),
            "{s}"
        );
    }

    #[test]
    fn escapes_text() {
        let mut w = XmlWriter::bare_document("R");
        w.leaf("T", "<a & 'b'>\u{1}");
        let s = w.finish("R");
        assert!(
            s.contains("<T>&lt;a &amp; &apos;b&apos;&gt;\u{FFFD}</T>"),
            "{s}"
        );
    }
}

//! YAML read into a tree that remembers where every node came from, so that any error
//! — structural or semantic, found now or after the run — can name its line and column.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(m: Marker) -> Self {
        Position {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub position: Position,
    /// What it holds.
    pub kind: NodeKind,
}

/// The shapes a YAML node takes.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A mapping, keys in source order, each key with its own position.
    Map(Vec<(String, Position, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A scalar and whether it was quoted (quoted scalars are always strings).
    Scalar(String, bool),
}

/// Why a document could not be read as YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub position: Position,
    /// What it expected.
    pub message: String,
}

/// Parses one YAML document. Anchors and aliases are refused: contracts are meant to be
/// read by people, and aliases make "where does this value come from" hard to answer.
///
/// A file read this way holds one document: a second one (after `---`) is refused at its
/// position rather than silently left unread. Empty documents (a stray `---`) are skipped.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut docs = parse_documents(text)?
        .into_iter()
        .filter(|d| !d.to_json().is_null());
    let first = docs.next().unwrap_or(Node {
        position: Position { line: 1, column: 1 },
        kind: NodeKind::Map(Vec::new()),
    });
    if let Some(second) = docs.next() {
        return Err(SyntaxError {
            position: second.position,
            message: "a second YAML document: this file holds one document, and the second \
                      would not be read; put it in a file of its own"
                .into(),
        });
    }
    Ok(first)
}

/// Parses every document of a YAML stream (`---` separated), as OpenSLO files hold them.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        position: (*e.marker()).into(),
        message: e.info().to_string(),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.roots)
}

enum Frame {
    Map(
        Position,
        Vec<(String, Position, Node)>,
        Option<(String, Position)>,
    ),
    Seq(Position, Vec<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    roots: Vec<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        let mut problem = None;
        match self.stack.last_mut() {
            None => self.roots.push(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => {
                    let key = match node.kind {
                        NodeKind::Scalar(text, _) => text,
                        _ => {
                            problem = Some((
                                node.position,
                                "mapping keys must be plain text".to_string(),
                            ));
                            String::new()
                        }
                    };
                    *pending = Some((key, node.position));
                }
                Some((key, key_position)) => {
                    if entries.iter().any(|(k, _, _)| *k == key) {
                        problem = Some((key_position, format!("duplicate key {key:?}")));
                    }
                    entries.push((key, key_position, node));
                }
            },
        }
        if let Some((position, message)) = problem {
            self.fail(position, &message);
        }
    }

    fn fail(&mut self, position: Position, message: &str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                position,
                message: message.to_string(),
            });
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let position = Position::from(mark);
        match event {
            Event::Scalar(text, style, anchor, _) => {
                if anchor != 0 {
                    self.fail(position, "anchors (&name) are not supported in contracts");
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(Node {
                    position,
                    kind: NodeKind::Scalar(text, quoted),
                });
            }
            Event::SequenceStart(anchor, _) => {
                if anchor != 0 {
                    self.fail(position, "anchors (&name) are not supported in contracts");
                }
                self.stack.push(Frame::Seq(position, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    self.fail(position, "anchors (&name) are not supported in contracts");
                }
                self.stack.push(Frame::Map(position, Vec::new(), None));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(start, items)) = self.stack.pop() {
                    self.push_value(Node {
                        position: start,
                        kind: NodeKind::Seq(items),
                    });
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(start, entries, _)) = self.stack.pop() {
                    // A block mapping "starts" where the parser saw its first ':'; its
                    // first key is where a reader looks.
                    let position = entries.first().map_or(start, |(_, key, _)| *key);
                    self.push_value(Node {
                        position,
                        kind: NodeKind::Map(entries),
                    });
                }
            }
            Event::Alias(_) => {
                self.fail(position, "aliases (*name) are not supported in contracts")
            }
            _ => {}
        }
    }
}

impl Node {
    /// The node as JSON, typing plain scalars the YAML 1.2 core way (null, booleans,
    /// integers, floats); quoted scalars stay strings.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Map(entries) => {
                let mut map = Map::new();
                for (k, _, v) in entries {
                    map.insert(k.clone(), v.to_json());
                }
                Value::Object(map)
            }
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Scalar(text, true) => Value::String(text.clone()),
            NodeKind::Scalar(text, false) => plain_scalar(text),
        }
    }

    /// The position of the node at a serde path such as `phases[2].rate` (as
    /// `serde_path_to_error` writes it), or of its nearest existing ancestor.
    pub fn locate(&self, path: &str) -> Position {
        let mut node = self;
        for segment in split_path(path) {
            let next = match (&node.kind, segment) {
                (NodeKind::Map(entries), Segment::Key(key)) => {
                    match entries.iter().find(|(k, _, _)| k == key) {
                        Some((_, _, v)) => Some(v),
                        None => return node.position,
                    }
                }
                (NodeKind::Seq(items), Segment::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return node.position,
            }
        }
        node.position
    }

    /// The position of the *key* `key` inside the map at `path` (for "unknown field").
    pub fn locate_key(&self, path: &str, key: &str) -> Option<Position> {
        let mut node = self;
        for segment in split_path(path) {
            node = match (&node.kind, segment) {
                (NodeKind::Map(entries), Segment::Key(k)) => {
                    &entries.iter().find(|(name, _, _)| name == k)?.2
                }
                (NodeKind::Seq(items), Segment::Index(i)) => items.get(i)?,
                _ => return None,
            };
        }
        match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, p, _)| *p),
            _ => None,
        }
    }
}

/// Deserializes `value` (the node at `path` of `root`, turned to JSON) into `T`, or says
/// where and why it does not fit: file, line and column of the offending key or value,
/// its field path, and serde's complaint in a reader's words. Every file format ballast
/// reads from YAML (contracts, heal policies) reports its structure errors through this.
pub fn deserialize_at<T: serde::de::DeserializeOwned>(
    root: &Node,
    file: &str,
    path: &str,
    value: Value,
) -> Result<T, crate::Diagnostic> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let full = join_path(path, if inner == "." { "" } else { &inner });
        let message = e.inner().to_string();
        let position = unknown_field(&message)
            .and_then(|field| {
                let parent = full
                    .strip_suffix(field)
                    .map(|p| p.trim_end_matches('.'))
                    .unwrap_or(&full);
                root.locate_key(parent, field)
            })
            .unwrap_or_else(|| root.locate(&full));
        crate::Diagnostic {
            file: file.to_string(),
            line: position.line,
            column: position.column,
            path: full,
            message: friendly(&message),
        }
    })
}

/// `base` and a path inside it, joined the way field paths are written (`a.b`, `a[2]`).
pub fn join_path(base: &str, inner: &str) -> String {
    match (base.is_empty(), inner.is_empty()) {
        (_, true) => base.to_string(),
        (true, false) => inner.to_string(),
        (false, false) if inner.starts_with('[') => format!("{base}{inner}"),
        (false, false) => format!("{base}.{inner}"),
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// serde's messages, in the words of a configuration file.
fn friendly(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {expected}, found {found}");
        }
    }
    message
        .replace("unknown field `", "unknown key `")
        .replace("missing field `", "missing key `")
        .replace(", expected one of", "; expected one of")
}

fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty() && *p != "?") {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn positions_and_types() {
        let text =
            "name: shop\nphases:\n  - name: a\n    rate: 500\n  - name: b\n    rate: \"5/s\"\n";
        let root = parse(text).unwrap();
        assert_eq!(
            root.locate("phases[1].rate"),
            Position {
                line: 6,
                column: 11
            }
        );
        assert_eq!(
            root.locate("phases[0].missing"),
            Position { line: 3, column: 5 }
        );
        assert_eq!(
            root.locate_key("phases[1]", "rate"),
            Some(Position { line: 6, column: 5 })
        );
        let json = root.to_json();
        assert_eq!(json["phases"][0]["rate"], 500);
        assert_eq!(json["phases"][1]["rate"], "5/s");
    }

    #[test]
    fn reads_every_document() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.position.line, 3, "{}", e.message);
        assert!(e.message.contains("second YAML document"), "{}", e.message);
        assert!(
            parse("a: 1\n---\n").is_ok(),
            "an empty trailing document is nothing to read"
        );
        let docs = parse_documents("a: 1\n---\nb: 2\n---\n- 3\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].to_json()["b"], 2);
        assert_eq!(docs[1].position.line, 3);
    }

    #[test]
    fn rejects_duplicates_aliases_and_bad_syntax() {
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(
            (dup.position.line, dup.message.as_str()),
            (2, "duplicate key \"a\"")
        );
        assert!(parse("a: &x 1\nb: *x\n").is_err());
        let bad = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(bad.position.line >= 1, "{bad:?}");
    }

    proptest! {
        #[test]
        fn never_panics(text in "[a-z:\\-\\[\\]{}\"' \n#&*!|>0-9.,]{0,80}") {
            if let Ok(node) = parse(&text) {
                let _ = node.to_json();
                let _ = node.locate("a[0].b");
            }
        }
    }
}

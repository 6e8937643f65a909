//! Finds where a field (`tasks.kinds[1].demand`) is written in a TOML or
//! JSON file, for errors found after parsing (a refused task, an invalid
//! runtime setting). Parse errors carry their own position.

use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A field path such as `tasks.kinds[1].demand`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(pub(crate) Vec<Segment>);

impl FieldPath {
    /// Parses `a.b[2].c` (serde_path_to_error's notation; `.` is the root).
    pub(crate) fn parse(s: &str) -> FieldPath {
        let mut out = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                out.push(Segment::Key(name.to_owned()));
            }
            while let Some(end) = rest.find(']') {
                if let Ok(i) = rest[1..end].parse() {
                    out.push(Segment::Index(i));
                }
                rest = &rest[end + 1..];
            }
        }
        FieldPath(out)
    }

    /// This path followed by `key`.
    pub(crate) fn key(mut self, key: &str) -> FieldPath {
        self.0.push(Segment::Key(key.to_owned()));
        self
    }

    /// This path followed by `[index]`.
    pub(crate) fn index(mut self, index: usize) -> FieldPath {
        self.0.push(Segment::Index(index));
        self
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The byte offset where `path` (or the longest prefix of it that the file
/// contains) is written, or `None` when not even its first step is there.
/// The offset is that of the value for the whole path, of the key otherwise.
pub(crate) fn locate(text: &str, is_json: bool, path: &FieldPath) -> Option<usize> {
    if is_json {
        json::locate(text, &path.0)
    } else {
        locate_toml(text, &path.0)
    }
}

fn locate_toml(text: &str, path: &[Segment]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    let mut found = None;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let value = match (seg, array) {
            (Segment::Key(k), None) => {
                let Some((key, value)) = table.iter().find(|(key, _)| key.get_ref() == k) else {
                    return found;
                };
                found = Some(if last {
                    value.span().start
                } else {
                    key.span().start
                });
                value
            }
            (Segment::Index(n), Some(items)) => {
                let Some(value) = items.get(*n) else {
                    return found;
                };
                found = Some(value.span().start);
                value
            }
            _ => return found,
        };
        match value.get_ref() {
            DeValue::Table(t) => {
                table = t;
                array = None;
            }
            DeValue::Array(a) => array = Some(a),
            _ if last => {}
            _ => return found,
        }
    }
    found
}

mod json {
    use super::Segment;

    /// The deepest position along `path` in a JSON document.
    pub(super) fn locate(text: &str, path: &[Segment]) -> Option<usize> {
        let mut s = Scanner {
            b: text.as_bytes(),
            i: 0,
        };
        let mut found = None;
        for seg in path {
            s.ws();
            match seg {
                Segment::Key(k) => {
                    if !s.eat(b'{') {
                        return found;
                    }
                    loop {
                        s.ws();
                        if s.peek() != Some(b'"') {
                            return found;
                        }
                        let key_at = s.i;
                        let key = s.string()?;
                        s.ws();
                        if !s.eat(b':') {
                            return found;
                        }
                        s.ws();
                        if key == k.as_str() {
                            found = Some(key_at);
                            break;
                        }
                        s.value()?;
                        s.ws();
                        if !s.eat(b',') {
                            return found;
                        }
                    }
                }
                Segment::Index(n) => {
                    if !s.eat(b'[') {
                        return found;
                    }
                    for _ in 0..*n {
                        s.ws();
                        s.value()?;
                        s.ws();
                        if !s.eat(b',') {
                            return found;
                        }
                    }
                    s.ws();
                    found = Some(s.i);
                }
            }
        }
        // The whole path is there: point at its value.
        s.ws();
        Some(s.i).filter(|_| found.is_some()).or(found)
    }

    struct Scanner<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Scanner<'a> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        /// A string's raw contents (escapes left as written).
        fn string(&mut self) -> Option<&'a str> {
            if !self.eat(b'"') {
                return None;
            }
            let start = self.i;
            loop {
                match self.peek()? {
                    b'"' => break,
                    b'\\' => self.i += 2,
                    _ => self.i += 1,
                }
            }
            let raw = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
            self.i += 1;
            Some(raw)
        }

        /// Skips one value of any kind.
        fn value(&mut self) -> Option<()> {
            match self.peek()? {
                b'"' => self.string().map(drop),
                open @ (b'{' | b'[') => {
                    let close = if open == b'{' { b'}' } else { b']' };
                    self.i += 1;
                    loop {
                        self.ws();
                        if self.eat(close) {
                            return Some(());
                        }
                        if open == b'{' {
                            self.string()?;
                            self.ws();
                            if !self.eat(b':') {
                                return None;
                            }
                            self.ws();
                        }
                        self.value()?;
                        self.ws();
                        self.eat(b',');
                    }
                }
                _ => {
                    let start = self.i;
                    while !matches!(
                        self.peek(),
                        None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                    ) {
                        self.i += 1;
                    }
                    (self.i > start).then_some(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &str, json: bool) -> Option<String> {
        let off = locate(text, json, &FieldPath::parse(path))?;
        Some(text[off..].chars().take(12).collect())
    }

    #[test]
    fn paths_parse_and_print_in_serde_path_to_error_notation() {
        let p = FieldPath::parse("tasks.kinds[1].demand");
        assert_eq!(
            p.0,
            vec![
                Segment::Key("tasks".into()),
                Segment::Key("kinds".into()),
                Segment::Index(1),
                Segment::Key("demand".into()),
            ]
        );
        assert_eq!(p.to_string(), "tasks.kinds[1].demand");
        assert_eq!(FieldPath::parse(".").0, vec![]);
    }

    #[test]
    fn toml_fields_are_found_in_tables_arrays_of_tables_and_inline_tables() {
        let text = "[runtime]\nrng_seed = 3\n\n[[tasks.kinds]]\nkind = \"a\"\n\n[[tasks.kinds]]\nkind = \"b\"\ndemand = { gpu_milli = 9 }\n";
        assert_eq!(
            at(text, "runtime.rng_seed", false).unwrap(),
            "3\n\n[[tasks.k"
        );
        assert_eq!(
            at(text, "tasks.kinds[1].demand.gpu_milli", false).unwrap(),
            "9 }\n"
        );
        // A missing leaf points at the deepest step that exists: here the
        // header of the second kind.
        assert_eq!(
            locate(text, false, &FieldPath::parse("tasks.kinds[1].cost")),
            text.rfind("[[tasks.kinds]]")
        );
        assert_eq!(at(text, "nodes", false), None);
    }

    #[test]
    fn json_fields_are_found_past_nested_values_and_strings_with_escapes() {
        let text = r#"{ "name": "a \"q\" ]}", "skip": {"x": [1, {"y": 2}]},
  "tasks": { "kinds": [ { "kind": "a" }, { "kind": "b", "cost": -1 } ] } }"#;
        assert_eq!(at(text, "tasks.kinds[1].cost", true).unwrap(), "-1 } ] } }");
        assert_eq!(
            at(text, "tasks.kinds[1].demand", true).unwrap(),
            "{ \"kind\": \"b"
        );
        assert_eq!(at(text, "nodes", true), None);
    }
}

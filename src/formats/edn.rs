//! A reader for the subset of EDN that Jepsen histories use: nil, booleans, integers, floats,
//! strings (with `\n \t \r \" \\ \b \f \uXXXX` escapes), keywords (namespaced ones such as
//! `:knossos.model/inconsistent` too), symbols, vectors, lists, sets, maps, `;` comments, `#_`
//! discards and tagged literals (`#jepsen.history.Op{...}`, `#inst "..."`), read as the form
//! they tag. Character literals are an error naming line and column.

use std::fmt;

/// One EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `[...]` or `(...)`.
    Vector(Vec<Edn>),
    /// `#{...}`.
    Set(Vec<Edn>),
    /// `{...}`, in file order.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value under keyword `k` in a map.
    pub fn get(&self, k: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(key, _)| matches!(key, Edn::Keyword(x) if x == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(x) => write!(f, "{x}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Vector(v) | Edn::Set(v) => {
                f.write_str(if matches!(self, Edn::Set(_)) {
                    "#{"
                } else {
                    "["
                })?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str(if matches!(self, Edn::Set(_)) {
                    "}"
                } else {
                    "]"
                })
            }
            Edn::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A syntax error at a 1-based line and column.
#[derive(Clone, Debug, PartialEq)]
pub struct EdnError {
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based (in bytes).
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

/// Reads EDN forms one at a time from text, tracking line and column.
pub struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    depth: usize,
}

/// How deeply collections may nest (a history needs a handful of levels).
const MAX_DEPTH: usize = 128;

fn is_delim(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b'[' | b']' | b'(' | b')' | b'{' | b'}' | b'"' | b';'
        )
}

impl<'a> Reader<'a> {
    /// A reader over `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
            depth: 0,
        }
    }

    /// Skips space and comments, then returns the next byte without consuming it.
    pub fn peek(&mut self) -> Result<Option<u8>, EdnError> {
        self.skip_space()?;
        Ok(self.text.get(self.pos).copied())
    }

    /// Consumes one byte (after a [`Reader::peek`] that returned it).
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// The current line and column.
    pub fn position(&self) -> (usize, usize) {
        (self.line, self.pos - self.line_start + 1)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        let (line, column) = self.position();
        Err(EdnError {
            line,
            column,
            message: message.into(),
        })
    }

    fn skip_space(&mut self) -> Result<(), EdnError> {
        while self.pos < self.text.len() {
            match self.text[self.pos] {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.text.len() && self.text[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'#' if self.text.get(self.pos + 1) == Some(&b'_') => {
                    if self.depth >= MAX_DEPTH {
                        return self.err(format!("discards (#_) nest more than {MAX_DEPTH} deep"));
                    }
                    self.pos += 2;
                    self.depth += 1;
                    let r = self.read();
                    self.depth -= 1;
                    r?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The next top-level form, or `None` at the end of the text. Also returns where it began.
    pub fn next_form(&mut self) -> Result<Option<(Edn, usize, usize)>, EdnError> {
        self.skip_space()?;
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        let (line, col) = self.position();
        Ok(Some((self.read()?, line, col)))
    }

    /// Reads one form (after skipping space).
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        self.skip_space()?;
        let Some(&b) = self.text.get(self.pos) else {
            return self.err("the text ends where a value was expected");
        };
        match b {
            b'[' | b'(' => {
                self.pos += 1;
                Ok(Edn::Vector(self.read_seq(if b == b'[' {
                    b']'
                } else {
                    b')'
                })?))
            }
            b'{' => {
                self.pos += 1;
                let items = self.read_seq(b'}')?;
                if items.len() % 2 != 0 {
                    return self.err("a map needs an even number of forms (key value pairs)");
                }
                let mut it = items.into_iter();
                let mut m = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    m.push((k, v));
                }
                Ok(Edn::Map(m))
            }
            b'#' if self.text.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 2;
                Ok(Edn::Set(self.read_seq(b'}')?))
            }
            b'"' => self.read_string(),
            b']' | b')' | b'}' => self.err(format!("unexpected '{}'", b as char)),
            b'#' => self.read_tagged(),
            b'\\' => self.err("character literals are not supported in histories"),
            _ => self.read_atom(),
        }
    }

    /// `#tag form`: the tag names a type (`#jepsen.history.Op{...}` is an op map, `#inst "..."`
    /// a timestamp string); a history only needs the form, so the tag is dropped.
    fn read_tagged(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.text.len() && !is_delim(self.text[self.pos]) {
            self.pos += 1;
        }
        let tag_ok = self
            .text
            .get(start + 1)
            .is_some_and(|b| b.is_ascii_alphabetic());
        if !tag_ok {
            self.pos = start;
            return self.err("a tagged literal needs a tag name after '#', like #inst");
        }
        if self.depth >= MAX_DEPTH {
            return self.err(format!("tagged literals nest more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let r = self.read();
        self.depth -= 1;
        r
    }

    fn read_seq(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!(
                "collections nest more than {MAX_DEPTH} levels deep"
            ));
        }
        self.depth += 1;
        let out = self.read_items(close);
        self.depth -= 1;
        out
    }

    fn read_items(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        let mut out = Vec::new();
        loop {
            self.skip_space()?;
            match self.text.get(self.pos) {
                None => {
                    return self.err(format!(
                        "missing '{}' before the end of the text",
                        close as char
                    ))
                }
                Some(&b) if b == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => out.push(self.read()?),
            }
        }
    }

    fn read_string(&mut self) -> Result<Edn, EdnError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.pos) else {
                return self.err("unterminated string");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.text.get(self.pos) else {
                        return self.err("unterminated string");
                    };
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'u' => {
                            let c = self.read_unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return self.err(format!("unknown string escape \\{}", e as char)),
                    });
                }
                b'\n' => {
                    out.push(b);
                    self.line += 1;
                    self.line_start = self.pos;
                }
                _ => out.push(b),
            }
        }
        match String::from_utf8(out) {
            Ok(s) => Ok(Edn::Str(s)),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    /// The four hex digits after `\u` (a surrogate pair is two escapes).
    fn read_unicode_escape(&mut self) -> Result<char, EdnError> {
        let hex4 = |r: &mut Self| -> Result<u32, EdnError> {
            let digits = r.text.get(r.pos..r.pos + 4).unwrap_or(&[]);
            let code = std::str::from_utf8(digits)
                .ok()
                .filter(|d| d.len() == 4)
                .and_then(|d| u32::from_str_radix(d, 16).ok());
            match code {
                Some(c) => {
                    r.pos += 4;
                    Ok(c)
                }
                None => r.err("\\u needs four hex digits"),
            }
        };
        let hi = hex4(self)?;
        if (0xD800..0xDC00).contains(&hi) && self.text.get(self.pos..self.pos + 2) == Some(b"\\u") {
            self.pos += 2;
            let lo = hex4(self)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return char::from_u32(c).map_or_else(|| self.err("bad surrogate pair"), Ok);
            }
        }
        char::from_u32(hi).map_or_else(|| self.err("\\u escape is not a character"), Ok)
    }

    fn read_atom(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        while self.pos < self.text.len() && !is_delim(self.text[self.pos]) {
            self.pos += 1;
        }
        let tok = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
        let bad = |r: &Self, m: String| -> Result<Edn, EdnError> {
            let col = start - r.line_start + 1;
            Err(EdnError {
                line: r.line,
                column: col,
                message: m,
            })
        };
        match tok {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            "" => return bad(self, "unexpected character".into()),
            _ => {}
        }
        if let Some(k) = tok.strip_prefix(':') {
            if k.is_empty() {
                return bad(self, "a keyword needs a name after ':'".into());
            }
            return Ok(Edn::Keyword(k.to_string()));
        }
        let first = tok.as_bytes()[0];
        let numeric = first.is_ascii_digit()
            || ((first == b'-' || first == b'+')
                && tok.len() > 1
                && tok.as_bytes()[1].is_ascii_digit());
        if numeric {
            let t = tok.strip_suffix('N').unwrap_or(tok);
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Edn::Int(i));
            }
            let t = tok.strip_suffix('M').unwrap_or(tok);
            if let Ok(x) = t.parse::<f64>() {
                return Ok(Edn::Float(x));
            }
            return bad(self, format!("not a number: {tok}"));
        }
        Ok(Edn::Symbol(tok.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_maps_vectors_and_scalars() {
        let mut r = Reader::new("{:a 1, :b [nil \"x\\\"y\" -3 2.5 #{:k}]} ; c\n(sym true)");
        let (m, line, col) = r.next_form().unwrap().unwrap();
        assert_eq!((line, col), (1, 1));
        assert_eq!(m.get("a"), Some(&Edn::Int(1)));
        assert_eq!(
            m.get("b"),
            Some(&Edn::Vector(vec![
                Edn::Nil,
                Edn::Str("x\"y".into()),
                Edn::Int(-3),
                Edn::Float(2.5),
                Edn::Set(vec![Edn::Keyword("k".into())])
            ]))
        );
        let (l, line, _) = r.next_form().unwrap().unwrap();
        assert_eq!(line, 2);
        assert_eq!(
            l,
            Edn::Vector(vec![Edn::Symbol("sym".into()), Edn::Bool(true)])
        );
        assert!(r.next_form().unwrap().is_none());
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Reader::new("[1 2\n  {:a}]").next_form().unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("even number"), "{e:?}");
        let e = Reader::new("\n\n   \\a").next_form().unwrap_err();
        assert_eq!((e.line, e.column), (3, 4));
        let e = Reader::new("[#{1} # x]").next_form().unwrap_err();
        assert_eq!((e.line, e.column), (1, 7));
        let e = Reader::new("[1 2").next_form().unwrap_err();
        assert!(e.message.contains("missing ']'"), "{e:?}");
        let deep = "[".repeat(100_000);
        let e = Reader::new(&deep).next_form().unwrap_err();
        assert!(e.message.contains("nest"), "{e:?}");
        let discards = "#_".repeat(100_000) + "1";
        let e = Reader::new(&discards).next_form().unwrap_err();
        assert!(e.message.contains("nest"), "{e:?}");
    }

    fn one(text: &str) -> Edn {
        Reader::new(text).next_form().unwrap().unwrap().0
    }

    #[test]
    fn reads_namespaced_keywords() {
        assert_eq!(
            one(":knossos.model/inconsistent"),
            Edn::Keyword("knossos.model/inconsistent".into())
        );
        let m = one("{:jepsen.history/op 1}");
        assert_eq!(
            m,
            Edn::Map(vec![(
                Edn::Keyword("jepsen.history/op".into()),
                Edn::Int(1)
            )])
        );
    }

    #[test]
    fn reads_tagged_literals_as_the_form_they_tag() {
        let op = one("#jepsen.history.Op{:index 0, :type :invoke, :process 3, :f :read}");
        assert_eq!(op.get("process"), Some(&Edn::Int(3)));
        assert_eq!(op.get("type"), Some(&Edn::Keyword("invoke".into())));
        assert_eq!(
            one("[#inst \"2024-01-01T00:00:00Z\" #uuid \"f81d\"]"),
            Edn::Vector(vec![
                Edn::Str("2024-01-01T00:00:00Z".into()),
                Edn::Str("f81d".into())
            ])
        );
    }

    #[test]
    fn reads_sets_lists_and_comments() {
        let mut r = Reader::new("; a Jepsen history\n(#{1 2} ; trailing\n :a)\n;; end\n");
        let (v, line, col) = r.next_form().unwrap().unwrap();
        assert_eq!((line, col), (2, 1));
        assert_eq!(
            v,
            Edn::Vector(vec![
                Edn::Set(vec![Edn::Int(1), Edn::Int(2)]),
                Edn::Keyword("a".into())
            ])
        );
        assert!(r.next_form().unwrap().is_none());
        assert_eq!(one("#{}"), Edn::Set(vec![]));
    }

    #[test]
    fn reads_string_escapes() {
        assert_eq!(
            one(r#""a\tb\nc\\d\"e\u00e9\uD83D\uDE00""#),
            Edn::Str("a\tb\nc\\d\"e\u{e9}\u{1F600}".into())
        );
        let e = Reader::new(r#""\u00g1""#).next_form().unwrap_err();
        assert!(e.message.contains("four hex digits"), "{e:?}");
        let e = Reader::new(r#""\q""#).next_form().unwrap_err();
        assert!(e.message.contains("escape"), "{e:?}");
    }
}

//! Errors in the TOML files users write (`targets/*.toml`, `workloads/*.toml`), pointed at
//! `file:line: what was expected`.
//!
//! The `toml` crate reports where a value it could not read starts (a byte span); [`parse`]
//! turns that into a line number, and [`FileError::at`] does the same for a value that parsed
//! but fails a later check (kept as a [`toml::Spanned`]).

use serde::de::DeserializeOwned;
use std::ops::Range;

/// A TOML file's text and the name it is shown by in errors (its path, or `built-in NAME`).
#[derive(Clone, Debug)]
pub struct Source {
    /// The path or `built-in NAME`.
    pub origin: String,
    /// The whole text.
    pub text: String,
}

/// What was wrong with a file, and where.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct FileError {
    /// The file's path (or `built-in NAME`).
    pub origin: String,
    /// 1-based line of the offending value (1 when unknown).
    pub line: usize,
    /// What was expected.
    pub message: String,
}

impl Source {
    /// An error at byte `span` of the text.
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> FileError {
        FileError {
            origin: self.origin.clone(),
            line: line_of(&self.text, span.start),
            message: message.into(),
        }
    }

    /// An error about the file as a whole (line 1: a key that is missing).
    pub fn whole(&self, message: impl Into<String>) -> FileError {
        self.at(0..0, message)
    }

    /// Parses the text into `T`; a value of the wrong type, an unknown key or a missing one is
    /// reported at its line with the `toml` crate's words for what was expected.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        toml::from_str(&self.text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(&self.text, s.start));
            FileError {
                origin: self.origin.clone(),
                line,
                message: e.message().trim().to_string(),
            }
        })
    }
}

/// The 1-based line that byte `offset` of `text` is on.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// True when `name` is a path to a file rather than a registry name (`x.toml`, `dir/x`).
pub fn looks_like_path(name: &str) -> bool {
    name.ends_with(".toml") || name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        b: String,
    }

    #[test]
    fn errors_name_the_line() {
        let src = Source {
            origin: "t.toml".into(),
            text: "a = 1\nb = 2\n".into(),
        };
        let e = src.parse::<T>().unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2: "), "{e}");
        assert!(e.contains("string"), "{e}");
        let src = Source {
            origin: "t.toml".into(),
            text: "a = 1\nb = \"x\"\nc = 3\n".into(),
        };
        let e = src.parse::<T>().unwrap_err().to_string();
        assert!(
            e.starts_with("t.toml:3: ") && e.contains("unknown field"),
            "{e}"
        );
        let src = Source {
            origin: "t.toml".into(),
            text: "a = 1\n".into(),
        };
        let e = src.parse::<T>().unwrap_err().to_string();
        assert!(e.contains("missing field `b`"), "{e}");
        assert_eq!(line_of("x\ny\nz", 4), 3);
        assert!(looks_like_path("a.toml") && looks_like_path("./a") && !looks_like_path("lin-kv"));
    }
}

//! The Maelstrom wire format: one JSON object per line, `{"src","dest","body"}`, where `body`
//! has a `type`, an optional `msg_id` and, on replies, `in_reply_to`. Also Maelstrom's error
//! codes, and which of them are definite (the op certainly did not happen: `fail`) or
//! indefinite (it may have: `info`).

use serde_json::{Map, Value as Json};

/// One message on the simulated network.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The sender: a node (`n0`), a client (`c3`) or a service (`lin-kv`).
    pub src: String,
    /// The receiver.
    pub dest: String,
    /// The payload; always an object with a string `type`.
    pub body: Map<String, Json>,
}

impl Message {
    /// The body's `type`.
    pub fn kind(&self) -> &str {
        self.body.get("type").and_then(Json::as_str).unwrap_or("")
    }

    /// The body's `msg_id`, if it is a non-negative integer.
    pub fn msg_id(&self) -> Option<u64> {
        self.body.get("msg_id").and_then(Json::as_u64)
    }

    /// The body's `in_reply_to`, if it is a non-negative integer.
    pub fn in_reply_to(&self) -> Option<u64> {
        self.body.get("in_reply_to").and_then(Json::as_u64)
    }

    /// The message as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::json!({"src": self.src, "dest": self.dest, "body": self.body}).to_string()
    }
}

/// Why a line a node wrote is not a usable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Not JSON at all (fatal: Maelstrom ends the test too).
    NotJson(String),
    /// JSON, but not a message: a field is missing or has the wrong type.
    NotMessage(String),
}

/// Parses one line a node wrote.
pub fn parse_line(line: &str) -> Result<Message, LineError> {
    let json: Json = serde_json::from_str(line).map_err(|e| LineError::NotJson(format!("{e}")))?;
    let Json::Object(mut obj) = json else {
        return Err(LineError::NotMessage(
            "a message must be a JSON object with src, dest and body".into(),
        ));
    };
    let mut text = |name: &str| -> Result<String, LineError> {
        match obj.remove(name) {
            Some(Json::String(s)) => Ok(s),
            Some(other) => Err(LineError::NotMessage(format!(
                "the field `{name}` must be a string, got {other}"
            ))),
            None => Err(LineError::NotMessage(format!(
                "the message has no `{name}` field"
            ))),
        }
    };
    let src = text("src")?;
    let dest = text("dest")?;
    let body = match obj.remove("body") {
        Some(Json::Object(b)) => b,
        Some(other) => {
            return Err(LineError::NotMessage(format!(
                "the field `body` must be an object, got {other}"
            )))
        }
        None => {
            return Err(LineError::NotMessage(
                "the message has no `body` field".into(),
            ))
        }
    };
    match body.get("type") {
        Some(Json::String(_)) => {}
        Some(other) => {
            return Err(LineError::NotMessage(format!(
                "the body's `type` must be a string, got {other}"
            )))
        }
        None => return Err(LineError::NotMessage("the body has no `type` field".into())),
    }
    for id in ["msg_id", "in_reply_to"] {
        if let Some(v) = body.get(id) {
            if v.as_u64().is_none() {
                return Err(LineError::NotMessage(format!(
                    "the body's `{id}` must be a non-negative integer, got {v}"
                )));
            }
        }
    }
    Ok(Message { src, dest, body })
}

/// One of Maelstrom's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// The number on the wire.
    pub code: u64,
    /// Maelstrom's name for it.
    pub name: &'static str,
    /// True: the operation certainly did not happen (`fail`); false: it may have (`info`).
    pub definite: bool,
    /// What it means.
    pub doc: &'static str,
}

/// Maelstrom's error codes.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: 0,
        name: "timeout",
        definite: false,
        doc: "the request timed out; it may or may not have taken effect",
    },
    ErrorCode {
        code: 1,
        name: "node-not-found",
        definite: true,
        doc: "the node a request was sent to does not exist",
    },
    ErrorCode {
        code: 10,
        name: "not-supported",
        definite: true,
        doc: "the request type is not supported",
    },
    ErrorCode {
        code: 11,
        name: "temporarily-unavailable",
        definite: true,
        doc: "the operation cannot be performed now (e.g. no leader); try again later",
    },
    ErrorCode {
        code: 12,
        name: "malformed-request",
        definite: true,
        doc: "the request is malformed",
    },
    ErrorCode {
        code: 13,
        name: "crash",
        definite: false,
        doc: "something went wrong; the operation may or may not have happened",
    },
    ErrorCode {
        code: 14,
        name: "abort",
        definite: true,
        doc: "the operation was aborted and did not happen",
    },
    ErrorCode {
        code: 20,
        name: "key-does-not-exist",
        definite: true,
        doc: "the key does not exist",
    },
    ErrorCode {
        code: 21,
        name: "key-already-exists",
        definite: true,
        doc: "the key already exists",
    },
    ErrorCode {
        code: 22,
        name: "precondition-failed",
        definite: true,
        doc: "a precondition (such as a cas's `from`) did not hold",
    },
    ErrorCode {
        code: 30,
        name: "txn-conflict",
        definite: true,
        doc: "the transaction conflicted with another and was aborted",
    },
];

/// The error code numbered `code`, if Maelstrom defines it.
pub fn error_code(code: u64) -> Option<&'static ErrorCode> {
    ERROR_CODES.iter().find(|e| e.code == code)
}

/// True when an error with this code means the op certainly did not happen. Codes Maelstrom
/// does not define (a node's own) are taken as indefinite: the safe reading.
pub fn is_definite(code: u64) -> bool {
    error_code(code).is_some_and(|e| e.definite)
}

/// An error reply body: `{"type":"error","in_reply_to","code","text"}`.
pub fn error_body(in_reply_to: Option<u64>, code: u64, text: &str) -> Map<String, Json> {
    let mut b = Map::new();
    b.insert("type".into(), "error".into());
    if let Some(id) = in_reply_to {
        b.insert("in_reply_to".into(), id.into());
    }
    b.insert("code".into(), code.into());
    b.insert("text".into(), text.into());
    b
}

/// An error reply in words: `precondition-failed (22): expected 3, got 4`.
pub fn describe_error(body: &Map<String, Json>) -> String {
    let code = body.get("code").and_then(Json::as_u64);
    let text = body.get("text").and_then(Json::as_str).unwrap_or("");
    let name = code.and_then(error_code).map(|e| e.name).unwrap_or("error");
    match (code, text.is_empty()) {
        (Some(c), true) => format!("{name} ({c})"),
        (Some(c), false) => format!("{name} ({c}): {text}"),
        (None, _) => format!("error without a numeric `code`: {text}"),
    }
}

/// Cuts a line a node wrote to a length fit for an explanation.
pub fn shorten(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_message_and_names_what_is_missing() {
        let m = parse_line(
            r#"{"src":"n0","dest":"c1","body":{"type":"echo_ok","in_reply_to":3,"echo":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            (m.src.as_str(), m.kind(), m.in_reply_to()),
            ("n0", "echo_ok", Some(3))
        );
        assert!(matches!(parse_line("hello"), Err(LineError::NotJson(_))));
        let e = parse_line(r#"{"src":"n0","body":{"type":"x"}}"#).unwrap_err();
        assert_eq!(
            e,
            LineError::NotMessage("the message has no `dest` field".into())
        );
        let e = parse_line(r#"{"src":"n0","dest":"n1","body":{"msg_id":"7","type":"x"}}"#);
        assert!(matches!(e, Err(LineError::NotMessage(m)) if m.contains("msg_id")));
    }

    #[test]
    fn classifies_errors_as_maelstrom_does() {
        assert!(!is_definite(0) && !is_definite(13) && !is_definite(1000));
        for c in [1, 10, 11, 12, 14, 20, 21, 22, 30] {
            assert!(is_definite(c), "{c}");
        }
        assert_eq!(
            describe_error(&error_body(Some(1), 22, "expected 3")),
            "precondition-failed (22): expected 3"
        );
    }
}

//! The register ops (`read`, `write`, `cas [from to]`) as the register clients see them (the toy
//! stores' RESP client, redis, etcd): parsed once here, each client keeping only its own wire
//! form and its own rule for nil. A cas whose compare did not match ends in
//! [`FailReason::CompareFailed`](super::FailReason::CompareFailed).

use super::Request;
use crate::history::Value;

/// One register op, parsed from a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegisterOp<'a> {
    /// Read the register.
    Read,
    /// Write this value.
    Write(&'a Value),
    /// Set `to` if the register holds `from`.
    Cas {
        /// The value the register must hold.
        from: &'a Value,
        /// The value it then holds.
        to: &'a Value,
    },
}

impl<'a> RegisterOp<'a> {
    /// The op `req` asks for, or why there is none (an unknown `f`, a cas value that is not
    /// `[from, to]`): a request that is never sent.
    pub fn of(req: &'a Request) -> Result<RegisterOp<'a>, String> {
        match req.f.as_str() {
            "read" => Ok(RegisterOp::Read),
            "write" => Ok(RegisterOp::Write(&req.value)),
            "cas" => match req.value.as_list() {
                Some([from, to]) => Ok(RegisterOp::Cas { from, to }),
                _ => Err(format!("cas needs [from, to], got {}", req.value)),
            },
            f => Err(format!(
                "unsupported op {f:?}: a register client does read, write and cas"
            )),
        }
    }
}

/// A stored string back to a value: an integer when it parses as one, nil when missing.
pub fn decode(stored: Option<String>) -> Value {
    match stored {
        None => Value::Nil,
        Some(s) => s.parse().map(Value::Int).unwrap_or(Value::Str(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_parse_once_and_bad_ones_say_why() {
        let ask = |f: &str, value: Value| Request {
            f: f.into(),
            key: None,
            value,
        };
        let cas = ask("cas", Value::List(vec![Value::Nil, Value::Int(2)]));
        assert_eq!(
            RegisterOp::of(&cas),
            Ok(RegisterOp::Cas {
                from: &Value::Nil,
                to: &Value::Int(2)
            })
        );
        let one = ask("cas", Value::List(vec![Value::Int(1)]));
        assert!(RegisterOp::of(&one).unwrap_err().contains("[from, to]"));
        assert!(RegisterOp::of(&ask("incr", Value::Nil))
            .unwrap_err()
            .contains("incr"));
        assert_eq!(decode(Some("7".into())), Value::Int(7));
        assert_eq!(decode(Some("x".into())), Value::Str("x".into()));
        assert_eq!(decode(None), Value::Nil);
    }
}

//! The key/value model: per key a string with `get`, `put v` and `append v`; a key never
//! written reads as "" (or as the initial value, when one is given).
//!
//! Values are compared as strings: a string is itself, an integer its decimal form, nil "".
//! Failed ops and unknown `get`s are dropped; unknown `put`/`append` are optional.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;
use std::sync::Arc;

/// A string with its length and polynomial hash kept alongside, so that hashing a state is
/// O(1) and unequal states almost always differ in the first words compared. Equality is still
/// exact: equal hashes and lengths are confirmed by comparing the text. Short strings (most
/// values, and most of what a key holds between two puts) are kept inline, so compiling an op
/// or appending to a short state allocates nothing.
#[derive(Clone)]
pub struct Text {
    hash: u64,
    /// BASE^len, to extend the hash when appending.
    scale: u64,
    bytes: Bytes,
}

/// Longest string kept inline in a [`Text`].
const INLINE: usize = 22;

/// A [`Text`]'s bytes: inline when short, else shared.
#[derive(Clone)]
enum Bytes {
    /// The length and the bytes (the first `len` of them are the string's).
    Inline(u8, [u8; INLINE]),
    /// A longer string.
    Shared(Arc<str>),
}

const BASE: u64 = 0x100_0000_01b3;

impl Text {
    /// Wraps a string.
    pub fn new(s: &str) -> Text {
        let (hash, scale) = poly_hash(s.as_bytes());
        Text {
            hash,
            scale,
            bytes: Bytes::of(&[s]),
        }
    }

    /// This text followed by `tail`.
    pub fn append(&self, tail: &Text) -> Text {
        Text {
            hash: self.hash.wrapping_mul(tail.scale).wrapping_add(tail.hash),
            scale: self.scale.wrapping_mul(tail.scale),
            bytes: Bytes::of(&[self.as_str(), tail.as_str()]),
        }
    }

    /// The string's bytes.
    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline(len, b) => &b[..*len as usize],
            Bytes::Shared(s) => s.as_bytes(),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.bytes {
            // Inline bytes are always whole strings' bytes, so they are always UTF-8.
            Bytes::Inline(len, b) => std::str::from_utf8(&b[..*len as usize]).unwrap_or(""),
            Bytes::Shared(s) => s,
        }
    }
}

impl Bytes {
    /// The strings in `parts` one after the other.
    fn of(parts: &[&str]) -> Bytes {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE {
            let mut b = [0u8; INLINE];
            let mut at = 0;
            for p in parts {
                b[at..at + p.len()].copy_from_slice(p.as_bytes());
                at += p.len();
            }
            Bytes::Inline(len as u8, b)
        } else {
            Bytes::Shared(Arc::from(parts.concat()))
        }
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Text").field(&self.as_str()).finish()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash
            && match (&self.bytes, &other.bytes) {
                (Bytes::Shared(a), Bytes::Shared(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => self.bytes() == other.bytes(),
            }
    }
}
impl Eq for Text {}
impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// The polynomial hash of `bytes` (each byte b counts as b + 1, in base [`BASE`], wrapping)
/// and BASE^len. Four bytes per round, with independent multiplications (a long value read back
/// whole is hashed once per get, so this is a hot loop on big kv histories); the same result as
/// one byte per round.
fn poly_hash(bytes: &[u8]) -> (u64, u64) {
    let b2 = BASE.wrapping_mul(BASE);
    let b3 = b2.wrapping_mul(BASE);
    let b4 = b3.wrapping_mul(BASE);
    let (mut hash, mut scale) = (0u64, 1u64);
    let mut quads = bytes.chunks_exact(4);
    for q in &mut quads {
        let [a, b, c, d] = [q[0], q[1], q[2], q[3]].map(|x| x as u64 + 1);
        hash = hash
            .wrapping_mul(b4)
            .wrapping_add(a.wrapping_mul(b3))
            .wrapping_add(b.wrapping_mul(b2))
            .wrapping_add(c.wrapping_mul(BASE))
            .wrapping_add(d);
        scale = scale.wrapping_mul(b4);
    }
    for &x in quads.remainder() {
        hash = hash.wrapping_mul(BASE).wrapping_add(x as u64 + 1);
        scale = scale.wrapping_mul(BASE);
    }
    (hash, scale)
}

/// A compiled kv op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string.
    Get(Text),
    /// A put of this string.
    Put(Text),
    /// An append of this string.
    Append(Text),
}

/// The kv model.
#[derive(Clone, Debug)]
pub struct Kv {
    /// What a key holds before its first write.
    pub initial: Text,
}

/// A value as the kv model compares it.
pub fn as_text(v: &Value) -> Text {
    match v {
        Value::Nil => Text::new(""),
        Value::Str(s) => Text::new(s),
        other => Text::new(&other.to_string()),
    }
}

impl Model for Kv {
    type State = Text;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }
    fn init(&self) -> Text {
        self.initial.clone()
    }
    fn compile(&self, call: &CallView, _values: &mut Interner) -> Result<Option<KvOp>, String> {
        match (call.f, call.outcome) {
            ("get" | "read", Outcome::Ok) => Ok(Some(KvOp::Get(as_text(call.output)))),
            ("get" | "read", _) | ("put" | "write" | "append", Outcome::Fail) => Ok(None),
            ("put" | "write", _) => Ok(Some(KvOp::Put(as_text(call.input)))),
            ("append", _) => Ok(Some(KvOp::Append(as_text(call.input)))),
            (f, _) => Err(format!(
                "the kv model has no operation {f:?} (it knows get, put, append)"
            )),
        }
    }
    fn is_observer(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }
    fn step(&self, state: &Text, op: &KvOp) -> Option<Text> {
        match op {
            KvOp::Get(v) => (state == v).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => Some(state.append(v)),
        }
    }
    fn describe_state(&self, state: &Text, _values: &Interner) -> String {
        format!("{:?}", state.as_str())
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "a string per key: get, put, append";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let m = Kv {
        initial: as_text(initial),
    };
    Ok(erase(m, Interner::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_bytewise_polynomial_and_extends_on_append() {
        let text: String = (0..300u32)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        for len in 0..text.len() {
            let s = &text[..len];
            let (mut hash, mut scale) = (0u64, 1u64);
            for b in s.bytes() {
                hash = hash.wrapping_mul(BASE).wrapping_add(b as u64 + 1);
                scale = scale.wrapping_mul(BASE);
            }
            assert_eq!(poly_hash(s.as_bytes()), (hash, scale), "length {len}");
            let (a, b) = s.split_at(len / 3);
            assert_eq!(Text::new(a).append(&Text::new(b)), Text::new(s));
        }
        assert_ne!(Text::new("ab"), Text::new("ba"));
        // Inline and shared texts of the same string are equal, whichever way they were made.
        let long = "x1.2 ".repeat(10);
        let (a, b) = long.split_at(INLINE - 2);
        let joined = Text::new(a).append(&Text::new(b));
        assert_eq!(joined, Text::new(&long));
        assert_eq!(joined.as_str(), long);
        let short = Text::new("é").append(&Text::new("x"));
        assert_eq!(short.as_str(), "éx");
        assert_eq!(format!("{short:?}"), "Text(\"éx\")");
    }
}

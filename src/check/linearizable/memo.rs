//! The memo of the linearizability search: which configurations (linearized completed ops,
//! model state, unknown ops used) have been seen, stored compactly and exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A small fast hasher for memo keys (exactness comes from `Eq`, not from the hash).
#[derive(Default)]
pub(crate) struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64)
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64)
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64)
    }
}

/// A window of the linearized-ops bitset; short windows (the usual case) are stored inline.
#[derive(PartialEq, Eq, Hash)]
pub(crate) enum Bits {
    Inline(u64, u64, u8),
    Heap(Box<[u64]>),
}

impl Bits {
    pub(crate) fn new(words: &[u64]) -> Bits {
        match *words {
            [a] => Bits::Inline(a, 0, 1),
            [a, b] => Bits::Inline(a, b, 2),
            _ => Bits::Heap(words.into()),
        }
    }
    pub(crate) fn heap_words(&self) -> u64 {
        match self {
            Bits::Inline(..) => 0,
            Bits::Heap(b) => b.len() as u64,
        }
    }
}

#[derive(PartialEq, Eq, Hash)]
pub(crate) struct MemoKey<S> {
    pub(crate) p: u32,
    pub(crate) bits: Bits,
    pub(crate) state: S,
}

/// The unknown-op usages stored for one (completed ops, state); usually just one.
pub(crate) enum Usages {
    One(Box<[u32]>),
    Many(Vec<Box<[u32]>>),
}

/// Configurations seen: per (completed ops, state), the unknown-op usages (counts per class,
/// trailing zeros trimmed) with which it was reached, none of them covering another.
///
/// A configuration that has used at least as many ops of every unknown class as one already
/// seen, with the same completed ops and state, can do nothing that one cannot (unknown ops are
/// optional), so it is skipped. Why that loses no linearization: when the search ends without
/// one, every stored configuration has been fully explored. If some stored configuration K had
/// a completion, take one whose completion is shortest, of length L; its first step leads to a
/// configuration that was either stored (with a completion of length L - 1) or skipped because
/// a stored one covers it (which then has a completion of length at most L - 1), or was not
/// tried because a rule proves a completion as short exists through a step that was tried
/// (a read taken first, the earliest member of a class, an unknown op that changes nothing
/// being left out). Each case contradicts the choice of K.
pub(crate) struct Memo<S: Eq + Hash> {
    pub(crate) seen: HashMap<MemoKey<S>, Usages, BuildHasherDefault<Fx>>,
    pub(crate) bytes: u64,
    pub(crate) entries: u64,
}

impl<S: Eq + Hash> Memo<S> {
    /// Records the configuration; false if it (or one covering it) was seen before.
    pub(crate) fn visit(&mut self, key: MemoKey<S>, used: &[u32]) -> bool {
        let mut used = used;
        while let [rest @ .., 0] = used {
            used = rest;
        }
        let covers =
            |a: &[u32], b: &[u32]| a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x <= y);
        let words = key.bits.heap_words();
        let slot = match self.seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.bytes += std::mem::size_of::<(MemoKey<S>, Usages)>() as u64
                    + 8 * words
                    + 4 * used.len() as u64
                    + 8;
                self.entries += 1;
                e.insert(Usages::One(used.into()));
                return true;
            }
        };
        let list = match slot {
            Usages::One(v) if covers(v, used) => return false,
            Usages::One(v) if covers(used, v) => {
                *v = used.into();
                return true;
            }
            Usages::One(v) => {
                let first = std::mem::take(v);
                *slot = Usages::Many(vec![first]);
                match slot {
                    Usages::Many(list) => list,
                    Usages::One(_) => return true,
                }
            }
            Usages::Many(list) => list,
        };
        if list.iter().any(|v| covers(v, used)) {
            return false;
        }
        let before = list.len();
        list.retain(|v| !covers(used, v));
        self.entries -= (before - list.len()) as u64;
        self.entries += 1;
        self.bytes += 16 + 4 * used.len() as u64;
        list.push(used.into());
        true
    }
}

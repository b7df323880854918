//! The memo of the linearizability search: which configurations (linearized completed ops,
//! model state, unknown ops used) have been seen, stored compactly and exactly.

use std::collections::hash_map::Entry;
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

/// A map with the memo's fast hasher, for the checker's small keys (ops, values, states).
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// A set with the memo's fast hasher.
pub(crate) type FxSet<K> = std::collections::HashSet<K, BuildHasherDefault<Fx>>;

/// Where the unknown-op usages of one (completed ops, state) are: usually one usage, its
/// `len` counts in the arena from `at`; with `len == MANY`, entry `at` of the overflow lists.
#[derive(Clone, Copy)]
pub(crate) struct Usages {
    at: u32,
    len: u32,
}

/// The `len` of [`Usages`] that stand for several usages.
const MANY: u32 = u32::MAX;

/// One usage in the arena: `len` counts from `at`.
#[derive(Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
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
///
/// The usages live in one arena (a usage replaced by a larger one stays there, unused), so an
/// entry allocates nothing of its own and the memo is freed in a few blocks.
pub(crate) struct Memo<S: Eq + Hash> {
    pub(crate) seen: FxMap<MemoKey<S>, Usages>,
    pub(crate) bytes: u64,
    pub(crate) entries: u64,
    /// The counts of every usage stored.
    arena: Vec<u32>,
    /// The usages of the configurations reached with several.
    many: Vec<Vec<Span>>,
    /// The usage stored last: stored again, it is shared (the search mostly places completed
    /// ops one after another without touching the unknown ones).
    last: Span,
}

/// Whether usage `a` is covered by `b`: `b` used at least as many of every class.
#[inline]
fn covers(a: &[u32], b: &[u32]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x <= y)
}

impl<S: Eq + Hash> Memo<S> {
    /// An empty memo.
    pub(crate) fn new() -> Self {
        Memo {
            seen: FxMap::default(),
            bytes: 0,
            entries: 0,
            arena: Vec::new(),
            many: Vec::new(),
            last: Span { at: 0, len: 0 },
        }
    }

    /// Bytes the memo holds (approximate), for the memory budget.
    pub(crate) fn footprint(&self) -> u64 {
        self.bytes + self.seen.capacity() as u64 * 8 + 4 * self.arena.capacity() as u64
    }

    /// Records the configuration; false if it (or one covering it) was seen before.
    pub(crate) fn visit(&mut self, key: MemoKey<S>, used: &[u32]) -> bool {
        let mut used = used;
        while let [rest @ .., 0] = used {
            used = rest;
        }
        let words = key.bits.heap_words();
        let Memo {
            seen,
            bytes,
            entries,
            arena,
            many,
            last,
        } = self;
        let mut slot = match seen.entry(key) {
            Entry::Occupied(e) => e,
            Entry::Vacant(e) => {
                *bytes += std::mem::size_of::<(MemoKey<S>, Usages)>() as u64 + 8 * words + 8;
                *entries += 1;
                let s = store(arena, last, used);
                e.insert(Usages {
                    at: s.at,
                    len: s.len,
                });
                return true;
            }
        };
        let u = *slot.get();
        if u.len != MANY {
            let one = Span {
                at: u.at,
                len: u.len,
            };
            if covers(counts(arena, one), used) {
                return false;
            }
            let s = store(arena, last, used);
            if covers(used, counts(arena, one)) {
                *slot.get_mut() = Usages {
                    at: s.at,
                    len: s.len,
                };
                return true;
            }
            many.push(vec![one, s]);
            *slot.get_mut() = Usages {
                at: (many.len() - 1) as u32,
                len: MANY,
            };
            *entries += 1;
            *bytes += 16;
            return true;
        }
        let list = &mut many[u.at as usize];
        if list.iter().any(|&v| covers(counts(arena, v), used)) {
            return false;
        }
        let before = list.len();
        list.retain(|&v| !covers(used, counts(arena, v)));
        *entries -= (before - list.len()) as u64;
        *entries += 1;
        *bytes += 16;
        list.push(store(arena, last, used));
        true
    }
}

/// Stores `used` in the arena, or shares `last` when it holds the same counts.
#[inline]
fn store(arena: &mut Vec<u32>, last: &mut Span, used: &[u32]) -> Span {
    if counts(arena, *last) == used {
        return *last;
    }
    let at = arena.len() as u32;
    arena.extend_from_slice(used);
    *last = Span {
        at,
        len: used.len() as u32,
    };
    *last
}

/// The counts of a stored usage.
#[inline]
fn counts(arena: &[u32], s: Span) -> &[u32] {
    &arena[s.at as usize..(s.at + s.len) as usize]
}

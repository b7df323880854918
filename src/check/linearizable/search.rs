//! Linearizability of one key's ops: the Wing–Gong search with Lowe's just-in-time
//! linearization and memoized configurations.
//!
//! Completed ops (those with a return) become a call node and a return node in a doubly linked
//! list sorted by history position. The search walks the list from the head: a call node is a
//! candidate to linearize next; the first return node it meets is the *frontier*: that op must be
//! linearized before anything invoked later, so no later call is a candidate. Linearizing an op
//! unlinks its two nodes (and restarts the walk); backtracking links them back. A configuration
//! (set of linearized ops, model state) already seen is never explored twice.
//!
//! Unknown ops (`info`, or open at the end) have no return node: they may be linearized at any
//! point after their invoke, or never, so the search succeeds as soon as every *completed* op is
//! linearized. They are kept per class of equal compiled ops, and only the earliest-invoked
//! unused member of a class is ever a candidate. That loses nothing: members of a class have the
//! same effect and no return, so in any linearization the used members can be swapped for the
//! earliest-invoked ones, placed in invoke order (an op invoked earlier can stand wherever a later
//! one stood). With this rule the used members of a class are always a prefix, and equal sets
//! need no canonicalizing. An unknown op whose step leaves the state unchanged is never taken
//! either: the configuration it leads to can do nothing the current one cannot.
//!
//! The memo key of a configuration is exact and small: `p`, the first unlinearized completed op
//! (all before it are linearized); the bits of completed ops from `p` up to the last op invoked
//! before `p` returned (no later op can be linearized while `p` is not); and the bits of unknown
//! ops invoked before `p` returned.

use crate::check::linearizable::memo::{Bits, Memo, MemoKey};
use crate::check::linearizable::runs::{unknown_run_useful, RunScratch};
use crate::check::model::Model;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// One op of one key, ready for the search.
#[derive(Clone, Debug)]
pub struct KeyOp<O> {
    /// The compiled op.
    pub op: O,
    /// History position of the invoke.
    pub call: u64,
    /// History position of the completion, or `None` if the op is unknown (optional).
    pub ret: Option<u64>,
}

/// What ran out, for an `Unknown` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// The time limit passed.
    Time,
    /// The memo grew past the memory budget.
    Memory,
    /// The step allowance of this round ran out (the caller may retry with a larger one).
    Steps,
}

/// Where the search got stuck: the longest prefix it found and the op it could not place.
#[derive(Clone, Debug)]
pub struct Stuck<S> {
    /// Positions (in the key's op list) of the longest linearizable order found.
    pub prefix: Vec<usize>,
    /// Position of the completed op that could not be linearized after that prefix.
    pub blocked: usize,
    /// Some model states reachable just before the blocked op had to take effect.
    pub states: Vec<S>,
}

/// The answer for one key.
#[derive(Clone, Debug)]
pub enum KeyVerdict<S> {
    /// A linearization exists.
    Linearizable,
    /// None exists; where the search came closest.
    NotLinearizable(Stuck<S>),
    /// The budget ran out first.
    Unknown(Exhausted),
    /// Another key was found invalid and the search was told to stop.
    Cancelled,
}

/// Limits shared by the searches of all keys of one check.
pub struct Budget<'a> {
    /// Stop with `Unknown(Time)` after this instant.
    pub deadline: Option<Instant>,
    /// Bytes of memo all keys may use together.
    pub memory_limit: u64,
    /// Bytes of memo in use (approximate), shared by all keys.
    pub memory_used: &'a AtomicU64,
    /// Set when some key was found invalid: the others may stop.
    pub cancel: &'a AtomicBool,
    /// Give up with `Unknown(Steps)` after this many steps (`u64::MAX`: never).
    pub max_steps: u64,
    /// Called at [`FIRST_CHECKPOINT`] steps and then each time the steps double, with the op
    /// (a position in the key's ops) the search was blocked at in its deepest dead end so far:
    /// a chance for the caller to refute the key another way, and then set `cancel`.
    pub checkpoint: Option<&'a (dyn Fn(usize) + Sync)>,
}

/// Steps before the first [`Budget::checkpoint`].
pub const FIRST_CHECKPOINT: u64 = 1 << 18;

/// Counts from one search, for the stats.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchStats {
    /// Configurations stored in the memo.
    pub configurations: u64,
    /// Candidate steps tried.
    pub steps: u64,
    /// When the search stopped early: the op it was blocked at in its deepest dead end.
    pub deepest_blocked: Option<usize>,
}

/// No node: the end of the list.
pub(crate) const NIL: u32 = u32::MAX;

enum Frame<S> {
    Completed {
        op: u32,
        prev: S,
        old_p: u32,
        forced: bool,
    },
    Unknown {
        class: u32,
        member: u32,
        prev: S,
        frontier: u64,
        frontier_node: u32,
    },
}

enum Cursor {
    /// Entering a configuration: look for a read to take first.
    Start,
    /// Trying the completed op at this call node (or reached the frontier).
    Main(u32),
    /// Trying the unknown-op class with this number.
    Classes(usize),
    /// Every candidate failed: undo the last step.
    Backtrack,
}

fn bit(words: &[u64], i: usize) -> bool {
    words[i / 64] >> (i % 64) & 1 == 1
}
fn flip(words: &mut [u64], i: usize) {
    words[i / 64] ^= 1 << (i % 64);
}

/// The frontier (first return position in the list) once completed op `i` is unlinked.
fn frontier_without(head: u32, next: &[u32], i: u32, rets: &[u64]) -> u64 {
    let mut node = next[head as usize];
    while node != NIL {
        if node & 1 == 1 && node / 2 != i {
            return rets[(node / 2) as usize];
        }
        node = next[node as usize];
    }
    u64::MAX
}

/// Searches for a linearization of `ops` (one key) under `model`.
pub fn search<M: Model>(
    model: &M,
    ops: &[KeyOp<M::Op>],
    budget: &Budget,
) -> (KeyVerdict<M::State>, SearchStats) {
    let mut stats = SearchStats::default();
    // Completed ops in invoke order get dense ids 0..c; unknown ops 0..m.
    let mut completed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_some()).collect();
    completed.sort_by_key(|&i| ops[i].call);
    let mut unknown: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
    unknown.sort_by_key(|&i| ops[i].call);
    let c = completed.len();
    if c == 0 {
        return (KeyVerdict::Linearizable, stats);
    }
    let calls: Vec<u64> = completed.iter().map(|&i| ops[i].call).collect();
    let rets: Vec<u64> = completed
        .iter()
        .map(|&i| ops[i].ret.unwrap_or(u64::MAX))
        .collect();
    let ucalls: Vec<u64> = unknown.iter().map(|&i| ops[i].call).collect();

    // The linked list of call (2i) and return (2i+1) nodes; node 2c is the head.
    let head = (2 * c) as u32;
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(2 * c);
    for i in 0..c {
        order.push((calls[i], 2 * i as u32));
        order.push((rets[i], 2 * i as u32 + 1));
    }
    order.sort_unstable();
    let mut next = vec![NIL; 2 * c + 1];
    let mut prev = vec![NIL; 2 * c + 1];
    let mut last = head;
    for &(_, node) in &order {
        next[last as usize] = node;
        prev[node as usize] = last;
        last = node;
    }
    // q[i]: completed ops invoked before op i returned.
    let q: Vec<usize> = rets
        .iter()
        .map(|&r| calls.partition_point(|&x| x < r))
        .collect();

    // Classes of equal unknown ops, members in invoke order.
    let mut class_of: std::collections::HashMap<&M::Op, usize> = Default::default();
    let mut members: Vec<Vec<u32>> = Vec::new();
    for (u, &i) in unknown.iter().enumerate() {
        let k = *class_of.entry(&ops[i].op).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[k].push(u as u32);
    }
    let mut next_member = vec![0u32; members.len()];

    let mut lin = vec![0u64; c / 64 + 1];
    let mut p: u32 = 0;
    let mut remaining = c;
    let mut state = model.init();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut memo: Memo<M::State> = Memo {
        seen: HashMap::default(),
        bytes: 0,
        entries: 0,
    };
    let mut charged: u64 = 0;

    // The deepest dead end seen, and how much of `best_prefix` still matches the stack.
    let mut best_depth: usize = 0;
    let mut best_prefix: Vec<usize> = Vec::new();
    let mut best_blocked: Option<usize> = None;
    let mut best_states: Vec<M::State> = Vec::new();
    let mut low_water: usize = 0;

    let mut frontier: u64 = 0;
    let mut frontier_node: u32 = NIL;
    let mut cursor = Cursor::Start;

    // The usage vector stored in the memo. With a per-run bound b from the model, a class with
    // at least b × R unused members already invoked before the frontier (R = completed ops still
    // to place) is "saturated": a shortest completion runs unknown ops only right before a
    // completed op, uses each class at most b times per run, so it can never run out of that
    // class. A saturated class is stored as 0 used: it is as good as unused.
    let per_run = model.unknown_uses_per_run();
    let member_calls: Vec<Vec<u64>> = members
        .iter()
        .map(|m| m.iter().map(|&u| ucalls[u as usize]).collect())
        .collect();
    let mut scratch: Vec<u32> = Vec::with_capacity(members.len());
    let mut run_scratch: RunScratch<M> = RunScratch::new();
    // Only a class with at most as many members as b × R can be saturated, so while R is large
    // (most of a long history) the frontier is not even computed.
    let usage = |next_member: &[u32], r: u64, f: &dyn Fn() -> u64, scratch: &mut Vec<u32>| {
        scratch.clear();
        scratch.extend_from_slice(next_member);
        let Some(b) = per_run else {
            return;
        };
        let room = (b as u64).saturating_mul(r);
        let mut frontier: Option<u64> = None;
        for (k, n) in scratch.iter_mut().enumerate() {
            if *n == 0 || room > member_calls[k].len() as u64 {
                continue;
            }
            let f = *frontier.get_or_insert_with(f);
            let eligible = member_calls[k].partition_point(|&c| c < f) as u64;
            if *n as u64 + room <= eligible {
                *n = 0;
            }
        }
    };

    let key = |p: u32, lin: &[u64]| -> Bits {
        let pi = p as usize;
        let hi = q[pi].max(pi + 1);
        Bits::new(&lin[pi / 64..=(hi - 1) / 64])
    };
    let finish = |charged: u64| {
        budget.memory_used.fetch_sub(charged, Ordering::Relaxed);
    };

    // Linearizes completed op `i` (call node `node`) into state `ns`: returns from the search
    // when it was the last one, evaluates to false when the new configuration was seen before.
    macro_rules! linearize {
        ($i:expr, $node:expr, $ns:expr, $forced:expr) => {{
            let (i, node, ns): (usize, u32, M::State) = ($i, $node, $ns);
            if remaining == 1 {
                finish(charged);
                stats.configurations = memo.entries;
                return (KeyVerdict::Linearizable, stats);
            }
            flip(&mut lin, i);
            let mut np = p as usize;
            while np < c && bit(&lin, np) {
                np += 1;
            }
            let k = MemoKey {
                p: np as u32,
                bits: key(np as u32, &lin),
                state: ns.clone(),
            };
            let f = || frontier_without(head, &next, i as u32, &rets);
            usage(&next_member, remaining as u64 - 1, &f, &mut scratch);
            if !memo.visit(k, &scratch) {
                flip(&mut lin, i);
                false
            } else {
                stack.push(Frame::Completed {
                    op: i as u32,
                    prev: std::mem::replace(&mut state, ns),
                    old_p: p,
                    forced: $forced,
                });
                p = np as u32;
                for n in [node, node + 1] {
                    let (a, b) = (prev[n as usize], next[n as usize]);
                    next[a as usize] = b;
                    if b != NIL {
                        prev[b as usize] = a;
                    }
                }
                remaining -= 1;
                true
            }
        }};
    }

    let mut checkpoint = FIRST_CHECKPOINT;
    loop {
        stats.steps += 1;
        if stats.steps & 1023 == 0 {
            if stats.steps >= checkpoint {
                checkpoint = checkpoint.saturating_mul(2);
                if let (Some(call), Some(b)) = (budget.checkpoint, best_blocked) {
                    call(b);
                }
            }
            if stats.steps >= budget.max_steps {
                finish(charged);
                stats.deepest_blocked = best_blocked;
                return (KeyVerdict::Unknown(Exhausted::Steps), stats);
            }
            if budget.cancel.load(Ordering::Relaxed) {
                finish(charged);
                return (KeyVerdict::Cancelled, stats);
            }
            if budget.deadline.is_some_and(|d| Instant::now() >= d) {
                finish(charged);
                stats.deepest_blocked = best_blocked;
                return (KeyVerdict::Unknown(Exhausted::Time), stats);
            }
            let bytes = memo.bytes + memo.seen.capacity() as u64 * 8;
            if bytes > charged {
                budget
                    .memory_used
                    .fetch_add(bytes - charged, Ordering::Relaxed);
                charged = bytes;
            }
            if budget.memory_used.load(Ordering::Relaxed) > budget.memory_limit {
                finish(charged);
                stats.deepest_blocked = best_blocked;
                return (KeyVerdict::Unknown(Exhausted::Memory), stats);
            }
        }
        match cursor {
            Cursor::Start => {
                // A new configuration. If some candidate never changes the state (a read) and is
                // allowed now, taking it first loses nothing: in any linearization from here it
                // can move to the front (it was invoked before every pending op returned, and
                // it leaves every later op the same state). So take it, and branch no further.
                let mut node = next[head as usize];
                cursor = Cursor::Main(node);
                while node != NIL && node & 1 == 0 {
                    let i = (node / 2) as usize;
                    let op = &ops[completed[i]].op;
                    if model.is_observer(op) {
                        if let Some(ns) = model.step(&state, op) {
                            cursor = if linearize!(i, node, ns, true) {
                                Cursor::Start
                            } else {
                                Cursor::Backtrack
                            };
                            break;
                        }
                    }
                    node = next[node as usize];
                }
            }
            Cursor::Main(node) => {
                if node == NIL || node & 1 == 1 {
                    frontier = if node == NIL {
                        u64::MAX
                    } else {
                        rets[(node / 2) as usize]
                    };
                    frontier_node = node;
                    // Unknown ops are worth trying only if some run of them can lead to a
                    // state where a pending completed op is allowed and ends somewhere it would
                    // not end from here: a completion that starts with unknown ops must reach
                    // its next completed op c, one of these candidates since the frontier stays
                    // put; if c from here ends in the same state, dropping the run gives a
                    // completion that starts with c, which the search tries anyway. States are
                    // explored ignoring how many members each class has left, which can only
                    // say "worth trying" too often, never too rarely.
                    cursor = if members.is_empty()
                        || unknown_run_useful(
                            model,
                            &state,
                            head,
                            &next,
                            |i| &ops[completed[i]].op,
                            (0..members.len()).filter_map(|k| {
                                let u = *members[k].get(next_member[k] as usize)? as usize;
                                (ucalls[u] < frontier).then(|| &ops[unknown[u]].op)
                            }),
                            &mut run_scratch,
                        ) {
                        Cursor::Classes(0)
                    } else {
                        Cursor::Classes(members.len())
                    };
                    continue;
                }
                let i = (node / 2) as usize;
                cursor = Cursor::Main(next[node as usize]);
                if let Some(ns) = model.step(&state, &ops[completed[i]].op) {
                    if linearize!(i, node, ns, false) {
                        cursor = Cursor::Start;
                    }
                }
            }
            Cursor::Classes(k) if k < members.len() => {
                cursor = Cursor::Classes(k + 1);
                let Some(&u) = members[k].get(next_member[k] as usize) else {
                    continue;
                };
                let u = u as usize;
                if ucalls[u] >= frontier {
                    continue;
                }
                let Some(ns) = model.step(&state, &ops[unknown[u]].op) else {
                    continue;
                };
                if ns == state {
                    continue;
                }
                let mk = MemoKey {
                    p,
                    bits: key(p, &lin),
                    state: ns.clone(),
                };
                next_member[k] += 1;
                usage(&next_member, remaining as u64, &|| frontier, &mut scratch);
                if !memo.visit(mk, &scratch) {
                    next_member[k] -= 1;
                    continue;
                }
                stack.push(Frame::Unknown {
                    class: k as u32,
                    member: u as u32,
                    prev: std::mem::replace(&mut state, ns),
                    frontier,
                    frontier_node,
                });
                cursor = Cursor::Start;
            }
            Cursor::Classes(_) => {
                // Dead end: nothing can be linearized before the frontier op returns.
                let depth = stack.len();
                let blocked =
                    (frontier_node != NIL).then(|| completed[(frontier_node / 2) as usize]);
                if depth > best_depth || best_blocked.is_none() {
                    best_prefix.truncate(low_water.min(best_prefix.len()));
                    for f in &stack[best_prefix.len()..] {
                        best_prefix.push(match f {
                            Frame::Completed { op, .. } => completed[*op as usize],
                            Frame::Unknown { member, .. } => unknown[*member as usize],
                        });
                    }
                    low_water = depth;
                    best_depth = depth;
                    best_blocked = blocked;
                    best_states.clear();
                    best_states.push(state.clone());
                } else if depth == best_depth
                    && blocked == best_blocked
                    && best_states.len() < 16
                    && !best_states.contains(&state)
                {
                    best_states.push(state.clone());
                }
                cursor = Cursor::Backtrack;
            }
            Cursor::Backtrack => {
                match stack.pop() {
                    None => {
                        finish(charged);
                        stats.configurations = memo.entries;
                        return (
                            KeyVerdict::NotLinearizable(Stuck {
                                prefix: best_prefix,
                                blocked: best_blocked.unwrap_or(0),
                                states: best_states,
                            }),
                            stats,
                        );
                    }
                    Some(Frame::Completed {
                        op,
                        prev: s,
                        old_p,
                        forced,
                    }) => {
                        state = s;
                        p = old_p;
                        flip(&mut lin, op as usize);
                        for n in [2 * op + 1, 2 * op] {
                            let (a, b) = (prev[n as usize], next[n as usize]);
                            next[a as usize] = n;
                            if b != NIL {
                                prev[b as usize] = n;
                            }
                        }
                        remaining += 1;
                        // A forced step was the only one worth trying from its configuration.
                        cursor = if forced {
                            Cursor::Backtrack
                        } else {
                            Cursor::Main(next[(2 * op) as usize])
                        };
                    }
                    Some(Frame::Unknown {
                        class,
                        member,
                        prev: s,
                        frontier: f,
                        frontier_node: fnode,
                    }) => {
                        state = s;
                        let k = class as usize;
                        next_member[k] -= 1;
                        let _ = member;
                        frontier = f;
                        frontier_node = fnode;
                        cursor = Cursor::Classes(k + 1);
                    }
                }
                low_water = low_water.min(stack.len());
            }
        }
    }
}

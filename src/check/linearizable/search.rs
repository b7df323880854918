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

use crate::check::linearizable::layout::{frontier_without, Layout, Links};
use crate::check::linearizable::memo::{Bits, Memo, MemoKey};
use crate::check::linearizable::runs::{unknown_run_useful, RunScratch};
use crate::check::model::Model;
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
    /// (a position in the key's ops) the search was blocked at in its deepest dead end so far
    /// and the steps taken so far: a chance for the caller to refute the key another way (with
    /// work in proportion to the steps), and then set `cancel`.
    pub checkpoint: Option<&'a (dyn Fn(usize, u64) + Sync)>,
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

/// One step of the current path, with what undoing it needs.
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

/// Where the search loop is within the current configuration.
enum Cursor {
    /// Entering a configuration: look for a read to take first.
    Start,
    /// Trying the completed op at this call node (or reached the frontier).
    Main(u32),
    /// Trying the unknown-op class with this number.
    Classes(usize),
    /// Every candidate failed: undo the last step.
    Backtrack,
    /// The last completed op was linearized: the search is over.
    Done,
}

/// What came of linearizing one completed op.
enum Placed {
    /// It was the last one: a linearization exists.
    Last,
    /// The configuration it leads to was seen before: not taken.
    Seen,
    /// Taken: a new configuration.
    Taken,
}

/// Whether bit `i` of `words` is set.
#[inline]
fn bit(words: &[u64], i: usize) -> bool {
    words[i / 64] >> (i % 64) & 1 == 1
}

/// Flips bit `i` of `words`.
#[inline]
fn flip(words: &mut [u64], i: usize) {
    words[i / 64] ^= 1 << (i % 64);
}

/// The deepest dead end seen so far, and how much of its prefix still matches the stack.
struct Best<S> {
    depth: usize,
    prefix: Vec<usize>,
    blocked: Option<usize>,
    states: Vec<S>,
    low_water: usize,
}

impl<S: Clone + PartialEq> Best<S> {
    /// Records a dead end at `depth` (the stack), blocked at `blocked`, in `state`.
    fn dead_end<M: Model<State = S>>(
        &mut self,
        lay: &Layout<'_, M>,
        stack: &[Frame<S>],
        blocked: Option<usize>,
        state: &S,
    ) {
        let depth = stack.len();
        if depth > self.depth || self.blocked.is_none() {
            self.prefix.truncate(self.low_water.min(self.prefix.len()));
            for f in &stack[self.prefix.len()..] {
                self.prefix.push(match f {
                    Frame::Completed { op, .. } => lay.completed[*op as usize],
                    Frame::Unknown { member, .. } => lay.unknown[*member as usize],
                });
            }
            self.low_water = depth;
            self.depth = depth;
            self.blocked = blocked;
            self.states.clear();
            self.states.push(state.clone());
        } else if depth == self.depth
            && blocked == self.blocked
            && self.states.len() < 16
            && !self.states.contains(state)
        {
            self.states.push(state.clone());
        }
    }
}

/// The state of one search: the configuration (linearized ops, model state, unknown ops used),
/// the path that led to it, the memo and the limits.
struct Search<'a, 'b, M: Model> {
    model: &'a M,
    budget: &'a Budget<'b>,
    lay: Layout<'a, M>,
    links: Links,
    /// Per class, how many members are used (always the earliest-invoked ones).
    next_member: Vec<u32>,
    /// The linearized completed ops, one bit each.
    lin: Vec<u64>,
    /// The first completed op not linearized.
    p: u32,
    /// Completed ops not linearized.
    remaining: usize,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    memo: Memo<M::State>,
    /// Memo bytes added to `budget.memory_used`.
    charged: u64,
    best: Best<M::State>,
    /// The return position of the frontier op (and its node) of the current configuration.
    frontier: u64,
    frontier_node: u32,
    scratch: Vec<u32>,
    run_scratch: RunScratch<'a, M>,
    stats: SearchStats,
    /// Steps at which `budget.checkpoint` is called next.
    checkpoint: u64,
}

/// Searches for a linearization of `ops` (one key) under `model`.
pub fn search<M: Model>(
    model: &M,
    ops: &[KeyOp<M::Op>],
    budget: &Budget,
) -> (KeyVerdict<M::State>, SearchStats) {
    match Layout::new(model, ops) {
        Some(lay) => Search::new(model, budget, lay).run(),
        None => (KeyVerdict::Linearizable, SearchStats::default()),
    }
}

impl<'a, 'b, M: Model> Search<'a, 'b, M> {
    /// The search at the initial configuration: nothing linearized, the model's initial state.
    fn new(model: &'a M, budget: &'a Budget<'b>, lay: Layout<'a, M>) -> Self {
        let c = lay.completed.len();
        let classes = lay.members.len();
        Search {
            model,
            budget,
            links: lay.links(),
            next_member: vec![0u32; classes],
            lin: vec![0u64; c / 64 + 1],
            p: 0,
            remaining: c,
            state: model.init(),
            stack: Vec::new(),
            memo: Memo::new(),
            charged: 0,
            best: Best {
                depth: 0,
                prefix: Vec::new(),
                blocked: None,
                states: Vec::new(),
                low_water: 0,
            },
            frontier: 0,
            frontier_node: NIL,
            scratch: Vec::with_capacity(classes),
            run_scratch: RunScratch::new(),
            stats: SearchStats::default(),
            checkpoint: FIRST_CHECKPOINT,
            lay,
        }
    }

    /// The search loop: one candidate step per turn, until an answer or a limit.
    fn run(mut self) -> (KeyVerdict<M::State>, SearchStats) {
        let mut cursor = Cursor::Start;
        loop {
            if let Cursor::Done = cursor {
                return self.end(KeyVerdict::Linearizable);
            }
            self.stats.steps += 1;
            if self.stats.steps & 1023 == 0 {
                if let Some(v) = self.poll() {
                    return self.end(v);
                }
            }
            cursor = match cursor {
                Cursor::Start => self.enter(),
                Cursor::Main(node) => self.try_completed(node),
                Cursor::Classes(k) if k < self.lay.members.len() => self.try_class(k),
                Cursor::Classes(_) => self.dead_end(),
                Cursor::Backtrack => match self.backtrack() {
                    Some(c) => c,
                    None => {
                        let stuck = Stuck {
                            prefix: std::mem::take(&mut self.best.prefix),
                            blocked: self.best.blocked.unwrap_or(0),
                            states: std::mem::take(&mut self.best.states),
                        };
                        return self.end(KeyVerdict::NotLinearizable(stuck));
                    }
                },
                Cursor::Done => Cursor::Done,
            };
        }
    }

    /// Gives back the memo's share of the memory budget and returns the answer with the stats.
    fn end(mut self, verdict: KeyVerdict<M::State>) -> (KeyVerdict<M::State>, SearchStats) {
        self.budget
            .memory_used
            .fetch_sub(self.charged, Ordering::Relaxed);
        if matches!(
            verdict,
            KeyVerdict::Linearizable | KeyVerdict::NotLinearizable(_)
        ) {
            self.stats.configurations = self.memo.entries;
        }
        (verdict, self.stats)
    }

    /// Every 1024 steps: the checkpoint, then the limits in order (steps, cancel, time,
    /// memory); the answer to stop with when one is reached.
    fn poll(&mut self) -> Option<KeyVerdict<M::State>> {
        if self.stats.steps >= self.checkpoint {
            self.checkpoint = self.checkpoint.saturating_mul(2);
            if let (Some(call), Some(b)) = (self.budget.checkpoint, self.best.blocked) {
                call(b, self.stats.steps);
            }
        }
        if self.stats.steps >= self.budget.max_steps {
            return Some(self.out_of(Exhausted::Steps));
        }
        if self.budget.cancel.load(Ordering::Relaxed) {
            return Some(KeyVerdict::Cancelled);
        }
        if self.budget.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(self.out_of(Exhausted::Time));
        }
        let bytes = self.memo.footprint();
        if bytes > self.charged {
            self.budget
                .memory_used
                .fetch_add(bytes - self.charged, Ordering::Relaxed);
            self.charged = bytes;
        }
        if self.budget.memory_used.load(Ordering::Relaxed) > self.budget.memory_limit {
            return Some(self.out_of(Exhausted::Memory));
        }
        None
    }

    /// The `unknown` answer for a limit reached, noting where the search was stuck deepest.
    fn out_of(&mut self, what: Exhausted) -> KeyVerdict<M::State> {
        self.stats.deepest_blocked = self.best.blocked;
        KeyVerdict::Unknown(what)
    }

    /// The memo's window of linearized ops for first unlinearized op `p` (see the module doc).
    #[inline]
    fn bits(&self, p: u32) -> Bits {
        let pi = p as usize;
        let hi = self.lay.q[pi].max(pi + 1);
        Bits::new(&self.lin[pi / 64..=(hi - 1) / 64])
    }

    /// Linearizes completed op `i` (call node `node`) into state `ns`, unless it was the last
    /// one or the configuration it leads to was seen before.
    fn linearize(&mut self, i: usize, node: u32, ns: M::State, forced: bool) -> Placed {
        if self.remaining == 1 {
            return Placed::Last;
        }
        flip(&mut self.lin, i);
        let c = self.lay.completed.len();
        let mut np = self.p as usize;
        while np < c && bit(&self.lin, np) {
            np += 1;
        }
        let k = MemoKey {
            p: np as u32,
            bits: self.bits(np as u32),
            state: ns.clone(),
        };
        let (head, next, rets) = (self.links.head, &self.links.next, &self.lay.rets);
        let f = || frontier_without(head, next, i as u32, rets);
        let r = self.remaining as u64 - 1;
        self.lay.usage(&self.next_member, r, f, &mut self.scratch);
        if !self.memo.visit(k, &self.scratch) {
            flip(&mut self.lin, i);
            return Placed::Seen;
        }
        self.stack.push(Frame::Completed {
            op: i as u32,
            prev: std::mem::replace(&mut self.state, ns),
            old_p: self.p,
            forced,
        });
        self.p = np as u32;
        self.links.unlink(node);
        self.links.unlink(node + 1);
        self.remaining -= 1;
        Placed::Taken
    }

    /// Entering a new configuration. If some candidate never changes the state (a read) and is
    /// allowed now, taking it first loses nothing: in any linearization from here it can move
    /// to the front (it was invoked before every pending op returned, and it leaves every later
    /// op the same state). So take it, and branch no further.
    fn enter(&mut self) -> Cursor {
        let ops = self.lay.ops;
        let mut node = self.links.next[self.links.head as usize];
        let cursor = Cursor::Main(node);
        while node != NIL && node & 1 == 0 {
            let i = (node / 2) as usize;
            let op = &ops[self.lay.completed[i]].op;
            if self.model.is_observer(op) {
                if let Some(ns) = self.model.step(&self.state, op) {
                    return match self.linearize(i, node, ns, true) {
                        Placed::Last => Cursor::Done,
                        Placed::Taken => Cursor::Start,
                        Placed::Seen => Cursor::Backtrack,
                    };
                }
            }
            node = self.links.next[node as usize];
        }
        cursor
    }

    /// Tries the completed op at call node `node`; at a return node or the end of the list,
    /// the frontier is reached.
    fn try_completed(&mut self, node: u32) -> Cursor {
        if node == NIL || node & 1 == 1 {
            return self.at_frontier(node);
        }
        let i = (node / 2) as usize;
        let ops = self.lay.ops;
        let mut cursor = Cursor::Main(self.links.next[node as usize]);
        if let Some(ns) = self.model.step(&self.state, &ops[self.lay.completed[i]].op) {
            match self.linearize(i, node, ns, false) {
                Placed::Last => return Cursor::Done,
                Placed::Taken => cursor = Cursor::Start,
                Placed::Seen => {}
            }
        }
        cursor
    }

    /// The frontier (return node `node`, or the end) is reached: the unknown ops are next.
    ///
    /// Unknown ops are worth trying only if some run of them can lead to a state where a
    /// pending completed op is allowed and ends somewhere it would not end from here: a
    /// completion that starts with unknown ops must reach its next completed op c, one of these
    /// candidates since the frontier stays put; if c from here ends in the same state, dropping
    /// the run gives a completion that starts with c, which the search tries anyway. States are
    /// explored ignoring how many members each class has left, which can only say "worth
    /// trying" too often, never too rarely.
    fn at_frontier(&mut self, node: u32) -> Cursor {
        let lay = &self.lay;
        self.frontier = if node == NIL {
            u64::MAX
        } else {
            lay.rets[(node / 2) as usize]
        };
        self.frontier_node = node;
        let (ops, frontier, next_member) = (lay.ops, self.frontier, &self.next_member);
        let useful = !lay.members.is_empty()
            && unknown_run_useful(
                self.model,
                &self.state,
                self.links.head,
                &self.links.next,
                |i| &ops[lay.completed[i]].op,
                (0..lay.members.len()).filter_map(|k| {
                    let u = *lay.members[k].get(next_member[k] as usize)? as usize;
                    (lay.ucalls[u] < frontier).then(|| &ops[lay.unknown[u]].op)
                }),
                &mut self.run_scratch,
            );
        if useful {
            Cursor::Classes(0)
        } else {
            Cursor::Classes(lay.members.len())
        }
    }

    /// Tries the next unused member of unknown-op class `k`, if it was invoked before the
    /// frontier and changes the state.
    fn try_class(&mut self, k: usize) -> Cursor {
        let skip = Cursor::Classes(k + 1);
        let Some(&u) = self.lay.members[k].get(self.next_member[k] as usize) else {
            return skip;
        };
        let u = u as usize;
        if self.lay.ucalls[u] >= self.frontier {
            return skip;
        }
        let ops = self.lay.ops;
        let Some(ns) = self.model.step(&self.state, &ops[self.lay.unknown[u]].op) else {
            return skip;
        };
        if ns == self.state {
            return skip;
        }
        let mk = MemoKey {
            p: self.p,
            bits: self.bits(self.p),
            state: ns.clone(),
        };
        self.next_member[k] += 1;
        let frontier = self.frontier;
        let r = self.remaining as u64;
        self.lay
            .usage(&self.next_member, r, || frontier, &mut self.scratch);
        if !self.memo.visit(mk, &self.scratch) {
            self.next_member[k] -= 1;
            return skip;
        }
        self.stack.push(Frame::Unknown {
            class: k as u32,
            member: u as u32,
            prev: std::mem::replace(&mut self.state, ns),
            frontier: self.frontier,
            frontier_node: self.frontier_node,
        });
        Cursor::Start
    }

    /// Dead end: nothing can be linearized before the frontier op returns.
    fn dead_end(&mut self) -> Cursor {
        let blocked = (self.frontier_node != NIL)
            .then(|| self.lay.completed[(self.frontier_node / 2) as usize]);
        self.best
            .dead_end(&self.lay, &self.stack, blocked, &self.state);
        Cursor::Backtrack
    }

    /// Undoes the last step; `None` when there is none left (no linearization exists).
    fn backtrack(&mut self) -> Option<Cursor> {
        let cursor = match self.stack.pop()? {
            Frame::Completed {
                op,
                prev,
                old_p,
                forced,
            } => {
                self.state = prev;
                self.p = old_p;
                flip(&mut self.lin, op as usize);
                self.links.relink(2 * op + 1);
                self.links.relink(2 * op);
                self.remaining += 1;
                // A forced step was the only one worth trying from its configuration.
                if forced {
                    Cursor::Backtrack
                } else {
                    Cursor::Main(self.links.next[(2 * op) as usize])
                }
            }
            Frame::Unknown {
                class,
                member: _,
                prev,
                frontier,
                frontier_node,
            } => {
                self.state = prev;
                let k = class as usize;
                self.next_member[k] -= 1;
                self.frontier = frontier;
                self.frontier_node = frontier_node;
                Cursor::Classes(k + 1)
            }
        };
        self.best.low_water = self.best.low_water.min(self.stack.len());
        Some(cursor)
    }
}

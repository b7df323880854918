//! Projections of a set or register history that any sequential witness of the whole would
//! also satisfy: the proof behind [`crate::check::sequential_shrink`]'s small cores.
//!
//! A projection keeps a subset E of the elements (set) or values (register) per key: the calls
//! that write an element of E, and reads, with each set read's value intersected with E; any
//! read may also be dropped. It is sound: take any witness order W of the whole history (every
//! process's order kept, each unknown op in it or left out, every step legal) and keep only the
//! projected ops. Process order survives dropping ops. For a set, the state after any prefix of
//! W, intersected with E, is exactly the set of E's elements added in that prefix, which is the
//! projected state, so each kept read (its value intersected with E) is legal where W has it.
//! For a register whose written values are unique per key, a read of v is legal in W only if the
//! one write of v is the last write before it; if v is in E that write is kept and no kept write
//! lies between them (none lies there in W), and a read of the initial value has no write
//! before it in W, hence none kept. So E must be closed under "the value a kept read or
//! successful cas observed" ([`Projector::close`]); an unknown cas that did nothing in W is
//! left out of the projected order, and a failed cas (an observation that the value differed)
//! is always dropped, since the write it did see may not be kept. Hence a projection with no
//! witness proves that the whole history has none.
//!
//! [`Projector::find`] tries, in order: a pair of elements two set reads disagree on (the reads
//! of a set must form a chain under inclusion), each single element or value, every pair; each
//! closed, each decided by the exhaustive search within a step budget, where running out proves
//! nothing. The first refuted projection has its reads dropped greedily while it stays refuted.
//! A projected history has few states, so each exhaustive search is cheap.

use crate::check::result::CheckResult;
use crate::check::sequential_shrink::{list_calls, Trials};
use crate::history::{Call, History, Op, OpType, Value};
use std::collections::{HashMap, HashSet};

/// An element of a set, or a value of a register, on its key.
type Elem = (Option<String>, Value);

/// What one call is to a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Never kept: a failed call, an unknown read, a failed cas.
    Never,
    /// Writes element `.0` (a set add, a register write or cas): kept exactly when `.0` is
    /// projected onto. `.1`: the value a cas observed, which must then be projected onto too.
    Writes(usize, Option<usize>),
    /// A set read: kept unless dropped, its value intersected with the projection.
    SetRead,
    /// A register read of `.0` (`None`: the initial value): kept unless dropped, and only when
    /// its value is projected onto.
    RegRead(Option<usize>),
}

/// A history, the role each call plays in a projection, and the elements it mentions.
pub(crate) struct Projector<'h> {
    history: &'h History,
    calls: Vec<Call>,
    roles: Vec<Role>,
    elems: Vec<Elem>,
    /// Per call, a set read's element ids, item by item (empty for other calls).
    items: Vec<Vec<usize>>,
    set: bool,
}

/// A refuted projection: the calls kept (positions in `History::calls`), the elements
/// projected onto, the projected history and the search's refutation of it.
pub(crate) struct Core {
    pub(crate) calls: Vec<usize>,
    pub(crate) elems: Vec<usize>,
    pub(crate) history: History,
    pub(crate) result: CheckResult,
}

impl<'h> Projector<'h> {
    /// The projector for `model` (`set`, `register`, `cas-register`), or `None` when the model
    /// has no sound projection here (another model, or a register value written twice).
    pub(crate) fn new(model: &str, history: &'h History, initial: &Value) -> Option<Self> {
        let set = match model {
            "set" => true,
            "register" | "cas-register" => false,
            _ => return None,
        };
        let mut p = Projector {
            history,
            calls: history.calls(),
            roles: Vec::new(),
            elems: Vec::new(),
            items: Vec::new(),
            set,
        };
        let mut ids: HashMap<Elem, usize> = HashMap::new();
        let mut written: HashSet<usize> = HashSet::new();
        for i in 0..p.calls.len() {
            let role = p.role(i, initial, &mut ids)?;
            if let (false, Role::Writes(e, _)) = (set, role) {
                // Unique values: one write per value, and never the initial value.
                if !written.insert(e) || p.elems[e].1 == *initial {
                    return None;
                }
            }
            p.roles.push(role);
            if p.items.len() < p.roles.len() {
                p.items.push(Vec::new());
            }
        }
        Some(p)
    }

    /// Call `i`'s role, interning the elements it mentions; `None` for a call the model
    /// would not take.
    fn role(&mut self, i: usize, initial: &Value, ids: &mut HashMap<Elem, usize>) -> Option<Role> {
        let c = self.calls[i];
        let inv = &self.history.ops[c.invoke];
        let kind = c
            .complete
            .map_or(OpType::Info, |d| self.history.ops[d].kind);
        let done = c.complete.map(|d| &self.history.ops[d].value);
        let elems = &mut self.elems;
        let mut id = |v: &Value| {
            *ids.entry((inv.key.clone(), v.clone())).or_insert_with(|| {
                elems.push((inv.key.clone(), v.clone()));
                elems.len() - 1
            })
        };
        Some(match (self.set, inv.f.as_str(), kind) {
            (_, _, OpType::Fail) | (_, "read", OpType::Info) => Role::Never,
            (_, "read", _) if self.set => {
                let items = done.and_then(Value::as_list).unwrap_or(&[]);
                let ids: Vec<usize> = items.iter().map(&mut id).collect();
                self.items.push(ids);
                Role::SetRead
            }
            (_, "read", _) => {
                let v = done.unwrap_or(&Value::Nil);
                Role::RegRead((v != initial).then(|| id(v)))
            }
            (true, "add", _) | (false, "write", _) => Role::Writes(id(&inv.value), None),
            (false, "cas", _) => {
                let pair = inv.value.as_list().filter(|l| l.len() == 2)?;
                let from = (pair[0] != *initial).then(|| id(&pair[0]));
                Role::Writes(id(&pair[1]), from)
            }
            _ => return None,
        })
    }

    /// Adds to `on` every value a kept cas observed, until nothing changes.
    fn close(&self, on: &mut [bool]) {
        let mut changed = true;
        while changed {
            changed = false;
            for r in &self.roles {
                if let Role::Writes(e, Some(f)) = *r {
                    if on[e] && !on[f] {
                        on[f] = true;
                        changed = true;
                    }
                }
            }
        }
    }

    /// Whether call `i` is in the projection onto `on` with the reads in `dropped` left out.
    fn keeps(&self, i: usize, on: &[bool], dropped: &[bool]) -> bool {
        match self.roles[i] {
            Role::Never => false,
            Role::Writes(e, _) => on[e],
            Role::SetRead => !dropped[i],
            Role::RegRead(v) => !dropped[i] && v.is_none_or(|v| on[v]),
        }
    }

    /// The projected history (ops keep their original indices) and the calls it keeps.
    fn project(&self, on: &[bool], dropped: &[bool]) -> (History, Vec<usize>) {
        let mut kept = Vec::new();
        let mut ops: Vec<(usize, Op)> = Vec::new();
        for (i, c) in self.calls.iter().enumerate() {
            if !self.keeps(i, on, dropped) {
                continue;
            }
            kept.push(i);
            ops.push((c.invoke, self.history.ops[c.invoke].clone()));
            if let Some(d) = c.complete {
                let mut op = self.history.ops[d].clone();
                if self.roles[i] == Role::SetRead {
                    if let Some(items) = op.value.as_list() {
                        let mine = items.iter().zip(&self.items[i]).filter(|(_, &e)| on[e]);
                        op.value = Value::List(mine.map(|(v, _)| v.clone()).collect());
                    }
                }
                ops.push((d, op));
            }
        }
        ops.sort_by_key(|(at, _)| *at);
        let ops = ops.into_iter().map(|(_, op)| op).collect();
        (History { header: None, ops }, kept)
    }

    /// The projections to try, in order: pairs two set reads disagree on, every single
    /// element, every pair; each closed, each once.
    fn candidates(&self) -> impl Iterator<Item = Vec<usize>> + '_ {
        let n = self.elems.len();
        self.disagreements()
            .into_iter()
            .chain((0..n).map(|a| vec![a]))
            .chain((0..n).flat_map(move |a| (a + 1..n).map(move |b| vec![a, b])))
    }

    /// For a set: an element of each of two reads the other lacks, for every two reads that
    /// are neighbours when the reads are sorted by size and neither contains the other (the
    /// reads are a chain under inclusion exactly when every such neighbour pair is).
    fn disagreements(&self) -> Vec<Vec<usize>> {
        if !self.set {
            return Vec::new();
        }
        let mut reads: Vec<(&Option<String>, Vec<usize>)> = Vec::new();
        for (i, c) in self.calls.iter().enumerate() {
            if self.roles[i] != Role::SetRead {
                continue;
            }
            let key = &self.history.ops[c.invoke].key;
            let mut items = self.items[i].clone();
            items.sort_unstable();
            items.dedup();
            reads.push((key, items));
        }
        reads.sort_by(|a, b| (a.0, a.1.len()).cmp(&(b.0, b.1.len())));
        let mut out = Vec::new();
        for w in reads.windows(2) {
            let ((k1, r1), (k2, r2)) = (&w[0], &w[1]);
            let a = r1.iter().find(|&&e| r2.binary_search(&e).is_err());
            let b = r2.iter().find(|&&e| r1.binary_search(&e).is_err());
            if let (true, Some(&a), Some(&b)) = (k1 == k2, a, b) {
                out.push(vec![a.min(b), a.max(b)]);
            }
        }
        out
    }

    /// The first refuted projection, with its reads dropped greedily while it stays refuted.
    pub(crate) fn find(&self, trials: &Trials) -> Option<Core> {
        let mut tried: HashSet<Vec<usize>> = HashSet::new();
        let none = vec![false; self.calls.len()];
        for cand in self.candidates() {
            if trials.left() == 0 {
                return None;
            }
            let mut on = vec![false; self.elems.len()];
            for e in cand {
                on[e] = true;
            }
            self.close(&mut on);
            let elems: Vec<usize> = (0..on.len()).filter(|&e| on[e]).collect();
            if !tried.insert(elems) {
                continue;
            }
            if let Some(r) = trials.refuted(&self.project(&on, &none).0) {
                return Some(self.drop_reads(trials, on, r));
            }
        }
        None
    }

    /// Drops kept reads in ever smaller groups while the projection stays refuted.
    fn drop_reads(&self, trials: &Trials, on: Vec<bool>, mut last: CheckResult) -> Core {
        let mut dropped = vec![false; self.calls.len()];
        let reads: Vec<usize> = (0..self.calls.len())
            .filter(|&i| matches!(self.roles[i], Role::SetRead | Role::RegRead(_)))
            .filter(|&i| self.keeps(i, &on, &dropped))
            .collect();
        let mut chunk = reads.len().div_ceil(2).max(1);
        loop {
            for group in reads.chunks(chunk) {
                let group: Vec<usize> = group.iter().copied().filter(|&i| !dropped[i]).collect();
                if group.is_empty() || trials.left() == 0 {
                    continue;
                }
                group.iter().for_each(|&i| dropped[i] = true);
                match trials.refuted(&self.project(&on, &dropped).0) {
                    Some(r) => last = r,
                    None => group.iter().for_each(|&i| dropped[i] = false),
                }
            }
            if chunk == 1 || trials.left() == 0 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        let (history, calls) = self.project(&on, &dropped);
        Core {
            calls,
            elems: (0..on.len()).filter(|&e| on[e]).collect(),
            history,
            result: last,
        }
    }

    /// The core's refutation, rewritten to name the original ops (with their full values).
    pub(crate) fn explain(&self, core: Core) -> CheckResult {
        let mut r = core.result;
        let (what, cut) = if self.set {
            (
                "elements",
                "the adds of other elements left out, every read cut down to these",
            )
        } else {
            (
                "values",
                "the writes of other values and the reads of them left out",
            )
        };
        let elems: Vec<String> = core
            .elems
            .iter()
            .map(|&e| match &self.elems[e] {
                (Some(k), v) => format!("{v} on {k}"),
                (None, v) => v.to_string(),
            })
            .collect();
        let listed = list_calls(self.history, &self.calls, &core.calls);
        let n = self.calls.len();
        let Some(a) = r.anomalies.first_mut() else {
            return r;
        };
        a.ops = core
            .calls
            .iter()
            .map(|&i| self.history.ops[self.calls[i].invoke].index)
            .collect();
        a.explanation = format!(
            "no order that keeps each process's own order allows these {} ops together, even \
             looking only at the {what} {} ({cut}): {listed}. Any order that explained the \
             whole history ({n} ops) would explain these, cut down the same way, so there is \
             none. In the cut-down history, {}",
            core.calls.len(),
            elems.join(", "),
            a.explanation
        );
        a.details = serde_json::json!({
            "projected_onto": elems,
            "projected_history_ops": core.history.ops.len(),
            "search": a.details,
        });
        r.summary = format!("not sequentially consistent: {}", a.explanation);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_tests::hist;
    use crate::check::models;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The core of `lines` under `model`: the original op indices it names, and its history.
    fn core(model: &str, lines: &[&str]) -> Option<(Vec<u64>, History)> {
        let h = hist(lines);
        let m = models::build(model, &Value::Nil).expect("a model");
        let p = Projector::new(model, &h, &Value::Nil).expect("projectable");
        let c = p.find(&Trials::new(m.as_ref(), 0))?;
        let named = c.calls.iter().map(|&i| h.ops[p.calls[i].invoke].index);
        Some((named.collect(), c.history))
    }

    #[test]
    fn two_readers_disagreeing_on_two_adds_shrink_to_four_ops() {
        let lines = [
            "0 invoke add 3",
            "0 ok add 3",
            "2 invoke read nil",
            "2 ok read [3]",
            "0 invoke add 1",
            "0 ok add 1",
            "1 invoke add 2",
            "1 ok add 2",
            "2 invoke read nil",
            "2 ok read [1 3]",
            "3 invoke read nil",
            "3 ok read [2 3]",
            "2 invoke read nil",
            "2 ok read [1 2 3]",
            "3 invoke read nil",
            "3 ok read [1 2 3]",
        ];
        let (named, projected) = core("set", &lines).expect("a core");
        assert_eq!(named, vec![4, 6, 8, 10]);
        // Cut down to the elements 1 and 2: the reads lose 3.
        assert_eq!(projected.ops[5].value, Value::List(vec![Value::Int(1)]));
        assert!(!brute_force(&projected, false));
        assert!(!brute_force(&hist(&lines), false));
    }

    #[test]
    fn a_register_core_keeps_the_writes_its_reads_saw() {
        // p2 sees 1 then 2, p3 sees 2 then 1; 3 and the initial read are beside the point.
        let lines = [
            "5 invoke read nil",
            "5 ok read nil",
            "0 invoke write 1",
            "0 ok write 1",
            "1 invoke write 2",
            "1 ok write 2",
            "4 invoke write 3",
            "4 ok write 3",
            "2 invoke read nil",
            "2 ok read 1",
            "3 invoke read nil",
            "3 ok read 2",
            "4 invoke read nil",
            "4 ok read 3",
            "2 invoke read nil",
            "2 ok read 2",
            "3 invoke read nil",
            "3 ok read 1",
        ];
        let (named, projected) = core("register", &lines).expect("a core");
        assert_eq!(named, vec![2, 4, 8, 10, 14, 16]);
        assert!(!brute_force(&projected, false));
        // A successful cas needs the write it observed: projecting onto 2 keeps the write of 1.
        let lines = [
            "0 invoke write 1",
            "0 ok write 1",
            "1 invoke cas [1 2]",
            "1 ok cas [1 2]",
            "2 invoke read nil",
            "2 ok read 2",
            "2 invoke read nil",
            "2 ok read 1",
        ];
        let (named, _) = core("cas-register", &lines).expect("a core");
        assert_eq!(named, vec![0, 2, 4, 6]);
    }

    #[test]
    fn a_value_written_twice_is_not_projected() {
        let h = hist(&["0 invoke write 1", "0 ok write 1", "1 invoke write 1"]);
        assert!(Projector::new("register", &h, &Value::Nil).is_none());
        assert!(Projector::new("fifo-queue", &h, &Value::Nil).is_none());
    }

    /// Whether some order of `h`'s calls keeps every process's order and is legal for a set
    /// (`set`) or a cas-register starting at nil: every order tried, no memo, no shortcut.
    fn brute_force(h: &History, set: bool) -> bool {
        let mut procs: Vec<(crate::history::Process, Vec<(Op, Op)>)> = Vec::new();
        for c in h.calls() {
            let inv = h.ops[c.invoke].clone();
            let done = c.complete.map_or_else(
                || Op {
                    kind: OpType::Info,
                    ..inv.clone()
                },
                |d| h.ops[d].clone(),
            );
            match procs.iter_mut().find(|(p, _)| *p == inv.process) {
                Some((_, ops)) => ops.push((inv, done)),
                None => procs.push((inv.process, vec![(inv, done)])),
            }
        }
        let procs: Vec<Vec<(Op, Op)>> = procs.into_iter().map(|(_, o)| o).collect();
        let mut pos = vec![0; procs.len()];
        search(&procs, &mut pos, &(Vec::new(), Value::Nil), set)
    }

    /// One call's step from `state` (a set's elements, a register's value), `None` if illegal.
    fn step(
        state: &(Vec<Value>, Value),
        call: &(Op, Op),
        set: bool,
    ) -> Option<(Vec<Value>, Value)> {
        let (inv, done) = call;
        let (mut items, reg) = state.clone();
        let list = |v: &Value| {
            let mut l = v.as_list().unwrap_or(&[]).to_vec();
            l.sort();
            l.dedup();
            l
        };
        match (inv.f.as_str(), done.kind) {
            ("add", _) => {
                if !items.contains(&inv.value) {
                    items.push(inv.value.clone());
                    items.sort();
                }
                Some((items, reg))
            }
            ("read", _) if set => (items == list(&done.value)).then_some((items, reg)),
            ("read", _) => (reg == done.value).then_some((items, reg)),
            ("write", _) => Some((items, inv.value.clone())),
            ("cas", OpType::Fail) => (reg != inv.value.as_list()?[0]).then_some((items, reg)),
            ("cas", _) => {
                let pair = inv.value.as_list()?;
                (reg == pair[0]).then(|| (items, pair[1].clone()))
            }
            _ => None,
        }
    }

    fn search(
        procs: &[Vec<(Op, Op)>],
        pos: &mut [usize],
        state: &(Vec<Value>, Value),
        set: bool,
    ) -> bool {
        if (0..procs.len()).all(|p| pos[p] == procs[p].len()) {
            return true;
        }
        for p in 0..procs.len() {
            let Some(call) = procs[p].get(pos[p]) else {
                continue;
            };
            let kind = call.1.kind;
            let (optional, ignored) = match (call.0.f.as_str(), kind) {
                ("read", OpType::Ok) => (false, false),
                ("read", _) => (true, true),
                ("cas", OpType::Fail) => (false, set),
                (_, OpType::Fail) => (true, true),
                (_, OpType::Info) => (true, false),
                _ => (false, false),
            };
            pos[p] += 1;
            let next = if ignored {
                None
            } else {
                step(state, call, set)
            };
            let found = (optional && search(procs, pos, state, set))
                || next.is_some_and(|s| search(procs, pos, &s, set));
            pos[p] -= 1;
            if found {
                return true;
            }
        }
        false
    }

    /// A small random history: `set` adds and reads over 1..=3, or (not `set`) writes of
    /// unique values, cas and reads over nil..=4; ops of 3 processes, one call at a time.
    fn random_history(rng: &mut StdRng, set: bool) -> History {
        let mut lines: Vec<String> = Vec::new();
        let mut next_value = 1;
        for _ in 0..rng.gen_range(3..=7) {
            let p = rng.gen_range(0..3);
            let kind = ["ok", "ok", "ok", "info", "fail"][rng.gen_range(0..5)];
            let v = |rng: &mut StdRng| match rng.gen_range(0..5) {
                0 => "nil".to_string(),
                v => v.to_string(),
            };
            let (f, arg, ret) = match (set, rng.gen_range(0..3)) {
                (true, 0) => ("add", rng.gen_range(1..=3).to_string(), "nil".into()),
                (true, _) => {
                    let items: Vec<String> = (1..=3)
                        .filter(|_| rng.gen_bool(0.5))
                        .map(|i| i.to_string())
                        .collect();
                    ("read", "nil".into(), format!("[{}]", items.join(" ")))
                }
                (false, 0) => {
                    next_value += 1;
                    ("write", (next_value - 1).to_string(), "nil".into())
                }
                (false, 1) => {
                    next_value += 1;
                    let pair = format!("[{} {}]", v(rng), next_value - 1);
                    ("cas", pair.clone(), pair)
                }
                (false, _) => ("read", "nil".into(), v(rng)),
            };
            let kind = if f == "read" { "ok" } else { kind };
            lines.push(format!("{p} invoke {f} {arg}"));
            lines.push(format!("{p} {kind} {f} {ret}"));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        hist(&lines)
    }

    #[test]
    fn every_core_found_is_invalid_and_so_is_its_history() {
        for set in [true, false] {
            let model = if set { "set" } else { "cas-register" };
            let m = models::build(model, &Value::Nil).expect("a model");
            let mut rng = StdRng::seed_from_u64(7);
            let (mut cores, mut invalid) = (0, 0);
            for _ in 0..400 {
                let h = random_history(&mut rng, set);
                let whole = brute_force(&h, set);
                invalid += usize::from(!whole);
                let Some(p) = Projector::new(model, &h, &Value::Nil) else {
                    continue;
                };
                let Some(c) = p.find(&Trials::new(m.as_ref(), 0)) else {
                    continue;
                };
                cores += 1;
                assert!(!brute_force(&c.history, set), "{model}: {:?}", c.history);
                assert!(!whole, "{model}: a core of a valid history: {:?}", h);
            }
            eprintln!("{model}: a core for {cores} of {invalid} invalid histories");
            // Not vacuous: many of the random histories are invalid, and most get a core.
            assert!(
                invalid >= 50 && cores * 2 >= invalid,
                "{model}: {cores} of {invalid}"
            );
        }
    }
}

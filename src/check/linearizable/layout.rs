//! What the linearizability search knows of one key's ops before it starts, and never changes:
//! dense ids for completed and unknown ops, their positions, the classes of equal unknown ops,
//! and the doubly linked list of call and return nodes the search unlinks ops from (see
//! [`search`](super::search) for how these are used).

use crate::check::linearizable::memo::FxMap;
use crate::check::linearizable::search::{KeyOp, NIL};
use crate::check::model::Model;

/// The frontier (first return position in the list) once completed op `i` is unlinked.
pub(crate) fn frontier_without(head: u32, next: &[u32], i: u32, rets: &[u64]) -> u64 {
    let mut node = next[head as usize];
    while node != NIL {
        if node & 1 == 1 && node / 2 != i {
            return rets[(node / 2) as usize];
        }
        node = next[node as usize];
    }
    u64::MAX
}

/// What the search knows of one key's ops before it starts and never changes: dense ids,
/// positions, the classes of equal unknown ops.
pub(crate) struct Layout<'a, M: Model> {
    pub(crate) ops: &'a [KeyOp<M::Op>],
    /// Completed ops in invoke order (positions in `ops`); an op's dense id is its index here.
    pub(crate) completed: Vec<usize>,
    /// Unknown ops in invoke order (positions in `ops`).
    pub(crate) unknown: Vec<usize>,
    /// Return positions of the completed ops.
    pub(crate) rets: Vec<u64>,
    /// Invoke positions of the unknown ops.
    pub(crate) ucalls: Vec<u64>,
    /// q[i]: completed ops invoked before op i returned.
    pub(crate) q: Vec<usize>,
    /// Classes of equal unknown ops, members (unknown ids) in invoke order.
    pub(crate) members: Vec<Vec<u32>>,
    /// Invoke positions of each class's members.
    pub(crate) member_calls: Vec<Vec<u64>>,
    /// The model's bound on equal unknown ops per run ([`Model::unknown_uses_per_run`]).
    pub(crate) per_run: Option<u32>,
}

impl<'a, M: Model> Layout<'a, M> {
    /// Numbers the ops and groups the unknown ones; `None` when no op completed.
    pub(crate) fn new(model: &M, ops: &'a [KeyOp<M::Op>]) -> Option<Self> {
        let mut completed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_some()).collect();
        completed.sort_by_key(|&i| ops[i].call);
        if completed.is_empty() {
            return None;
        }
        // An unknown op invoked after the last return is never a candidate (the frontier is
        // always some completed op's return), nor counted by any usage: it is left out.
        let last_ret = completed.iter().filter_map(|&i| ops[i].ret).max();
        let mut unknown: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].ret.is_none() && Some(ops[i].call) < last_ret)
            .collect();
        unknown.sort_by_key(|&i| ops[i].call);
        let calls: Vec<u64> = completed.iter().map(|&i| ops[i].call).collect();
        let rets: Vec<u64> = completed
            .iter()
            .map(|&i| ops[i].ret.unwrap_or(u64::MAX))
            .collect();
        let ucalls: Vec<u64> = unknown.iter().map(|&i| ops[i].call).collect();
        let q: Vec<usize> = rets
            .iter()
            .map(|&r| calls.partition_point(|&x| x < r))
            .collect();
        let mut class_of: FxMap<&M::Op, usize> = Default::default();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (u, &i) in unknown.iter().enumerate() {
            let k = *class_of.entry(&ops[i].op).or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
            members[k].push(u as u32);
        }
        let member_calls: Vec<Vec<u64>> = members
            .iter()
            .map(|m| m.iter().map(|&u| ucalls[u as usize]).collect())
            .collect();
        Some(Layout {
            ops,
            completed,
            unknown,
            rets,
            ucalls,
            q,
            members,
            member_calls,
            per_run: model.unknown_uses_per_run(),
        })
    }

    /// The linked list of call (2i) and return (2i+1) nodes in history order, head 2c.
    pub(crate) fn links(&self) -> Links {
        let c = self.completed.len();
        let head = (2 * c) as u32;
        let mut order: Vec<(u64, u32)> = Vec::with_capacity(2 * c);
        for (i, &r) in self.rets.iter().enumerate() {
            order.push((self.ops[self.completed[i]].call, 2 * i as u32));
            order.push((r, 2 * i as u32 + 1));
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
        Links { head, next, prev }
    }

    /// The usage vector stored in the memo, into `out`: how many members of each class are
    /// used (`next_member`), with R = `r` completed ops still to place.
    ///
    /// With a per-run bound b from the model, a class with at least b × R unused members
    /// already invoked before the frontier is "saturated": a shortest completion runs unknown
    /// ops only right before a completed op, uses each class at most b times per run, so it can
    /// never run out of that class. A saturated class is stored as 0 used: it is as good as
    /// unused. Only a class with at most as many members as b × R can be saturated, so while R
    /// is large (most of a long history) the frontier (`frontier`) is not even computed.
    #[inline]
    pub(crate) fn usage(
        &self,
        next_member: &[u32],
        r: u64,
        frontier: impl Fn() -> u64,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        out.extend_from_slice(next_member);
        let Some(b) = self.per_run else {
            return;
        };
        let room = (b as u64).saturating_mul(r);
        let mut f: Option<u64> = None;
        for (k, n) in out.iter_mut().enumerate() {
            if *n == 0 || room > self.member_calls[k].len() as u64 {
                continue;
            }
            let f = *f.get_or_insert_with(&frontier);
            let eligible = self.member_calls[k].partition_point(|&c| c < f) as u64;
            if *n as u64 + room <= eligible {
                *n = 0;
            }
        }
    }
}

/// The doubly linked list of the call and return nodes not yet linearized.
pub(crate) struct Links {
    pub(crate) head: u32,
    pub(crate) next: Vec<u32>,
    pub(crate) prev: Vec<u32>,
}

impl Links {
    /// Takes `node` out of the list.
    #[inline]
    pub(crate) fn unlink(&mut self, node: u32) {
        let (a, b) = (self.prev[node as usize], self.next[node as usize]);
        self.next[a as usize] = b;
        if b != NIL {
            self.prev[b as usize] = a;
        }
    }

    /// Puts `node` back where it was (the reverse of [`Links::unlink`]).
    #[inline]
    pub(crate) fn relink(&mut self, node: u32) {
        let (a, b) = (self.prev[node as usize], self.next[node as usize]);
        self.next[a as usize] = node;
        if b != NIL {
            self.prev[b as usize] = node;
        }
    }
}

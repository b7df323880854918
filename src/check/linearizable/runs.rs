//! Whether a run of unknown ops is worth trying from a configuration of the search: only if it
//! can lead to a state where some pending completed op is allowed and ends somewhere it would
//! not end from here (see [`unknown_run_useful`]). Kept apart from the search loop itself.

use crate::check::linearizable::search::NIL;
use crate::check::model::Model;

/// Buffers of [`unknown_run_useful`], kept between calls so that a call allocates nothing.
pub(crate) struct RunScratch<'a, M: Model> {
    eligible: Vec<&'a M::Op>,
    candidates: Vec<(&'a M::Op, Option<M::State>)>,
    seen: Vec<M::State>,
    queue: Vec<M::State>,
}

impl<M: Model> RunScratch<'_, M> {
    pub(crate) fn new() -> Self {
        RunScratch {
            eligible: Vec::new(),
            candidates: Vec::new(),
            seen: Vec::new(),
            queue: Vec::new(),
        }
    }
}

/// Whether some run of the `eligible` unknown ops, each usable any number of times, leads from
/// `state` to a state in which a candidate completed op (a call node before the frontier) is
/// allowed and leads somewhere it does not lead from `state`. Gives up and answers true past a
/// small number of states.
pub(crate) fn unknown_run_useful<'a, M: Model>(
    model: &M,
    state: &M::State,
    head: u32,
    next: &[u32],
    op_of: impl Fn(usize) -> &'a M::Op,
    eligible: impl Iterator<Item = &'a M::Op>,
    scratch: &mut RunScratch<'a, M>,
) -> bool
where
    M::Op: 'a,
{
    const MAX_STATES: usize = 64;
    let RunScratch {
        eligible: elig,
        candidates,
        seen,
        queue,
    } = scratch;
    elig.clear();
    elig.extend(eligible);
    if elig.is_empty() {
        return false;
    }
    candidates.clear();
    let mut node = next[head as usize];
    while node != NIL && node & 1 == 0 {
        let c = op_of((node / 2) as usize);
        candidates.push((c, model.step(state, c)));
        node = next[node as usize];
    }
    seen.clear();
    seen.push(state.clone());
    queue.clear();
    queue.push(state.clone());
    while let Some(x) = queue.pop() {
        for u in elig.iter() {
            let Some(y) = model.step(&x, u) else {
                continue;
            };
            if seen.contains(&y) {
                continue;
            }
            let differs = candidates.iter().any(|(c, here)| match model.step(&y, c) {
                Some(t) => here.as_ref() != Some(&t),
                None => false,
            });
            if differs {
                return true;
            }
            if seen.len() >= MAX_STATES {
                return true;
            }
            seen.push(y.clone());
            queue.push(y);
        }
    }
    false
}

//! Every model's counterexample small enough to read: a long invalid history per model, made by
//! simulating the object with concurrent clients and slipping one anomaly into the middle, must
//! be explained with at most ten ops, and those ops alone (as recorded) must still be invalid.

use ferrocheck::check::{check, CheckOptions, Consistency, Validity};
use ferrocheck::history::{History, Op, OpType, Process, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Most ops an explanation may name.
const READABLE: usize = 10;

/// A sequential object the simulation runs: the next call to make, and its effect (`None`: the
/// call failed and changed nothing).
trait Object {
    fn call(&mut self, rng: &mut StdRng, n: i64) -> (&'static str, Value);
    fn apply(&mut self, f: &str, arg: &Value) -> Option<Value>;
}

/// One call of the anomaly: made by a fresh process, after the previous one completed.
struct Bad {
    f: &'static str,
    arg: Value,
    kind: OpType,
    result: Value,
}

fn bad(f: &'static str, arg: Value, result: Value) -> Bad {
    Bad {
        f,
        arg,
        kind: OpType::Ok,
        result,
    }
}

/// `calls` calls by `clients` clients (a fraction `info` of them `info`), each taking effect at one instant
/// between its invoke and its completion; after the first `calls / 2`, the clients finish and
/// the calls `anomaly` makes of the object run one after another, then the rest.
fn simulate(
    seed: u64,
    calls: usize,
    clients: usize,
    info: f64,
    obj: &mut dyn Object,
    anomaly: &mut dyn FnMut(&mut dyn Object) -> Vec<Bad>,
) -> History {
    #[derive(Clone)]
    enum Client {
        Idle,
        Called(&'static str, Value),
        Done(&'static str, Value, Option<Value>),
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ops: Vec<Op> = Vec::new();
    let mut clock = 0u64;
    let mut push = |ops: &mut Vec<Op>, p: u64, kind, f: &str, value: Value| {
        clock += 1_000_000;
        ops.push(Op {
            index: ops.len() as u64,
            time: clock,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        });
    };
    let mut state = vec![Client::Idle; clients];
    let mut procs: Vec<u64> = (0..clients as u64).collect();
    let mut next_proc = clients as u64;
    let mut started = 0;
    let mut injected = false;
    loop {
        let all_idle = state.iter().all(|c| matches!(c, Client::Idle));
        if all_idle && started >= calls {
            break;
        }
        if all_idle && !injected && started >= calls / 2 {
            injected = true;
            for b in anomaly(obj) {
                let p = next_proc;
                next_proc += 1;
                push(&mut ops, p, OpType::Invoke, b.f, b.arg.clone());
                push(&mut ops, p, b.kind, b.f, b.result);
            }
            continue;
        }
        let c = rng.gen_range(0..clients);
        let p = procs[c];
        match state[c].clone() {
            Client::Idle if started < calls && (injected || started < calls / 2) => {
                started += 1;
                let (f, arg) = obj.call(&mut rng, started as i64);
                push(&mut ops, p, OpType::Invoke, f, arg.clone());
                state[c] = Client::Called(f, arg);
            }
            Client::Idle => {}
            Client::Called(f, arg) => {
                let r = obj.apply(f, &arg);
                state[c] = Client::Done(f, arg, r);
            }
            Client::Done(f, arg, r) => {
                let (kind, value) = match r {
                    _ if rng.gen_bool(info) => (OpType::Info, arg),
                    Some(v) => (OpType::Ok, v),
                    None => (OpType::Fail, arg),
                };
                push(&mut ops, p, kind, f, value);
                if kind == OpType::Info {
                    procs[c] = next_proc;
                    next_proc += 1;
                }
                state[c] = Client::Idle;
            }
        }
    }
    History { header: None, ops }
}

/// The history of only the calls whose invokes have these indices.
fn only(h: &History, invokes: &[u64]) -> History {
    let keep: HashSet<u64> = invokes.iter().copied().collect();
    let mut ops = Vec::new();
    for c in h.calls() {
        if keep.contains(&h.ops[c.invoke].index) {
            ops.push(c.invoke);
            ops.extend(c.complete);
        }
    }
    ops.sort_unstable();
    let mut ops: Vec<Op> = ops.into_iter().map(|i| h.ops[i].clone()).collect();
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    History { header: None, ops }
}

fn opts(model: &str, consistency: Consistency) -> CheckOptions {
    CheckOptions {
        model: Some(model.into()),
        consistency,
        // Far more than any of these needs; an `unknown` fails the test instead of hanging it.
        time_limit: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    }
}

/// Checks that `h` is invalid under `model`, explained with at most [`READABLE`] ops that are
/// still invalid on their own.
fn small_and_invalid(model: &str, consistency: Consistency, h: &History) {
    let o = opts(model, consistency);
    let r = check(h, &o).expect("checkable");
    assert_eq!(r.validity, Validity::Invalid, "{model}: {}", r.summary);
    let a = &r.anomalies[0];
    assert!(
        a.ops.len() <= READABLE,
        "{model}: {} ops named ({} calls in the history): {}",
        a.ops.len(),
        h.calls().len(),
        a.explanation
    );
    let core = only(h, &a.ops);
    let again = check(&core, &o).expect("checkable");
    assert_eq!(
        again.validity,
        Validity::Invalid,
        "{model}: the {} ops named are not invalid alone: {}",
        a.ops.len(),
        a.explanation
    );
}

struct Mutex(bool);
impl Object for Mutex {
    fn call(&mut self, rng: &mut StdRng, _: i64) -> (&'static str, Value) {
        (
            if rng.gen_bool(0.5) {
                "acquire"
            } else {
                "release"
            },
            Value::Nil,
        )
    }
    fn apply(&mut self, f: &str, _: &Value) -> Option<Value> {
        let want = f == "acquire";
        (self.0 != want).then(|| {
            self.0 = want;
            Value::Nil
        })
    }
}

#[test]
fn a_double_acquire_is_two_acquires_and_what_surrounds_them() {
    for seed in 0..3 {
        // No `info` ops: an unknown release may take effect between any two later acquires.
        let h = simulate(seed, 600, 5, 0.0, &mut Mutex(false), &mut |_| {
            vec![
                bad("acquire", Value::Nil, Value::Nil),
                bad("acquire", Value::Nil, Value::Nil),
            ]
        });
        small_and_invalid("mutex", Consistency::Linearizable, &h);
    }
}

#[derive(Default)]
struct Queue(VecDeque<i64>);
impl Object for Queue {
    fn call(&mut self, rng: &mut StdRng, n: i64) -> (&'static str, Value) {
        if rng.gen_bool(0.5) {
            ("enqueue", Value::Int(n))
        } else {
            ("dequeue", Value::Nil)
        }
    }
    fn apply(&mut self, f: &str, arg: &Value) -> Option<Value> {
        if f == "enqueue" {
            if let Value::Int(v) = arg {
                self.0.push_back(*v);
            }
            return Some(arg.clone());
        }
        Some(self.0.pop_front().map_or(Value::Nil, Value::Int))
    }
}

#[test]
fn a_queue_anomaly_is_a_few_ops() {
    for seed in 0..3 {
        // Out of order: b dequeued while a, enqueued before it, is still there.
        let h = simulate(seed, 300, 5, 0.0, &mut Queue::default(), &mut |q| {
            q.apply("enqueue", &Value::Int(-1));
            q.apply("enqueue", &Value::Int(-2));
            vec![
                bad("enqueue", Value::Int(-1), Value::Int(-1)),
                bad("enqueue", Value::Int(-2), Value::Int(-2)),
                bad("dequeue", Value::Nil, Value::Int(-2)),
            ]
        });
        small_and_invalid("fifo-queue", Consistency::Linearizable, &h);
    }
}

#[test]
fn an_element_dequeued_twice_is_three_ops() {
    for seed in 0..3 {
        // Twice: the same element dequeued by two clients.
        let h = simulate(seed, 300, 5, 0.0, &mut Queue::default(), &mut |_| {
            vec![
                bad("enqueue", Value::Int(-1), Value::Int(-1)),
                bad("dequeue", Value::Nil, Value::Int(-1)),
                bad("dequeue", Value::Nil, Value::Int(-1)),
            ]
        });
        small_and_invalid("unordered-queue", Consistency::Linearizable, &h);
    }
}

#[derive(Default)]
struct Set(BTreeSet<i64>, bool);
impl Object for Set {
    fn call(&mut self, rng: &mut StdRng, n: i64) -> (&'static str, Value) {
        if rng.gen_bool(0.6) {
            ("add", Value::Int(n))
        } else {
            ("read", Value::Nil)
        }
    }
    fn apply(&mut self, f: &str, arg: &Value) -> Option<Value> {
        if let (true, Value::Int(v)) = (f == "add", arg) {
            self.0.insert(*v);
            return Some(Value::Nil);
        }
        // After the anomaly, reads go on missing the lost element.
        let lost = self.1;
        Some(Value::List(
            self.0
                .iter()
                .filter(|&&v| !(lost && v == -1))
                .map(|&v| Value::Int(v))
                .collect(),
        ))
    }
}

#[test]
fn a_lost_add_is_the_add_and_the_read() {
    for seed in 0..3 {
        let h = simulate(seed, 400, 5, 0.05, &mut Set::default(), &mut |s| {
            let o: &mut dyn Object = s;
            o.apply("add", &Value::Int(-1));
            let read = o.apply("read", &Value::Nil).unwrap_or(Value::Nil);
            let Value::List(items) = read else {
                return vec![];
            };
            let missing = items.into_iter().filter(|v| *v != Value::Int(-1)).collect();
            vec![
                bad("add", Value::Int(-1), Value::Nil),
                bad("read", Value::Nil, Value::List(missing)),
            ]
        });
        small_and_invalid("set", Consistency::Linearizable, &h);
    }
}

struct Counter(i64);
impl Object for Counter {
    fn call(&mut self, rng: &mut StdRng, _: i64) -> (&'static str, Value) {
        if rng.gen_bool(0.5) {
            ("add", Value::Int(rng.gen_range(1..5)))
        } else {
            ("read", Value::Nil)
        }
    }
    fn apply(&mut self, f: &str, arg: &Value) -> Option<Value> {
        if let (true, Value::Int(v)) = (f == "add", arg) {
            self.0 += v;
            return Some(Value::Nil);
        }
        Some(Value::Int(self.0))
    }
}

#[test]
fn a_counter_going_back_is_two_reads() {
    for seed in 0..3 {
        let h = simulate(seed, 600, 5, 0.05, &mut Counter(0), &mut |c| {
            let o: &mut dyn Object = c;
            let now = o.apply("read", &Value::Nil).unwrap_or(Value::Nil);
            let Value::Int(now) = now else { return vec![] };
            vec![
                bad("add", Value::Int(3), Value::Nil),
                bad("read", Value::Nil, Value::Int(now + 3)),
                bad("read", Value::Nil, Value::Int(now + 1)),
            ]
        });
        small_and_invalid("counter", Consistency::Linearizable, &h);
    }
}

/// Two registers x and y written together; reads see both.
#[derive(Default)]
struct Multi(i64, i64);
fn txn(ops: &[(&str, &str, Option<i64>)]) -> Value {
    Value::List(
        ops.iter()
            .map(|(f, r, v)| {
                Value::List(vec![
                    Value::Str((*f).into()),
                    Value::Str((*r).into()),
                    v.map_or(Value::Nil, Value::Int),
                ])
            })
            .collect(),
    )
}
impl Object for Multi {
    fn call(&mut self, rng: &mut StdRng, n: i64) -> (&'static str, Value) {
        if rng.gen_bool(0.5) {
            ("txn", txn(&[("w", "x", Some(n)), ("w", "y", Some(n))]))
        } else {
            ("txn", txn(&[("r", "x", None), ("r", "y", None)]))
        }
    }
    fn apply(&mut self, _: &str, arg: &Value) -> Option<Value> {
        let Value::List(mops) = arg else { return None };
        let mut out = Vec::new();
        for m in mops {
            let Value::List(m) = m else { return None };
            let (f, r) = (m[0].to_string(), m[1].to_string());
            let reg = if r.contains('x') {
                &mut self.0
            } else {
                &mut self.1
            };
            if f.contains('w') {
                if let Value::Int(v) = m[2] {
                    *reg = v;
                }
                out.push(Value::List(m.clone()));
            } else {
                let v = if *reg == 0 {
                    Value::Nil
                } else {
                    Value::Int(*reg)
                };
                out.push(Value::List(vec![m[0].clone(), m[1].clone(), v]));
            }
        }
        Some(Value::List(out))
    }
}

#[test]
fn a_torn_multi_register_read_is_a_few_txns() {
    for seed in 0..3 {
        let h = simulate(seed, 400, 5, 0.05, &mut Multi::default(), &mut |m| {
            let o: &mut dyn Object = m;
            let before = o
                .apply("txn", &txn(&[("r", "y", None)]))
                .unwrap_or(Value::Nil);
            let Value::List(b) = before else {
                return vec![];
            };
            let Value::List(b) = &b[0] else { return vec![] };
            let y = match b[2] {
                Value::Int(v) => Some(v),
                _ => None,
            };
            let w = txn(&[("w", "x", Some(-5)), ("w", "y", Some(-5))]);
            o.apply("txn", &w);
            vec![
                bad("txn", w.clone(), w),
                bad(
                    "txn",
                    txn(&[("r", "x", None), ("r", "y", None)]),
                    txn(&[("r", "x", Some(-5)), ("r", "y", y)]),
                ),
            ]
        });
        small_and_invalid("multi-register", Consistency::Linearizable, &h);
    }
}

#[test]
fn a_sequential_violation_the_search_finds_is_shrunk() {
    for seed in 0..2 {
        // Two readers disagree on which of two adds came first: no order of all ops, whatever
        // it does with real time, allows both reads.
        let h = simulate(seed, 120, 3, 0.0, &mut Set::default(), &mut |s| {
            let o: &mut dyn Object = s;
            let Some(Value::List(now)) = o.apply("read", &Value::Nil) else {
                return vec![];
            };
            let with = |v: i64| {
                let mut items = now.clone();
                items.push(Value::Int(v));
                Value::List(items)
            };
            o.apply("add", &Value::Int(-1));
            o.apply("add", &Value::Int(-2));
            vec![
                bad("add", Value::Int(-1), Value::Nil),
                bad("add", Value::Int(-2), Value::Nil),
                bad("read", Value::Nil, with(-1)),
                bad("read", Value::Nil, with(-2)),
            ]
        });
        small_and_invalid("set", Consistency::Sequential, &h);
        let r = check(&h, &opts("set", Consistency::Sequential)).expect("checkable");
        eprintln!(
            "seed {seed}: {} ops named of {} calls",
            r.anomalies[0].ops.len(),
            h.calls().len()
        );
    }
}

/// A long recorded register history (20 clients, 5% `info`) with two readers appended who see
/// two concurrent writes in opposite orders: every read alone is possible, so only a search can
/// refute it, and the search must first get through the whole history.
fn crossed_at_the_end(calls: usize, seed: u64) -> History {
    use ferrocheck::check::synth::{self, SynthOptions};
    let h = synth::history(&SynthOptions {
        calls,
        clients: 20,
        keys: 1,
        info_rate: 0.05,
        values: 5,
        kv: false,
        seed,
    });
    let mut ops = h.ops;
    let mut t = ops.last().map_or(0, |o| o.time);
    let (a, b) = (Value::Int(-1), Value::Int(-2));
    let (w1, w2, r1, r2) = (1 << 30, (1 << 30) + 1, (1 << 30) + 2, (1 << 30) + 3);
    let crossed = [
        (w1, OpType::Invoke, "write", &a),
        (w2, OpType::Invoke, "write", &b),
        (r1, OpType::Invoke, "read", &Value::Nil),
        (r1, OpType::Ok, "read", &a),
        (r1, OpType::Invoke, "read", &Value::Nil),
        (r1, OpType::Ok, "read", &b),
        (r2, OpType::Invoke, "read", &Value::Nil),
        (r2, OpType::Ok, "read", &b),
        (r2, OpType::Invoke, "read", &Value::Nil),
        (r2, OpType::Ok, "read", &a),
        (w1, OpType::Ok, "write", &a),
        (w2, OpType::Ok, "write", &b),
    ];
    for (p, kind, f, v) in crossed {
        t += 1000;
        ops.push(Op {
            index: ops.len() as u64,
            time: t,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some("k0".into()),
            value: v.clone(),
            error: None,
        });
    }
    History { header: None, ops }
}

#[test]
fn a_violation_after_a_long_history_is_refuted_and_small() {
    // 20,000 calls: long enough that the search reaches its checkpoints, where the violation is
    // refuted on a window instead of exhaustively.
    for (calls, seed) in [(300, 1), (20_000, 2)] {
        small_and_invalid(
            "cas-register",
            Consistency::Linearizable,
            &crossed_at_the_end(calls, seed),
        );
    }
}

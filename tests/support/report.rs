//! Histories and results for the report tests, built by hand so each test reads on its own.
#![allow(dead_code)]

use ferrocheck::check::{Anomaly, CheckResult, Validity};
use ferrocheck::history::{History, Op, OpType, Process, Value};
use ferrocheck::report::RunInfo;

/// Builds a history op by op; indices follow the order of `push`.
#[derive(Default)]
pub struct Builder {
    pub ops: Vec<Op>,
}

impl Builder {
    /// Appends an op and returns its index.
    pub fn push(
        &mut self,
        time_ms: f64,
        process: Process,
        kind: OpType,
        f: &str,
        value: Value,
    ) -> u64 {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time: (time_ms * 1e6) as u64,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        });
        index
    }
    pub fn client(&mut self, t: f64, p: u64, kind: OpType, f: &str, value: Value) -> u64 {
        self.push(t, Process::Client(p), kind, f, value)
    }
    pub fn nemesis(&mut self, t: f64, f: &str, value: Value) -> u64 {
        self.push(t, Process::Nemesis, OpType::Info, f, value)
    }
    pub fn build(self) -> History {
        History {
            header: None,
            ops: self.ops,
        }
    }
}

pub fn run_info(name: &str, workload: &str, nemesis: &str) -> RunInfo {
    RunInfo {
        name: name.into(),
        target: "toy-register".into(),
        workload: workload.into(),
        nemesis: nemesis.into(),
        options: serde_json::json!({"concurrency": 3, "time_limit_s": 10, "rate": 100}),
        command: format!("ferrocheck test --target toy-register --workload {workload} --nemesis {nemesis} --seed 42"),
        start_time: "2026-11-26T04:00:00Z".into(),
        seed: 42,
        history: format!("histories/{name}/history.jsonl").into(),
    }
}

pub fn valid(checker: &str) -> CheckResult {
    CheckResult {
        checker: checker.into(),
        validity: Validity::Valid,
        summary: "all ops linearize".into(),
        anomalies: vec![],
        stats: serde_json::Value::Null,
    }
}

/// A register history: `calls` calls spread over `procs` processes, every 47th call info, every
/// 7th a failed cas, and a partition window over the middle third. Deterministic.
pub fn register_history(calls: usize, procs: u64) -> History {
    let mut b = Builder::default();
    let step = 1.0; // ms between invocations per process
    let total_ms = calls as f64 / procs as f64 * step;
    let mut partition_started = false;
    let mut partition_stopped = false;
    let mut next_proc: Vec<u64> = (0..procs).collect();
    for i in 0..calls {
        let lane = (i as u64) % procs;
        let p = next_proc[lane as usize];
        let t = (i as u64 / procs) as f64 * step + lane as f64 * 0.01;
        if !partition_started && t > total_ms / 3.0 {
            b.nemesis(
                t,
                "start-partition",
                Value::List(vec![Value::Str("n1".into()), Value::Str("n2".into())]),
            );
            partition_started = true;
        }
        if !partition_stopped && t > 2.0 * total_ms / 3.0 {
            b.nemesis(t, "stop-partition", Value::Nil);
            partition_stopped = true;
        }
        let (f, arg) = match i % 3 {
            0 => ("read", Value::Nil),
            1 => ("write", Value::Int((i % 5) as i64)),
            _ => ("cas", Value::List(vec![Value::Int(1), Value::Int(2)])),
        };
        b.client(t, p, OpType::Invoke, f, arg.clone());
        let lat = 0.2 + ((i * 37) % 100) as f64 / 200.0;
        let (kind, value) = if i % 47 == 46 {
            (OpType::Info, Value::Nil)
        } else if i % 7 == 2 {
            (OpType::Fail, arg)
        } else if f == "read" {
            (OpType::Ok, Value::Int((i % 5) as i64))
        } else {
            (OpType::Ok, arg)
        };
        b.client(t + lat, p, kind, f, value);
        if kind == OpType::Info {
            next_proc[lane as usize] += procs;
        }
    }
    // Ops must be in time order, as a recorded history is.
    b.ops.sort_by_key(|o| o.time);
    for (i, o) in b.ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    b.build()
}

/// A small register history that is not linearizable, and the checker's result for it.
pub fn nonlinearizable() -> (History, CheckResult) {
    let mut b = Builder::default();
    let w = b.client(0.0, 0, OpType::Invoke, "write", Value::Int(1));
    b.client(1.0, 0, OpType::Ok, "write", Value::Int(1));
    b.nemesis(1.5, "start-partition", Value::Str("n1 | n2 n3".into()));
    let r = b.client(2.0, 1, OpType::Invoke, "read", Value::Nil);
    let rok = b.client(3.0, 1, OpType::Ok, "read", Value::Int(0));
    b.nemesis(4.0, "stop-partition", Value::Nil);
    let result = CheckResult {
        checker: "linearizable(cas-register)".into(),
        validity: Validity::Invalid,
        summary: "1 key is not linearizable".into(),
        anomalies: vec![Anomaly {
            kind: "nonlinearizable".into(),
            key: Some("k1".into()),
            ops: vec![rok, w],
            explanation: "process 1 read 0 after process 0's write of 1 had completed".into(),
            details: serde_json::json!({
                "longest_linearizable_prefix": [w],
                "states_before_stuck_op": [{"value": 1}],
                "stuck_op": r,
            }),
        }],
        stats: serde_json::json!({"keys": 1}),
    };
    (b.build(), result)
}

/// Two clients hold a lock at once after the first holder was paused, and the mutex result.
pub fn mutex_overlap() -> (History, CheckResult, u64) {
    let mut b = Builder::default();
    b.client(0.0, 0, OpType::Invoke, "acquire", Value::Nil);
    let a0 = b.client(2.0, 0, OpType::Ok, "acquire", Value::Nil);
    let pause = b.nemesis(5.0, "pause", Value::Str("client 0".into()));
    b.client(6.0, 1, OpType::Invoke, "acquire", Value::Nil);
    let a1 = b.client(40.0, 1, OpType::Ok, "acquire", Value::Nil);
    b.nemesis(60.0, "resume", Value::Str("client 0".into()));
    b.client(62.0, 0, OpType::Invoke, "release", Value::Nil);
    b.client(63.0, 0, OpType::Ok, "release", Value::Nil);
    b.client(70.0, 1, OpType::Invoke, "release", Value::Nil);
    b.client(71.0, 1, OpType::Ok, "release", Value::Nil);
    let result = CheckResult {
        checker: "mutex".into(),
        validity: Validity::Invalid,
        summary: "2 clients held the lock at once".into(),
        anomalies: vec![Anomaly {
            kind: "mutex-overlap".into(),
            key: None,
            ops: vec![a0, a1, pause],
            explanation: "process 0 still believed it held the lock (it was paused) when process 1 acquired it".into(),
            details: serde_json::json!({"intervals": [[2.0, 62.0], [40.0, 70.0]]}),
        }],
        stats: serde_json::Value::Null,
    };
    (b.build(), result, pause)
}

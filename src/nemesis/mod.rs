//! The nemesis: faults injected into a running target, each undone by a heal that runs on every
//! exit path.
//!
//! Faults are values ([`Fault`]): the controller records each as a pair of history ops with
//! `process: "nemesis"` (an invoke, then `ok` or `info`) so the report can shade fault windows.
//! A [`Nemesis`] applies faults of its kind and heals them; [`Composed`] bundles several, and
//! [`HealGuard`] heals when dropped, so an error or a panic in the run still leaves the machine
//! as it was. Each mechanism has its own file: [`netns`] (a private network per run),
//! [`partition`] (grudges as nftables/iptables rules), [`process`] (pause, resume, kill),
//! [`proxy`] (userspace TCP proxy for packet faults), [`clock`] (an `LD_PRELOAD` clock shim),
//! [`schedule`] (when to inject what, from `nemeses/*.toml`), [`registry`] (fault families to
//! nemeses), and [`cleanup`] (leftovers of a killed run).
//!
//! How a controller wires it in (nodes as child processes, clients as tokio tasks):
//!
//! ```no_run
//! use ferrocheck::nemesis::clock::Clock;
//! use ferrocheck::nemesis::registry::{self, Resources};
//! use ferrocheck::nemesis::schedule::Schedule;
//! use ferrocheck::nemesis::state::{new_run_id, RunRecord};
//! use ferrocheck::nemesis::{cleanup, netns::Network, HealGuard, Nemesis, NodeControl};
//! use ferrocheck::history::OpType;
//! use std::sync::Arc;
//! use std::time::Duration;
//! # fn nodes_of_the_target() -> Arc<dyn NodeControl> { unimplemented!() }
//! # fn main() -> anyhow::Result<()> {
//! cleanup::sweep(Default::default())?; // leftovers of killed runs
//! let record = RunRecord::create(&new_run_id())?; // lives as long as the run
//! let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
//! let net = Network::create(&record, &names)?; // node i listens on 10.77.0.(10+i)
//! let mut clock = Clock::for_run(&record)?;
//! for n in &names {
//!     let mut cmd = net.command_in(n, "/proc/self/exe")?;
//!     clock.configure(&mut cmd, n)?;
//!     // cmd.args(["node", ...]).spawn()?
//! }
//! let schedule = Schedule::load("all")?;
//! let plan = schedule.plan(&names, 42, Duration::from_secs(60))?;
//! let mut nemesis = HealGuard::new(registry::build(&schedule, Resources {
//!     network: Some(&net),
//!     nodes: nodes_of_the_target(),
//!     record: Some(&record),
//!     clock: Some(clock),
//!     proxies: Vec::new(),
//! })?);
//! let _inside = net.enter_client()?; // then build the tokio runtime on this thread
//! for step in &plan {
//!     // wait until step.at, then:
//!     let _invoke = step.fault.op(OpType::Invoke, None); // append to the history
//!     let result = nemesis.invoke(&step.fault);
//!     let kind = if result.is_ok() { OpType::Ok } else { OpType::Info };
//!     let _done = step.fault.op(kind, Some(&result)); // append to the history
//! }
//! nemesis.heal()?; // the guard heals again on drop, whatever happens
//! # Ok(()) }
//! ```

use crate::history::{Op, OpType, Process, Value};
use std::ops::{Deref, DerefMut};

pub use family::FaultFamily;

pub mod cleanup;
pub mod clock;
pub mod family;
pub mod netns;
pub mod partition;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod schedule;
pub mod state;
pub mod tools;

pub use partition::{Grudge, Partition};

/// What can go wrong while injecting or healing a fault.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The machine cannot do this fault; `why` says what to do about it.
    #[error("{what} unavailable: {why}")]
    Unavailable {
        /// The fault or mechanism.
        what: String,
        /// Why, and what to install or change.
        why: String,
    },
    /// A system tool failed.
    #[error("`{command}` failed: {detail}")]
    Tool {
        /// The command line.
        command: String,
        /// Its exit status and stderr.
        detail: String,
    },
    /// Sending to the run network could reach something outside the machine: refuse.
    #[error("unsafe network, refusing to run: {0}")]
    UnsafeRoute(String),
    /// A file or system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A fault named a node the nemesis does not know.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// A bad schedule, fault or argument.
    #[error("{0}")]
    Invalid(String),
}

/// Packet faults on every link of the userspace proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketFaults {
    /// Added one-way delay, milliseconds.
    pub delay_ms: u64,
    /// Extra random delay, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability that a forwarded chunk is lost (which resets its TCP connection).
    pub drop: f64,
}

/// One fault, or the end of one, as a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Start a network partition.
    StartPartition(Partition),
    /// Heal the network partition.
    StopPartition,
    /// SIGSTOP these nodes' processes.
    Pause(Vec<String>),
    /// SIGCONT these nodes (empty: every paused node).
    Resume(Vec<String>),
    /// SIGKILL these nodes' processes.
    Kill(Vec<String>),
    /// Restart these killed nodes (empty: every killed node).
    Start(Vec<String>),
    /// Move these nodes' wall clocks by `ms` (added to any offset they have).
    ClockBump {
        /// The nodes.
        nodes: Vec<String>,
        /// Milliseconds, may be negative.
        ms: i64,
    },
    /// Make these nodes' wall clocks jump back and forth by `delta_ms` every `period_ms`.
    ClockStrobe {
        /// The nodes.
        nodes: Vec<String>,
        /// Size of the jump, milliseconds.
        delta_ms: i64,
        /// How long each phase lasts, milliseconds.
        period_ms: u64,
    },
    /// Put these nodes' clocks back to real time (empty: every node).
    ClockReset(Vec<String>),
    /// Start packet faults on the proxy links.
    StartPacket(PacketFaults),
    /// Stop packet faults.
    StopPacket,
}

fn names(nodes: &[String]) -> Value {
    Value::List(nodes.iter().map(|n| Value::Str(n.clone())).collect())
}

impl Fault {
    /// The op's `f`: `start-partition`, `pause`, `clock-bump`, ...
    pub fn f(&self) -> &'static str {
        match self {
            Fault::StartPartition(_) => "start-partition",
            Fault::StopPartition => "stop-partition",
            Fault::Pause(_) => "pause",
            Fault::Resume(_) => "resume",
            Fault::Kill(_) => "kill",
            Fault::Start(_) => "start",
            Fault::ClockBump { .. } => "clock-bump",
            Fault::ClockStrobe { .. } => "clock-strobe",
            Fault::ClockReset(_) => "clock-reset",
            Fault::StartPacket(_) => "start-packet",
            Fault::StopPacket => "stop-packet",
        }
    }

    /// The op's value: the grudge, the nodes, the offset, ...
    pub fn value(&self) -> Value {
        match self {
            Fault::StartPartition(p) => p.value(),
            Fault::StopPartition | Fault::StopPacket => Value::Nil,
            Fault::Pause(n)
            | Fault::Resume(n)
            | Fault::Kill(n)
            | Fault::Start(n)
            | Fault::ClockReset(n) => names(n),
            Fault::ClockBump { nodes, ms } => Value::List(vec![names(nodes), Value::Int(*ms)]),
            Fault::ClockStrobe {
                nodes,
                delta_ms,
                period_ms,
            } => Value::List(vec![
                names(nodes),
                Value::Int(*delta_ms),
                Value::Int(*period_ms as i64),
            ]),
            Fault::StartPacket(p) => Value::List(vec![
                Value::Int(p.delay_ms as i64),
                Value::Int(p.jitter_ms as i64),
                Value::Str(format!("{}", p.drop)),
            ]),
        }
    }

    /// The fault family this belongs to.
    pub fn family(&self) -> FaultFamily {
        match self {
            Fault::StartPartition(_) | Fault::StopPartition => FaultFamily::Partition,
            Fault::Pause(_) | Fault::Resume(_) => FaultFamily::Pause,
            Fault::Kill(_) | Fault::Start(_) => FaultFamily::Kill,
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockReset(_) => {
                FaultFamily::Clock
            }
            Fault::StartPacket(_) | Fault::StopPacket => FaultFamily::Packet,
        }
    }

    /// A nemesis history op for this fault (`index` and `time` are for the writer to fill in).
    /// Invoke before applying; `ok` with the nemesis's result value, or `info` with the error.
    pub fn op(&self, kind: OpType, result: Option<&Result<Value, NemesisError>>) -> Op {
        let (value, error) = match result {
            None => (self.value(), None),
            Some(Ok(v)) => (if v.is_nil() { self.value() } else { v.clone() }, None),
            Some(Err(e)) => (self.value(), Some(e.to_string())),
        };
        Op {
            index: 0,
            time: 0,
            process: Process::Nemesis,
            kind,
            f: self.f().to_owned(),
            key: None,
            value,
            error,
        }
    }
}

/// A fault injector of one kind (or several, see [`Composed`]).
pub trait Nemesis: Send {
    /// The family name (`partition`, `pause`, ...).
    fn name(&self) -> &str;
    /// True when this nemesis applies `fault`.
    fn handles(&self, fault: &Fault) -> bool;
    /// Applies `fault`; the value says what was done (recorded as the completion's value).
    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError>;
    /// Undoes every fault this nemesis applied. Safe to call at any time, more than once.
    fn heal(&mut self) -> Result<(), NemesisError>;
}

/// Several nemeses behind one: a fault goes to the first that handles it; heal heals all.
#[derive(Default)]
pub struct Composed {
    members: Vec<Box<dyn Nemesis>>,
}

impl Composed {
    /// A composition of `members`.
    pub fn new(members: Vec<Box<dyn Nemesis>>) -> Composed {
        Composed { members }
    }

    /// Adds a member.
    pub fn push(&mut self, member: Box<dyn Nemesis>) {
        self.members.push(member);
    }
}

impl Nemesis for Composed {
    fn name(&self) -> &str {
        "composed"
    }

    fn handles(&self, fault: &Fault) -> bool {
        self.members.iter().any(|m| m.handles(fault))
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match self.members.iter_mut().find(|m| m.handles(fault)) {
            Some(m) => m.invoke(fault),
            None => Err(NemesisError::Unavailable {
                what: format!("fault {}", fault.f()),
                why: "no nemesis of this run handles it (is its family in the schedule?)".into(),
            }),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        let mut first = None;
        for m in &mut self.members {
            if let Err(e) = m.heal() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Owns a nemesis and heals it when dropped, on every exit path (return, `?`, panic).
pub struct HealGuard<N: Nemesis> {
    inner: N,
}

impl<N: Nemesis> HealGuard<N> {
    /// Guards `nemesis`.
    pub fn new(nemesis: N) -> HealGuard<N> {
        HealGuard { inner: nemesis }
    }
}

impl<N: Nemesis> Deref for HealGuard<N> {
    type Target = N;
    fn deref(&self) -> &N {
        &self.inner
    }
}

impl<N: Nemesis> DerefMut for HealGuard<N> {
    fn deref_mut(&mut self) -> &mut N {
        &mut self.inner
    }
}

impl<N: Nemesis> Drop for HealGuard<N> {
    fn drop(&mut self) {
        if let Err(e) = self.inner.heal() {
            eprintln!("ferrocheck: healing {} failed: {e}", self.inner.name());
        }
    }
}

/// Where a nemesis finds a node's process and how it restarts one. The controller implements it
/// over its target.
pub trait NodeControl: Send + Sync {
    /// The node's process id while it runs.
    fn pid(&self, node: &str) -> Option<u32>;
    /// Starts node `node` again after a kill.
    fn restart(&self, node: &str) -> anyhow::Result<()>;
}

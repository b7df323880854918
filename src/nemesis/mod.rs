//! The nemesis: faults injected into a running target, each undone by a heal that runs on every
//! exit path.
//!
//! Faults are values ([`Fault`]): the controller records each as a pair of history ops with
//! `process: "nemesis"` (an invoke, then `ok` or `info`) so the report can shade fault windows.
//! A [`Nemesis`] applies faults of its kind and heals them; [`Composed`] bundles several, and
//! [`HealGuard`] heals when dropped, so an error or a panic in the run still leaves the machine
//! as it was. Each fault family is one file in [`families`] (its name, what it needs, its
//! schedule table, how it draws, applies and heals its faults) and one line in
//! [`registry::FAMILIES`]; the mechanisms they share have their own files: [`netns`] (a private
//! network per run), [`partition`] (grudges as nftables/iptables rules), [`process`] (pause,
//! resume, kill), [`proxy`] (userspace TCP proxy for packet faults), [`clock`] (an `LD_PRELOAD`
//! clock shim); [`schedule`] says when to inject what (from `nemeses/*.toml`), and [`cleanup`]
//! removes the leftovers of a killed run.
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
use std::sync::Arc;

pub use family::FaultFamily;

pub mod cleanup;
pub mod clock;
pub mod families;
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

/// One fault, or the end of one, as its family's typed value: what a [`Fault`] holds. Each
/// family's file defines its own (`PauseFault::Pause(nodes)`, `ClockFault::Bump { .. }`, ...).
pub trait FaultValue: std::any::Any + std::fmt::Debug + Send + Sync {
    /// The family whose nemesis applies it.
    fn family(&self) -> FaultFamily;
    /// The history op's `f`: `start-partition`, `pause`, `clock-bump`, ...
    fn f(&self) -> &'static str;
    /// The history op's value: the grudge, the nodes, the offset, ...
    fn value(&self) -> Value;
    /// True for a fault that ends a fault window (a heal, resume, restart, clock reset).
    fn ends_window(&self) -> bool;
    /// Nodes it takes down on purpose (a kill), so the run does not count their exit as a crash.
    fn takes_down(&self) -> &[String] {
        &[]
    }
}

/// One fault, or the end of one, as a value: a family's [`FaultValue`], shared.
#[derive(Clone, Debug)]
pub struct Fault(Arc<dyn FaultValue>);

impl<T: FaultValue> From<T> for Fault {
    fn from(value: T) -> Fault {
        Fault::new(value)
    }
}

impl PartialEq for Fault {
    fn eq(&self, other: &Fault) -> bool {
        self.family() == other.family() && self.f() == other.f() && self.value() == other.value()
    }
}

impl Fault {
    /// A fault holding `value`.
    pub fn new(value: impl FaultValue) -> Fault {
        Fault(Arc::new(value))
    }

    /// Its family's typed value, when it is a `T` (how a nemesis reads the faults it handles).
    pub fn get<T: FaultValue>(&self) -> Option<&T> {
        let any: &dyn std::any::Any = &*self.0;
        any.downcast_ref::<T>()
    }

    /// The op's `f`: `start-partition`, `pause`, `clock-bump`, ...
    pub fn f(&self) -> &'static str {
        self.0.f()
    }

    /// The op's value: the grudge, the nodes, the offset, ...
    pub fn value(&self) -> Value {
        self.0.value()
    }

    /// The fault family this belongs to.
    pub fn family(&self) -> FaultFamily {
        self.0.family()
    }

    /// True for a fault that ends a fault window (a heal, resume, restart, clock reset).
    pub fn ends_window(&self) -> bool {
        self.0.ends_window()
    }

    /// Nodes it takes down on purpose (a kill).
    pub fn takes_down(&self) -> &[String] {
        self.0.takes_down()
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

    /// The error for a nemesis asked to apply a fault it does not handle.
    pub fn unhandled(&self, nemesis: &str) -> NemesisError {
        NemesisError::Invalid(format!("the {nemesis} nemesis cannot do {}", self.f()))
    }
}

/// The history value of a list of node names.
pub fn node_names(nodes: &[String]) -> Value {
    Value::List(nodes.iter().map(|n| Value::Str(n.clone())).collect())
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

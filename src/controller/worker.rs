//! One client worker: asks its generator for the next request, records the invoke, calls the
//! client under a timeout, records the completion. A call that ends `info` retires the process
//! (Jepsen's rule): the worker goes on under a fresh process id with a fresh client. A throttled
//! worker starts its ops on a schedule (random gaps of the mean the rate asks for) and records
//! how late each start was.

use super::recorder::Recorder;
use super::Phase;
use crate::history::{OpType, Process};
use crate::targets::{Client, ClientFactory, Outcome, Request};
use crate::workload::{Step, WorkerGen};
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A throttled worker further behind its schedule than this skips the missed ops.
const MAX_BACKLOG: Duration = Duration::from_secs(1);

/// What a worker needs to run.
pub struct WorkerCtx {
    /// The worker's number, `0..concurrency`.
    pub worker: usize,
    /// How many workers there are (a retired process `p` continues as `p + concurrency`).
    pub concurrency: usize,
    /// Where events go.
    pub recorder: Arc<Recorder>,
    /// Opens the worker's client, and a new one after a retirement.
    pub clients: Arc<dyn ClientFactory>,
    /// Mean pause between this worker's ops (0 = as fast as possible).
    pub mean_delay: Duration,
    /// Bound on one call; past it the op is `info`.
    pub op_timeout: Duration,
    /// No new op starts after this instant.
    pub deadline: Instant,
    /// Where the schedule of a throttled worker starts (the start of the main phase), so that
    /// workers whose client took a while to connect catch up rather than run late all along.
    pub origin: Instant,
    /// Stop (finish the current op) or abort (abandon it as `info`).
    pub phase: watch::Receiver<Phase>,
}

/// Performs one request as `process` and records both ends. Returns the outcome.
pub async fn call(
    recorder: &Recorder,
    client: &mut dyn Client,
    process: u64,
    req: &Request,
    op_timeout: Duration,
    phase: &mut watch::Receiver<Phase>,
) -> Outcome {
    let p = Process::Client(process);
    recorder.record(
        p,
        OpType::Invoke,
        &req.f,
        req.key.as_deref(),
        req.value.clone(),
        None,
    );
    let outcome = tokio::select! {
        r = tokio::time::timeout(op_timeout, client.invoke(req)) => match r {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Info(format!("timed out after {} ms", op_timeout.as_millis())),
        },
        _ = wait_for(phase, Phase::Abort) => Outcome::Info("interrupted: the run was aborted".into()),
    };
    let (kind, value, error) = match &outcome {
        Outcome::Ok(v) => (OpType::Ok, v.clone(), None),
        Outcome::Fail(e) => (OpType::Fail, req.value.clone(), Some(e.to_string())),
        Outcome::Info(e) => (OpType::Info, req.value.clone(), Some(e.clone())),
    };
    recorder.record(p, kind, &req.f, req.key.as_deref(), value, error);
    outcome
}

/// Resolves once the phase is at least `at_least`.
pub async fn wait_for(phase: &mut watch::Receiver<Phase>, at_least: Phase) {
    let _ = phase.wait_for(|p| *p >= at_least).await;
}

/// Most requests a worker makes after the time limit to finish its work (see
/// [`WorkerGen::finish`]).
const FINISH_STEPS: usize = 4;

/// Runs one worker until the deadline, a stop, or its generator says done, then lets the
/// generator finish what it must (a lock holder releases).
/// Returns an error only when no client could be opened (the run cannot go on).
pub async fn run(
    mut ctx: WorkerCtx,
    mut gen: Box<dyn WorkerGen>,
    mut rng: StdRng,
) -> anyhow::Result<()> {
    let mut process = ctx.worker as u64;
    let mut client = ctx.clients.client(process).await?;
    let mut last: Option<(Request, Outcome)> = None;
    // Throttled runs keep a schedule: op k starts at the sum of k random gaps, however long the
    // ops before it took, so the achieved rate is the asked one while the store keeps up.
    let mut next_at = ctx.origin;
    loop {
        if *ctx.phase.borrow() >= Phase::Stop || Instant::now() >= ctx.deadline {
            break;
        }
        if !wait_turn(&mut ctx, &mut next_at, &mut rng).await || Instant::now() >= ctx.deadline {
            break;
        }
        let req = match gen.next(&mut rng, last.as_ref().map(|(r, o)| (r, o))) {
            Step::Request(r) => r,
            Step::Done => return Ok(()),
        };
        let outcome = call(
            &ctx.recorder,
            client.as_mut(),
            process,
            &req,
            ctx.op_timeout,
            &mut ctx.phase,
        )
        .await;
        if matches!(outcome, Outcome::Info(_)) {
            if *ctx.phase.borrow() >= Phase::Abort {
                return Ok(());
            }
            process += ctx.concurrency as u64;
            client = ctx.clients.client(process).await?;
        }
        last = Some((req, outcome));
    }
    finish(&mut ctx, gen.as_mut(), client.as_mut(), process, last).await;
    Ok(())
}

/// Waits for the next op's turn on a throttled worker's schedule (no wait unthrottled); false
/// when the run stops first.
async fn wait_turn(ctx: &mut WorkerCtx, next_at: &mut Instant, rng: &mut StdRng) -> bool {
    if ctx.mean_delay.is_zero() {
        return true;
    }
    let nanos = ctx.mean_delay.as_nanos() as u64;
    *next_at += Duration::from_nanos(rng.gen_range(0..=2 * nanos));
    tokio::select! {
        _ = tokio::time::sleep_until(*next_at) => {}
        _ = wait_for(&mut ctx.phase, Phase::Stop) => return false,
    }
    let late = Instant::now().saturating_duration_since(*next_at);
    ctx.recorder.lateness.record(late.as_nanos() as u64);
    // After a long stall (a partition, a paused node) start afresh rather than burst.
    if late > MAX_BACKLOG {
        *next_at = Instant::now();
    }
    true
}

/// Time is up: finishes what must not be left half done (a held lock is released), a bounded
/// number of steps, each under the op timeout; an abort skips this.
async fn finish(
    ctx: &mut WorkerCtx,
    gen: &mut dyn WorkerGen,
    client: &mut dyn Client,
    process: u64,
    mut last: Option<(Request, Outcome)>,
) {
    for _ in 0..FINISH_STEPS {
        if *ctx.phase.borrow() >= Phase::Abort {
            break;
        }
        let req = match gen.finish(last.as_ref().map(|(r, o)| (r, o))) {
            Step::Request(r) => r,
            Step::Done => break,
        };
        let outcome = call(
            &ctx.recorder,
            client,
            process,
            &req,
            ctx.op_timeout,
            &mut ctx.phase,
        )
        .await;
        if matches!(outcome, Outcome::Info(_)) {
            break;
        }
        last = Some((req, outcome));
    }
}

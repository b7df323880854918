//! The hand-off that lets a pause catch the lock holder at the moment that matters: after it
//! read the resource and before its write is sent.
//!
//! Looking the holder up and then signalling it is a race: on a loaded machine the nemesis's
//! thread can be descheduled for longer than the holder's whole update, and the SIGSTOP then
//! lands on a worker that already wrote and released, which breaks nothing. So the nemesis
//! *arms* the catch and waits; the next client about to send a holder's write *claims* it with
//! its worker's pid, and holds the write back until that worker is seen stopped (or gone, or a
//! bound passes). The stall therefore always comes before the write, however late either side
//! is scheduled: the worker, continued, does its work and writes what it read before the pause,
//! as a process back from a long GC pause would.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a nemesis waits for a holder to reach its write before it takes the holder as it is.
pub const ARM_WAIT: Duration = Duration::from_secs(2);

/// How long a claiming client holds its write back waiting for its worker to be stopped: the
/// nemesis signals right after the claim, so this passes only if the signal failed.
const STOP_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum State {
    /// No nemesis is waiting.
    #[default]
    Idle,
    /// A nemesis waits for the next holder's write.
    Armed,
    /// A client claimed the catch: this pid is about to be sent its write.
    Caught(u32),
}

/// The catch shared by a target's nemesis and its clients (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct Catch(Arc<(Mutex<State>, Condvar)>);

impl Catch {
    fn state(&self) -> MutexGuard<'_, State> {
        match self.0 .0.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// Arms the catch and blocks (the nemesis's own thread) until a client claims it or `wait`
    /// passes; the pid claimed, if any. The catch is disarmed either way.
    pub fn arm_and_wait(&self, wait: Duration) -> Option<u32> {
        let deadline = Instant::now() + wait;
        let mut state = self.state();
        *state = State::Armed;
        while *state == State::Armed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match self.0 .1.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        let caught = match *state {
            State::Caught(pid) => Some(pid),
            _ => None,
        };
        *state = State::Idle;
        caught
    }

    /// Claims an armed catch for worker `pid`, which holds the lock and is about to be sent its
    /// write; false if no nemesis is waiting.
    pub fn claim(&self, pid: u32) -> bool {
        let mut state = self.state();
        if *state != State::Armed {
            return false;
        }
        *state = State::Caught(pid);
        self.0 .1.notify_all();
        true
    }
}

/// Waits until process `pid` is stopped (or has exited), at most [`STOP_WAIT`]: what a client
/// that claimed the catch does before it sends its write.
pub async fn until_stopped(pid: u32) {
    let deadline = Instant::now() + STOP_WAIT;
    while Instant::now() < deadline {
        match crate::nemesis::process::state(pid) {
            Some('T' | 't' | 'Z' | 'X') | None => return,
            Some(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclaimed_catch_times_out_and_disarms() {
        let c = Catch::default();
        assert_eq!(c.arm_and_wait(Duration::from_millis(20)), None);
        assert!(!c.claim(7), "a catch nobody waits for cannot be claimed");
    }

    #[test]
    fn a_claim_reaches_the_waiting_nemesis_once() {
        let c = Catch::default();
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.arm_and_wait(Duration::from_secs(10)))
        };
        // Claim as soon as the nemesis has armed it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !c.claim(42) {
            assert!(Instant::now() < deadline, "never armed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!c.claim(43), "a caught catch cannot be claimed twice");
        assert_eq!(waiter.join().unwrap(), Some(42));
        assert!(!c.claim(44), "disarmed after the hand-off");
    }

    #[tokio::test]
    async fn a_claiming_client_waits_for_its_worker_to_stop() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            crate::nemesis::process::pause(pid).unwrap();
        });
        until_stopped(pid).await;
        assert_eq!(crate::nemesis::process::state(pid), Some('T'));
        stopper.join().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

//! The clock shim on real programs: `date` and a small C program (clock_gettime, gettimeofday,
//! time) see the skewed wall clock, strobe flips it, reset brings real time back; and, when
//! redis-server is installed, a key with a 10 s TTL expires soon after a +20 s bump.

mod support;

use ferrocheck::nemesis::clock::Clock;
use ferrocheck::nemesis::families::clock::{ClockFault, ClockNemesis};
use ferrocheck::nemesis::Nemesis;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Runs `cmd` configured for `node` and returns its stdout's integers.
fn numbers(clock: &mut Clock, node: &str, mut cmd: Command) -> Vec<i64> {
    clock.configure(&mut cmd, node).unwrap();
    let out = cmd.output().expect("running the program");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|w| w.parse().expect("an integer"))
        .collect()
}

fn date() -> Command {
    let mut c = Command::new("date");
    c.arg("+%s");
    c
}

#[test]
fn date_sees_bump_and_reset() {
    if !available(ferrocheck::nemesis::clock::shim_unavailable()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut clock = Clock::new(dir.path()).unwrap();
    let real = numbers(&mut clock, "n1", date())[0];
    assert!((real - now_s()).abs() <= 2, "no offset: {real}");

    clock.bump("n1", 3_600_000).unwrap();
    let skewed = numbers(&mut clock, "n1", date())[0];
    assert!((skewed - now_s() - 3600).abs() <= 2, "+1 h: {skewed}");
    clock.bump("n1", -7_200_000).unwrap();
    let back = numbers(&mut clock, "n1", date())[0];
    assert!((back - now_s() + 3600).abs() <= 2, "-1 h: {back}");

    // Another node's clock is untouched.
    let other = numbers(&mut clock, "n2", date())[0];
    assert!((other - now_s()).abs() <= 2);

    clock.reset("n1").unwrap();
    let reset = numbers(&mut clock, "n1", date())[0];
    assert!((reset - now_s()).abs() <= 2, "after reset: {reset}");
}

const PROGRAM: &str = r#"
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int loops = argc > 1 ? 40 : 1;
    for (int i = 0; i < loops; i++) {
        struct timespec ts; struct timeval tv;
        clock_gettime(CLOCK_REALTIME, &ts);
        gettimeofday(&tv, NULL);
        printf("%ld %ld %ld\n", (long)ts.tv_sec, (long)tv.tv_sec, (long)time(NULL));
        fflush(stdout);
        if (argc > 1) usleep(10000);
    }
    return 0;
}
"#;

#[test]
fn c_program_sees_skew_in_every_call_and_strobe() {
    if !available(ferrocheck::nemesis::clock::shim_unavailable()) || !tool_available("cc", "gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.c");
    let bin = dir.path().join("t");
    std::fs::write(&src, PROGRAM).unwrap();
    let st = Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let mut clock = Clock::new(&dir.path().join("clock")).unwrap();
    let mut nem = ClockNemesis::new(Clock::new(dir.path()).unwrap());

    clock.bump("n1", 86_400_000).unwrap();
    let v = numbers(&mut clock, "n1", Command::new(&bin));
    assert_eq!(v.len(), 3);
    for t in &v {
        assert!(
            (t - now_s() - 86_400).abs() <= 2,
            "+1 day in every call: {v:?}"
        );
    }

    clock.reset("n1").unwrap();
    clock.strobe("n1", 100_000, 50).unwrap();
    let mut cmd = Command::new(&bin);
    cmd.arg("loop");
    let v = numbers(&mut clock, "n1", cmd);
    let now = now_s();
    let high = v.iter().filter(|t| (**t - now - 100).abs() <= 3).count();
    let low = v.iter().filter(|t| (**t - now).abs() <= 3).count();
    assert_eq!(high + low, v.len(), "only real and real+100 s: {v:?}");
    assert!(high > 0 && low > 0, "strobe shows both: {v:?}");

    // Through the nemesis: bump, then heal back to real time.
    let node_clock = nem.clock_mut();
    let _ = node_clock.env("n3", None).unwrap();
    nem.invoke(
        &ClockFault::Bump {
            nodes: vec!["n3".into()],
            ms: 10_000_000,
        }
        .into(),
    )
    .unwrap();
    let v = numbers(nem.clock_mut(), "n3", date());
    assert!((v[0] - now_s() - 10_000).abs() <= 2, "{v:?}");
    nem.heal().unwrap();
    let v = numbers(nem.clock_mut(), "n3", date());
    assert!((v[0] - now_s()).abs() <= 2, "{v:?}");
}

/// Kills redis-server when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("running redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn redis_key_expires_after_a_forward_bump() {
    if !available(ferrocheck::nemesis::clock::shim_unavailable())
        || !tool_available("redis-server", "redis-server")
        || !tool_available("redis-cli", "redis-tools")
    {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut clock = Clock::new(dir.path()).unwrap();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null());
    clock.configure(&mut cmd, "n1").unwrap();
    let _server = Server(cmd.spawn().expect("starting redis-server"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis_cli(port, &["PING"]) != "PONG" {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not answer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(redis_cli(port, &["SET", "k", "v", "PX", "10000"]), "OK");
    assert_eq!(redis_cli(port, &["GET", "k"]), "v");
    let bumped = std::time::Instant::now();
    clock.bump("n1", 20_000).unwrap();
    while redis_cli(port, &["GET", "k"]) == "v" {
        assert!(
            bumped.elapsed() < Duration::from_secs(1),
            "a 10 s key must expire within 1 s of a +20 s bump"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

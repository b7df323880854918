//! The recorded histories in `histories/examples/` keep their known verdicts: `ferrocheck check`
//! on each exits with the code its README promises and names the anomaly it shows. They were
//! recorded by real runs (the commands are in that README); nothing here starts a server.

use std::path::PathBuf;
use std::process::Command;

mod support;

use support::BIN;

/// Each example: file name, expected exit code, anomaly kinds the output must name.
const EXAMPLES: &[(&str, i32, &[&str])] = &[
    (
        "redis-lock-lease-overlap.jsonl",
        1,
        &["mutex-overlap", "lost-update"],
    ),
    ("redis-lock-fenced.jsonl", 0, &[]),
    ("lww-kv-stale-read.jsonl", 1, &["nonlinearizable"]),
    (
        "redlock-clock-jump-overlap.jsonl",
        1,
        &["mutex-overlap", "lost-update"],
    ),
    (
        "primary-backup-lost-write.jsonl",
        1,
        &["nonlinearizable", "lost-update"],
    ),
];

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("histories/examples")
}

#[test]
fn every_example_keeps_its_verdict() {
    for (file, code, kinds) in EXAMPLES {
        let path = examples().join(file);
        let out = Command::new(BIN)
            .arg("check")
            .arg(&path)
            .output()
            .expect("run ferrocheck check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let what = format!(
            "{file}: exit {:?}\n{stdout}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(*code), "{what}");
        for kind in *kinds {
            assert!(
                stdout.contains(&format!("  {kind}: ")),
                "{kind} missing: {what}"
            );
        }
        if *code == 0 {
            assert!(stdout.contains("\tvalid\t"), "{what}");
            assert!(!stdout.contains("\tinvalid\t"), "{what}");
        }
    }
}

#[test]
fn every_example_is_listed_in_the_readme_and_small() {
    let readme = std::fs::read_to_string(examples().join("README.md")).expect("examples README");
    let mut on_disk: Vec<String> = std::fs::read_dir(examples())
        .expect("examples folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = EXAMPLES.iter().map(|(f, _, _)| f.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested, "every example file has a test entry");
    for (file, _, _) in EXAMPLES {
        assert!(readme.contains(file), "{file} not in the README");
        let len = std::fs::metadata(examples().join(file))
            .expect("example")
            .len();
        assert!(len < 200_000, "{file} is {len} bytes; keep examples small");
    }
}

#[test]
fn check_takes_every_example_at_once() {
    let mut cmd = Command::new(BIN);
    cmd.arg("check");
    for (file, _, _) in EXAMPLES {
        cmd.arg(examples().join(file));
    }
    let out = cmd.output().expect("run ferrocheck check");
    // The worst verdict decides: some examples fail.
    assert_eq!(out.status.code(), Some(1), "{:?}", out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (file, _, _) in EXAMPLES {
        assert!(stdout.contains(file), "{file} missing from {stdout}");
    }
}

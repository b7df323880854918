//! Every history of the public Porcupine corpus, checked through the `ferrocheck` binary with
//! nothing but the file on the command line, must get the verdict Porcupine's own tests assert
//! (`expected.tsv`; the one file without a verdict is empty and so valid).

mod support;

use support::{available, BIN};

use std::path::PathBuf;
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine");
    if dir.join("expected.tsv").is_file() {
        return Some(dir);
    }
    let why = format!(
        "the Porcupine corpus is not at {} (expected.tsv missing)",
        dir.display()
    );
    available(Some(why));
    None
}

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["jepsen", "kv"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_file_gets_the_expected_verdict() {
    let Some(dir) = corpus_dir() else { return };
    let expected: std::collections::HashMap<String, bool> =
        std::fs::read_to_string(dir.join("expected.tsv"))
            .expect("read expected.tsv")
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, v)| (p.to_string(), v.trim() == "true"))
            .collect();
    let all = files(&dir);
    assert!(all.len() >= expected.len(), "fewer files than verdicts");
    let mut wrong = Vec::new();
    for path in &all {
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // No verdict in the table: only the empty file, which is trivially valid.
        let want_valid = match expected.get(&rel) {
            Some(v) => *v,
            None => {
                assert_eq!(
                    std::fs::metadata(path).unwrap().len(),
                    0,
                    "{rel} has no verdict in expected.tsv and is not empty"
                );
                true
            }
        };
        let out = Command::new(BIN)
            .arg("check")
            .arg(path)
            .output()
            .expect("run ferrocheck");
        let code = out.status.code();
        let want = if want_valid { 0 } else { 1 };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = stdout.lines().next().and_then(|l| l.split('\t').nth(3));
        let want_word = if want_valid { "valid" } else { "invalid" };
        if code != Some(want) || verdict != Some(want_word) {
            wrong.push(format!(
                "{rel}: expected {want_word} (exit {want}), got exit {code:?}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

//! The target file format (`targets/*.toml`): how to start a user's server and talk to it.
//!
//! A file names the system, the node count, the command that starts one node (with
//! placeholders such as `{port}`), the protocol clients speak (`resp`, `http-json`,
//! `maelstrom`), how to tell a node is ready, optional op templates (`[ops]`) and which error
//! replies mean what for the history (`[replies.NAME]`). [`TargetFile::parse`] checks all of
//! it up front and refuses a bad file with `file:line: what was expected`.

use crate::toml_file::{FileError, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Placeholders a node's command (and a `ready` command) may use.
pub const COMMAND_PLACEHOLDERS: &[&str] = &[
    "node",
    "host",
    "port",
    "peers",
    "data_dir",
    "index",
    "nodes",
    "target_dir",
    "ferrocheck",
];
/// Placeholders an op template may use.
/// (`from`, `to`: a cas's `[from, to]` or a transfer's accounts; `accounts`, `balance`: a bank
/// init's `[accounts, balance]`; `amount`: a transfer's third element.)
pub const OP_PLACEHOLDERS: &[&str] = &[
    "key", "value", "from", "to", "accounts", "balance", "amount",
];

/// Which protocol clients speak to the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Redis's protocol: each op is a command (`GET key`, `SET key value`, `CAS key from to`).
    Resp,
    /// Each op is an HTTP request with a JSON body; the value is found by a JSON pointer.
    HttpJson,
    /// The node speaks Maelstrom's JSON-lines protocol on stdin/stdout (`--bin` mode).
    Maelstrom,
}

impl Protocol {
    /// The name as a file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Resp => "resp",
            Protocol::HttpJson => "http-json",
            Protocol::Maelstrom => "maelstrom",
        }
    }
}

/// How the harness tells that a node is ready.
#[derive(Clone, Debug, PartialEq)]
pub enum Ready {
    /// Its port accepts a TCP connection.
    Tcp,
    /// It answers a protocol-level ping (RESP `PING` → `+PONG`; HTTP: the `ping` op, or
    /// `GET /`, answers with any status below 500).
    Ping,
    /// This command (placeholders expanded) exits with status 0.
    Command(Vec<String>),
}

/// What an error reply means for the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Meaning {
    /// It certainly did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

/// One reply that a `[replies.NAME]` table recognises.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Match {
    /// An HTTP status code.
    Status(u16),
    /// The start of a RESP error reply (`NOTLEADER`, `ERR compare`).
    Text(String),
}

/// A rule from `[replies.NAME]`: replies that match become `meaning`, with error `NAME`
/// (dashes as spaces, so `compare-failed` is the checker's "compare failed").
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyRule {
    /// The error recorded in the history.
    pub error: String,
    /// The replies it covers.
    pub matches: Vec<Match>,
    /// Fail or info.
    pub meaning: Meaning,
}

/// One HTTP op template.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOp {
    /// `GET`, `PUT`, `POST`, ...
    #[serde(default = "get")]
    pub method: String,
    /// The path, with placeholders (`/kv/{key}`).
    pub path: String,
    /// A JSON body with placeholders (`{"value": {value}}`), each replaced by the JSON of the
    /// value.
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON pointer to the value in the reply (`/value`); reads need one.
    #[serde(default)]
    pub value: Option<String>,
}

fn get() -> String {
    "GET".into()
}

/// A parsed, checked target file.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetFile {
    /// What `--target` says.
    pub name: String,
    /// One line for `ferrocheck list`.
    pub about: String,
    /// Nodes unless `--nodes` says otherwise.
    pub nodes: usize,
    /// The command that starts one node, placeholders unexpanded.
    pub command: Vec<String>,
    /// What clients speak.
    pub protocol: Protocol,
    /// How readiness is probed.
    pub ready: Ready,
    /// How long a node may take to become ready.
    pub ready_timeout: Duration,
    /// The workload it runs when `--workload` is not given.
    pub workload: String,
    /// The node acting as leader, for the `primaries` partition (`None`: leaderless).
    pub primary: Option<String>,
    /// How to get the program, shown when it is not found.
    pub install: Option<String>,
    /// RESP op templates by op name (defaults for read, write, cas filled in).
    pub resp_ops: BTreeMap<String, Vec<String>>,
    /// HTTP op templates by op name.
    pub http_ops: BTreeMap<String, HttpOp>,
    /// Which replies mean what.
    pub replies: Vec<ReplyRule>,
    /// Where the file came from (path or `built-in NAME`).
    pub origin: String,
    /// The folder of the file (`{target_dir}`); the current folder for a built-in.
    pub dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    name: Spanned<String>,
    #[serde(default)]
    about: String,
    nodes: Spanned<usize>,
    command: Spanned<Vec<String>>,
    protocol: Protocol,
    #[serde(default)]
    ready: Option<Spanned<toml::Value>>,
    #[serde(default)]
    ready_timeout: Option<Spanned<f64>>,
    #[serde(default)]
    workload: Option<String>,
    #[serde(default)]
    primary: Option<Spanned<String>>,
    #[serde(default)]
    install: Option<String>,
    #[serde(default)]
    ops: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    replies: BTreeMap<String, Spanned<RawReply>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    #[serde(rename = "match")]
    matches: Vec<Match>,
    #[serde(rename = "means")]
    meaning: Meaning,
}

/// The `{name}` placeholders in `s` (a brace followed by a lowercase word and a closing brace;
/// JSON's `{"...` is not one).
pub fn placeholders(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let word: &str = &rest[..rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(rest.len())];
        if !word.is_empty() && rest[word.len()..].starts_with('}') {
            out.push(word);
        }
    }
    out
}

/// Replaces each `{name}` in `s` by `value(name)` (names it returns `None` for stay as they are).
pub fn expand(s: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = s.to_string();
    for p in placeholders(s) {
        if let Some(v) = value(p) {
            out = out.replace(&format!("{{{p}}}"), &v);
        }
    }
    out
}

impl TargetFile {
    /// Parses and checks a target file.
    pub fn parse(src: &Source, dir: PathBuf) -> Result<TargetFile, FileError> {
        let raw: Raw = src.parse()?;
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(src.at(raw.name.span(), "name must be one word, e.g. \"my-kv\""));
        }
        if *raw.nodes.get_ref() == 0 {
            return Err(src.at(raw.nodes.span(), "nodes must be at least 1"));
        }
        let command = raw.command.get_ref().clone();
        if command.is_empty() || command[0].is_empty() {
            return Err(src.at(
                raw.command.span(),
                "command must name a program, e.g. [\"./my-kv\", \"--port\", \"{port}\"]",
            ));
        }
        let allowed: &[&str] = if raw.protocol == Protocol::Maelstrom {
            // Maelstrom nodes learn their id and peers from the init message.
            &["target_dir", "ferrocheck"]
        } else {
            COMMAND_PLACEHOLDERS
        };
        check_placeholders(src, raw.command.span(), &command, allowed, "command")?;
        let ready = match &raw.ready {
            None => Ready::Tcp,
            Some(v) => match v.get_ref() {
                toml::Value::String(s) if s == "tcp" => Ready::Tcp,
                toml::Value::String(s) if s == "ping" => Ready::Ping,
                toml::Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_str()) => {
                    let cmd: Vec<String> = a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    check_placeholders(src, v.span(), &cmd, COMMAND_PLACEHOLDERS, "ready")?;
                    Ready::Command(cmd)
                }
                _ => {
                    return Err(src.at(
                        v.span(),
                        "ready must be \"tcp\", \"ping\" or a command such as [\"./probe\", \"{host}:{port}\"]",
                    ))
                }
            },
        };
        let ready_timeout = match &raw.ready_timeout {
            None => Duration::from_secs(10),
            Some(t) => Duration::try_from_secs_f64(*t.get_ref())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    src.at(
                        t.span(),
                        "ready-timeout must be a positive number of seconds",
                    )
                })?,
        };
        let primary = match &raw.primary {
            None => None,
            Some(p) => {
                let n: Option<usize> = p.get_ref().strip_prefix('n').and_then(|i| i.parse().ok());
                if !n.is_some_and(|n| n >= 1 && n <= *raw.nodes.get_ref()) {
                    return Err(src.at(
                        p.span(),
                        format!("primary must name a node, n1 to n{}", raw.nodes.get_ref()),
                    ));
                }
                Some(p.get_ref().clone())
            }
        };
        let mut resp_ops = BTreeMap::new();
        let mut http_ops = BTreeMap::new();
        if raw.protocol == Protocol::Resp {
            for (op, words) in [
                ("read", &["GET", "{key}"][..]),
                ("write", &["SET", "{key}", "{value}"]),
                ("cas", &["CAS", "{key}", "{from}", "{to}"]),
            ] {
                resp_ops.insert(
                    op.to_string(),
                    words.iter().map(|w| w.to_string()).collect(),
                );
            }
        }
        for (op, v) in &raw.ops {
            match raw.protocol {
                Protocol::Resp => {
                    let words: Option<Vec<String>> = v.get_ref().as_array().and_then(|a| {
                        a.iter().map(|x| x.as_str().map(str::to_string)).collect()
                    });
                    let words = words.filter(|w| !w.is_empty()).ok_or_else(|| {
                        src.at(
                            v.span(),
                            format!("ops.{op} must be a command, an array of strings such as [\"GET\", \"{{key}}\"]"),
                        )
                    })?;
                    check_placeholders(src, v.span(), &words, OP_PLACEHOLDERS, &format!("ops.{op}"))?;
                    resp_ops.insert(op.clone(), words);
                }
                Protocol::HttpJson => {
                    let h = HttpOp::deserialize(v.get_ref().clone()).map_err(|e| {
                        src.at(
                            v.span(),
                            format!(
                                "ops.{op} must be a table {{ method = \"PUT\", path = \"/kv/{{key}}\", body = '{{\"value\": {{value}}}}', value = \"/value\" }}: {e}"
                            ),
                        )
                    })?;
                    check_http_op(src, v.span(), op, &h)?;
                    http_ops.insert(op.clone(), h);
                }
                Protocol::Maelstrom => {
                    return Err(src.at(
                        v.span(),
                        "a maelstrom target has no [ops]: the workload's messages are fixed by the protocol",
                    ))
                }
            }
        }
        if raw.protocol == Protocol::HttpJson {
            for op in ["read", "write"] {
                if !http_ops.contains_key(op) {
                    return Err(src.whole(format!(
                        "an http-json target needs [ops.{op}] (method, path, body, value)"
                    )));
                }
            }
            if http_ops.get("read").is_some_and(|r| r.value.is_none()) {
                return Err(src.at(
                    raw.ops["read"].span(),
                    "ops.read needs value = a JSON pointer to the value in the reply, e.g. \"/value\"",
                ));
            }
        }
        let mut replies = Vec::new();
        if raw.protocol == Protocol::Resp && !raw.replies.contains_key("not-applied") {
            // The toy stores' way of saying "certainly not done".
            replies.push(ReplyRule {
                error: "not applied".into(),
                matches: vec![Match::Text(crate::node::NOT_APPLIED.into())],
                meaning: Meaning::Fail,
            });
        }
        for (name, r) in &raw.replies {
            for m in &r.get_ref().matches {
                let fits = match (raw.protocol, m) {
                    (Protocol::HttpJson, Match::Status(s)) => (100..600).contains(s),
                    (Protocol::Resp, Match::Text(t)) => !t.is_empty(),
                    _ => false,
                };
                if !fits {
                    return Err(src.at(
                        r.span(),
                        format!(
                            "replies.{name}: match takes {} for a {} target",
                            if raw.protocol == Protocol::HttpJson {
                                "HTTP status codes such as [409]"
                            } else {
                                "the starts of error replies such as [\"NOTLEADER\"]"
                            },
                            raw.protocol.name()
                        ),
                    ));
                }
            }
            replies.push(ReplyRule {
                error: name.replace('-', " "),
                matches: r.get_ref().matches.clone(),
                meaning: r.get_ref().meaning,
            });
        }
        Ok(TargetFile {
            name,
            about: raw.about,
            nodes: *raw.nodes.get_ref(),
            command,
            protocol: raw.protocol,
            ready,
            ready_timeout,
            workload: raw.workload.unwrap_or_else(|| "register".into()),
            primary,
            install: raw.install,
            resp_ops,
            http_ops,
            replies,
            origin: src.origin.clone(),
            dir,
        })
    }

    /// True when its `[ops]` name commands for the data-type workload `workload` (`set-add`,
    /// `bank-transfer`, ...: entries that start with `workload-`).
    pub fn has_ops_for(&self, workload: &str) -> bool {
        let prefix = format!("{workload}-");
        self.resp_ops.keys().any(|op| op.starts_with(&prefix))
    }

    /// The ops clients can perform on it (`read`, `write`, `cas`, ...).
    pub fn ops(&self) -> Vec<&str> {
        match self.protocol {
            Protocol::Resp => self.resp_ops.keys().map(String::as_str).collect(),
            Protocol::HttpJson => self.http_ops.keys().map(String::as_str).collect(),
            Protocol::Maelstrom => Vec::new(),
        }
    }

    /// The rule for an error reply or status, if any.
    pub fn rule_for(&self, reply: &Match) -> Option<&ReplyRule> {
        self.replies.iter().find(|r| {
            r.matches.iter().any(|m| match (m, reply) {
                (Match::Status(a), Match::Status(b)) => a == b,
                (Match::Text(a), Match::Text(b)) => b.starts_with(a.as_str()),
                _ => false,
            })
        })
    }
}

fn check_placeholders(
    src: &Source,
    span: std::ops::Range<usize>,
    words: &[String],
    allowed: &[&str],
    what: &str,
) -> Result<(), FileError> {
    for w in words {
        for p in placeholders(w) {
            if !allowed.contains(&p) {
                return Err(src.at(
                    span,
                    format!(
                        "unknown placeholder {{{p}}} in {what}; it may use {}",
                        allowed
                            .iter()
                            .map(|a| format!("{{{a}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_http_op(
    src: &Source,
    span: std::ops::Range<usize>,
    op: &str,
    h: &HttpOp,
) -> Result<(), FileError> {
    let mut parts = vec![h.path.clone()];
    parts.extend(h.body.clone());
    check_placeholders(
        src,
        span.clone(),
        &parts,
        OP_PLACEHOLDERS,
        &format!("ops.{op}"),
    )?;
    if !h.path.starts_with('/') {
        return Err(src.at(
            span,
            format!("ops.{op}: path must start with /, e.g. \"/kv/{{key}}\""),
        ));
    }
    if reqwest::Method::from_bytes(h.method.as_bytes()).is_err() {
        return Err(src.at(
            span,
            format!("ops.{op}: {:?} is not an HTTP method", h.method),
        ));
    }
    if let Some(body) = &h.body {
        let sample = expand(body, |_| Some("1".into()));
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&sample) {
            return Err(src.at(
                span,
                format!("ops.{op}: body is not JSON once its placeholders are filled in ({e})"),
            ));
        }
    }
    if let Some(p) = &h.value {
        if !(p.is_empty() || p.starts_with('/')) {
            return Err(src.at(
                span,
                format!("ops.{op}: value must be a JSON pointer such as \"/value\""),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TargetFile, String> {
        let src = Source {
            origin: "t.toml".into(),
            text: text.into(),
        };
        TargetFile::parse(&src, PathBuf::from(".")).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
name = "my-kv"
about = "a kv"
nodes = 3
command = ["./kv", "--port", "{port}", "--peers", "{peers}"]
protocol = "resp"
ready = "ping"
primary = "n1"

[ops]
cas = ["EVAL", "script", "1", "{key}", "{from}", "{to}"]

[replies.not-leader]
match = ["MOVED", "NOTLEADER"]
means = "fail"
"#;

    #[test]
    fn a_good_file_parses_with_defaults() {
        let t = parse(GOOD).unwrap();
        assert_eq!(t.name, "my-kv");
        assert_eq!(t.ready, Ready::Ping);
        assert_eq!(t.resp_ops["read"], ["GET", "{key}"]);
        assert_eq!(t.resp_ops["cas"][0], "EVAL");
        assert_eq!(t.ops(), ["cas", "read", "write"]);
        let r = t.rule_for(&Match::Text("NOTLEADER n2".into())).unwrap();
        assert_eq!((r.error.as_str(), r.meaning), ("not leader", Meaning::Fail));
        assert!(t.rule_for(&Match::Text("ERR x".into())).is_none());
        assert_eq!(t.workload, "register");
    }

    #[test]
    fn bad_files_name_the_line_and_what_was_expected() {
        let e = parse(&GOOD.replace("nodes = 3", "nodes = \"three\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml:4: ") && e.contains("\"three\""),
            "{e}"
        );
        let e = parse(&GOOD.replace("{peers}", "{peer}")).unwrap_err();
        assert!(
            e.starts_with("t.toml:5: ") && e.contains("{peer}") && e.contains("{peers}"),
            "{e}"
        );
        let e = parse(&GOOD.replace("protocol = \"resp\"", "protocol = \"grpc\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml:6: ") && e.contains("http-json"),
            "{e}"
        );
        let e = parse(&GOOD.replace("primary = \"n1\"", "primary = \"n4\"")).unwrap_err();
        assert!(e.starts_with("t.toml:8: ") && e.contains("n1 to n3"), "{e}");
        let e = parse(&GOOD.replace("means = \"fail\"", "means = \"maybe\"")).unwrap_err();
        assert!(e.contains("fail") && e.contains("info"), "{e}");
        let e = parse(&GOOD.replace("about = \"a kv\"", "abut = \"a kv\"")).unwrap_err();
        assert!(e.starts_with("t.toml:3: ") && e.contains("abut"), "{e}");
        let e = parse(&GOOD.replace("nodes = 3\n", "")).unwrap_err();
        assert!(e.contains("missing field `nodes`"), "{e}");
        let e = parse(&GOOD.replace("\"{from}\", \"{to}\"", "3")).unwrap_err();
        assert!(
            e.starts_with("t.toml:11: ") && e.contains("array of strings"),
            "{e}"
        );
    }

    #[test]
    fn http_ops_are_checked() {
        let http = r#"
name = "h"
nodes = 1
command = ["./h", "{port}"]
protocol = "http-json"
[ops.read]
path = "/kv/{key}"
value = "/value"
[ops.write]
method = "PUT"
path = "/kv/{key}"
body = '{"value": {value}}'
[replies.compare-failed]
match = [409]
means = "fail"
"#;
        let t = parse(http).unwrap();
        assert_eq!(t.http_ops["read"].method, "GET");
        assert_eq!(
            t.rule_for(&Match::Status(409)).map(|r| r.error.as_str()),
            Some(crate::check::model::COMPARE_FAILED)
        );
        let e = parse(&http.replace("{value}}'", "{value}'")).unwrap_err();
        assert!(e.starts_with("t.toml:9: ") && e.contains("not JSON"), "{e}");
        let e = parse(&http.replace("[409]", "[\"CONFLICT\"]")).unwrap_err();
        assert!(e.contains("HTTP status codes"), "{e}");
        let e = parse(&http.replace("value = \"/value\"\n", "")).unwrap_err();
        assert!(e.contains("JSON pointer"), "{e}");
    }

    #[test]
    fn placeholders_are_words_in_braces() {
        assert_eq!(placeholders(r#"{"v": {value}, "x": {}}"#), ["value"]);
        assert_eq!(
            expand("{host}:{port}", |p| (p == "port").then(|| "7".into())),
            "{host}:7"
        );
    }
}

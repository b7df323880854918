//! RPC declarations: each workload and each built-in service declares its RPCs once (the
//! request's and the reply's fields with their types, and which errors it may answer), and that
//! one declaration both checks the messages a node sends at run time and generates the protocol
//! reference (`ferrocheck maelstrom-doc`, `docs/maelstrom.md`).

use super::protocol::{error_code, ERROR_CODES};
use serde_json::{Map, Value as Json};
use std::fmt::Write;

/// The type of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Any JSON value.
    Any,
    /// An integer.
    Int,
    /// A string.
    Str,
    /// A list whose elements all have this type.
    List(&'static Ty),
    /// An object whose values all have this type (keys are strings).
    Map(&'static Ty),
    /// A two-element list `[a, b]`.
    Pair(&'static Ty, &'static Ty),
}

impl Ty {
    /// The type in words, as the docs and the error messages spell it.
    pub fn describe(&self) -> String {
        match self {
            Ty::Any => "any".into(),
            Ty::Int => "int".into(),
            Ty::Str => "string".into(),
            Ty::List(t) => format!("[{}]", t.describe()),
            Ty::Map(t) => format!("{{string: {}}}", t.describe()),
            Ty::Pair(a, b) => format!("[{}, {}]", a.describe(), b.describe()),
        }
    }

    /// Checks `v` against the type; the error says where (`.msgs.k1[0]`) and what was found.
    pub fn check(&self, v: &Json, at: &str) -> Result<(), String> {
        let bad = || {
            Err(format!(
                "`{at}` should be {}, got {}",
                self.describe(),
                super::protocol::shorten(&v.to_string(), 60)
            ))
        };
        match (self, v) {
            (Ty::Any, _) => Ok(()),
            (Ty::Int, Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            (Ty::Str, Json::String(_)) => Ok(()),
            (Ty::List(t), Json::Array(items)) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| t.check(x, &format!("{at}[{i}]"))),
            (Ty::Map(t), Json::Object(m)) => m
                .iter()
                .try_for_each(|(k, x)| t.check(x, &format!("{at}.{k}"))),
            (Ty::Pair(a, b), Json::Array(items)) if items.len() == 2 => {
                a.check(&items[0], &format!("{at}[0]"))?;
                b.check(&items[1], &format!("{at}[1]"))
            }
            _ => bad(),
        }
    }
}

/// One field of a request or a reply body.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The key in the body.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// What it means.
    pub doc: &'static str,
    /// False: the body must have it.
    pub optional: bool,
}

/// A required field.
pub const fn field(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        doc,
        optional: false,
    }
}

/// An optional field.
pub const fn optional(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        doc,
        optional: true,
    }
}

/// One RPC: a request of type `name` answered by `name_ok` (or an error).
#[derive(Clone, Copy, Debug)]
pub struct Rpc {
    /// The request's `type`; the reply's is `<name>_ok`.
    pub name: &'static str,
    /// What it does, for the docs.
    pub doc: &'static str,
    /// The request's fields (besides `type` and `msg_id`).
    pub request: &'static [Field],
    /// The reply's fields (besides `type`, `msg_id` and `in_reply_to`).
    pub reply: &'static [Field],
    /// Error codes a reply may carry besides the general ones (timeouts, crashes...).
    pub errors: &'static [u64],
}

impl Rpc {
    /// The reply's `type`.
    pub fn reply_type(&self) -> String {
        format!("{}_ok", self.name)
    }

    /// Checks a request body (for services) against the declaration.
    pub fn check_request(&self, body: &Map<String, Json>) -> Result<(), String> {
        check_fields(body, self.request)
    }

    /// Checks a reply body: `in_reply_to`, the `type`, and the declared fields. Error replies
    /// (`type: error`) are checked for their `code`.
    pub fn check_reply(&self, body: &Map<String, Json>) -> Result<(), String> {
        let kind = body.get("type").and_then(Json::as_str).unwrap_or("");
        if kind == "error" {
            return match body.get("code") {
                Some(c) if c.as_u64().is_some() => Ok(()),
                _ => Err("an error reply needs an integer `code` (see the error codes)".into()),
            };
        }
        let want = self.reply_type();
        if kind != want {
            return Err(format!(
                "a reply to `{}` must have type `{want}` (or `error`), got `{kind}`",
                self.name
            ));
        }
        check_fields(body, self.reply)
    }
}

/// Checks that every required field is there and every present field has its type.
pub fn check_fields(body: &Map<String, Json>, fields: &[Field]) -> Result<(), String> {
    for f in fields {
        match body.get(f.name) {
            None if f.optional => {}
            None => {
                return Err(format!(
                    "the field `{}` ({}) is missing",
                    f.name,
                    f.ty.describe()
                ))
            }
            Some(v) => f.ty.check(v, f.name)?,
        }
    }
    Ok(())
}

/// A group of RPCs with a name and an introduction: a workload, or a service.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// The workload or service name.
    pub name: &'static str,
    /// What the node must do, in a paragraph.
    pub doc: &'static str,
    /// The RPCs.
    pub rpcs: &'static [Rpc],
}

fn fields_table(out: &mut String, fields: &[Field]) {
    if fields.is_empty() {
        out.push_str("_(no fields besides `type`)_\n\n");
        return;
    }
    out.push_str("| field | type | meaning |\n| --- | --- | --- |\n");
    for f in fields {
        let _ = writeln!(
            out,
            "| `{}`{} | `{}` | {} |",
            f.name,
            if f.optional { " (optional)" } else { "" },
            f.ty.describe(),
            f.doc
        );
    }
    out.push('\n');
}

/// The protocol reference in Markdown, generated from the declarations.
pub fn markdown(workloads: &[Section], services: &[Section]) -> String {
    let mut out = String::new();
    out.push_str("# The Maelstrom protocol, as ferrocheck speaks it\n\n");
    out.push_str("<!-- Generated from src/maelstrom (the RPC declarations): do not edit by hand. Regenerate with `ferrocheck maelstrom-doc > docs/maelstrom.md`. -->\n\n");
    out.push_str(
        "A node is any program that reads messages on stdin and writes messages on stdout, one JSON \
         object per line: `{\"src\": \"c1\", \"dest\": \"n0\", \"body\": {...}}`. Every body has a \
         `type`; a request has a `msg_id` (unique per sender), and a reply carries \
         `in_reply_to` (the request's `msg_id`). Nodes are `n0`, `n1`, ...; clients are `c0`, `c1`, \
         .... Anything a node writes on stderr is its log (`histories/<run>/nodes/<node>.log`).\n\n\
         The first message every node gets is `init`:\n\n\
         | field | type | meaning |\n| --- | --- | --- |\n\
         | `node_id` | `string` | this node's id |\n\
         | `node_ids` | `[string]` | every node's id, this one included |\n\n\
         It answers `init_ok` (no fields besides `type` and `in_reply_to`).\n\n",
    );
    out.push_str("## Errors\n\nAny request may be answered by `{\"type\": \"error\", \"in_reply_to\": ..., \"code\": ..., \"text\": ...}`. A *definite* error means the operation certainly did not happen (the history records `fail`); an indefinite one means it may have (`info`). Codes not listed here are taken as indefinite.\n\n| code | name | definite | meaning |\n| --- | --- | --- | --- |\n");
    for e in ERROR_CODES {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            e.code,
            e.name,
            if e.definite { "yes" } else { "no" },
            e.doc
        );
    }
    out.push_str("\n## Workloads\n\n");
    for s in workloads {
        section(&mut out, s, "###");
    }
    out.push_str("## Services\n\nBuilt-in services a node may send requests to, by name as `dest` (their replies come back with `src` set to the service).\n\n");
    for s in services {
        section(&mut out, s, "###");
    }
    out
}

fn section(out: &mut String, s: &Section, level: &str) {
    let _ = writeln!(out, "{level} `{}`\n\n{}\n", s.name, s.doc);
    for r in s.rpcs {
        let _ = writeln!(
            out,
            "{level}# `{}`\n\n{}\n\nRequest `{}`:\n",
            r.name, r.doc, r.name
        );
        fields_table(out, r.request);
        let _ = writeln!(out, "Reply `{}`:\n", r.reply_type());
        fields_table(out, r.reply);
        if !r.errors.is_empty() {
            let names: Vec<String> = r
                .errors
                .iter()
                .map(|c| match error_code(*c) {
                    Some(e) => format!("{} `{}`", e.code, e.name),
                    None => c.to_string(),
                })
                .collect();
            let _ = writeln!(out, "Errors: {}.\n", names.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RPC: Rpc = Rpc {
        name: "poll",
        doc: "",
        request: &[field("offsets", Ty::Map(&Ty::Int), "")],
        reply: &[field(
            "msgs",
            Ty::Map(&Ty::List(&Ty::Pair(&Ty::Int, &Ty::Any))),
            "",
        )],
        errors: &[],
    };

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_reply_names_the_missing_or_mistyped_field() {
        assert!(RPC
            .check_reply(&obj(json!({"type":"poll_ok","msgs":{"k":[[0,5],[1,6]]}})))
            .is_ok());
        let e = RPC
            .check_reply(&obj(json!({"type":"poll_ok"})))
            .unwrap_err();
        assert!(e.contains("`msgs`") && e.contains("missing"), "{e}");
        let e = RPC
            .check_reply(&obj(json!({"type":"poll_ok","msgs":{"k":[[0]]}})))
            .unwrap_err();
        assert!(e.contains("msgs.k[0]"), "{e}");
        let e = RPC
            .check_reply(&obj(json!({"type":"read_ok"})))
            .unwrap_err();
        assert!(e.contains("poll_ok"), "{e}");
        assert!(RPC
            .check_reply(&obj(json!({"type":"error","code":11})))
            .is_ok());
    }
}

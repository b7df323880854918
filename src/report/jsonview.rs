//! Any JSON value as a tree the page template draws as readable HTML: objects as key/value
//! tables, short lists inline, long or nested lists as numbered lists. Checkers put free-form
//! `details` in their anomalies; this shows whatever is there without knowing its shape.
//!
//! The tree is data ([`JsonNode`]); the template walks it with a recursive loop, so the text in
//! it is escaped by the template engine like every other value on the page.

use serde::Serialize;
use serde_json::Value as J;

/// How many items of a list are shown before "… and N more".
const MAX_ITEMS: usize = 40;
/// How deep nesting is followed before the rest is shown as raw JSON.
const MAX_DEPTH: usize = 6;

/// One node of the drawn tree: a table of rows, a row (key and value), a numbered list, a list
/// item, or a piece of code-formatted text.
#[derive(Debug, Default, PartialEq, Serialize)]
pub(crate) struct JsonNode {
    /// `table`, `row`, `list`, `item` or `code`.
    kind: &'static str,
    /// A row's key, with `_` shown as spaces.
    key: String,
    /// A `code` node's text.
    text: String,
    /// The rows of a table, the items of a list, the value of a row or item.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<JsonNode>,
    /// How many items of a list were left out.
    #[serde(skip_serializing_if = "is_zero")]
    more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The tree of a JSON value.
pub(crate) fn tree(v: &J) -> JsonNode {
    node(v, 0)
}

fn code(text: String) -> JsonNode {
    JsonNode {
        kind: "code",
        text,
        ..JsonNode::default()
    }
}

fn wrap(kind: &'static str, key: String, child: JsonNode) -> JsonNode {
    JsonNode {
        kind,
        key,
        children: vec![child],
        ..JsonNode::default()
    }
}

fn scalar(v: &J) -> Option<String> {
    match v {
        J::Null => Some("nil".into()),
        J::Bool(b) => Some(b.to_string()),
        J::Number(n) => Some(n.to_string()),
        J::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A compact one-line form, for values that are small enough to read at a glance.
fn inline(v: &J) -> Option<String> {
    if let Some(s) = scalar(v) {
        return Some(s);
    }
    let text = v.to_string();
    (text.len() <= 80).then_some(text)
}

fn node(v: &J, depth: usize) -> JsonNode {
    if depth >= MAX_DEPTH {
        return code(v.to_string());
    }
    match v {
        J::Object(map) if !map.is_empty() => JsonNode {
            kind: "table",
            children: map
                .iter()
                .map(|(k, val)| wrap("row", k.replace('_', " "), node(val, depth + 1)))
                .collect(),
            ..JsonNode::default()
        },
        J::Array(items) if !items.is_empty() => match inline(v) {
            Some(text) => code(text),
            None => JsonNode {
                kind: "list",
                children: items
                    .iter()
                    .take(MAX_ITEMS)
                    .map(|item| wrap("item", String::new(), node(item, depth + 1)))
                    .collect(),
                more: items.len().saturating_sub(MAX_ITEMS),
                ..JsonNode::default()
            },
        },
        other => code(inline(other).unwrap_or_else(|| other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_tables_and_long_lists_are_cut() {
        let v = serde_json::json!({"longest_prefix": [1, 2, 3], "states": (0..100).map(|i| serde_json::json!({"value": i, "pad": "x".repeat(20)})).collect::<Vec<_>>()});
        let t = tree(&v);
        assert_eq!(t.kind, "table");
        assert_eq!(t.children[0].key, "longest prefix");
        assert_eq!(t.children[0].children[0], code("[1,2,3]".into()));
        let states = &t.children[1].children[0];
        assert_eq!(
            (states.kind, states.children.len(), states.more),
            ("list", 40, 60)
        );
        assert_eq!(tree(&serde_json::json!("<b>")), code("<b>".into()));
    }
}

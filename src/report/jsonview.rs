//! Any JSON value as readable HTML: objects as key/value tables, short lists inline, long or
//! nested lists as numbered lists. Checkers put free-form `details` in their anomalies; this
//! shows whatever is there without knowing its shape.

use super::escape;
use serde_json::Value as J;

/// How many items of a list are shown before "… and N more".
const MAX_ITEMS: usize = 40;
/// How deep nesting is followed before the rest is shown as raw JSON.
const MAX_DEPTH: usize = 6;

/// Renders a JSON value as HTML.
pub(crate) fn render(v: &J) -> String {
    let mut out = String::new();
    node(v, 0, &mut out);
    out
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

fn node(v: &J, depth: usize, out: &mut String) {
    if depth >= MAX_DEPTH {
        out.push_str(&format!("<code>{}</code>", escape(&v.to_string())));
        return;
    }
    match v {
        J::Object(map) if !map.is_empty() => {
            out.push_str("<table class=\"kv\">");
            for (k, val) in map {
                out.push_str(&format!(
                    "<tr><th>{}</th><td>",
                    escape(&k.replace('_', " "))
                ));
                node(val, depth + 1, out);
                out.push_str("</td></tr>");
            }
            out.push_str("</table>");
        }
        J::Array(items) if !items.is_empty() => {
            if let Some(text) = inline(v) {
                out.push_str(&format!("<code>{}</code>", escape(&text)));
                return;
            }
            out.push_str("<ol start=\"0\" class=\"jl\">");
            for item in items.iter().take(MAX_ITEMS) {
                out.push_str("<li>");
                node(item, depth + 1, out);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
            if items.len() > MAX_ITEMS {
                out.push_str(&format!(
                    "<p class=\"more\">… and {} more</p>",
                    items.len() - MAX_ITEMS
                ));
            }
        }
        other => {
            let text = inline(other).unwrap_or_else(|| other.to_string());
            out.push_str(&format!("<code>{}</code>", escape(&text)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_tables_and_long_lists_are_cut() {
        let v = serde_json::json!({"longest_prefix": [1, 2, 3], "states": (0..100).map(|i| serde_json::json!({"value": i, "pad": "x".repeat(20)})).collect::<Vec<_>>()});
        let html = render(&v);
        assert!(html.contains("<th>longest prefix</th>"), "{html}");
        assert!(html.contains("<code>[1,2,3]</code>"), "{html}");
        assert!(html.contains("and 60 more"), "{html}");
        assert_eq!(render(&serde_json::json!("<b>")), "<code>&lt;b&gt;</code>");
    }
}

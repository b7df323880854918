//! The page templates: `report.html` (one run) and `index.html` (the list of runs), embedded in
//! the binary and rendered with minijinja. Autoescaping is on for both (they end in `.html`), so
//! every value from a history or a checker is escaped by the engine; the only values marked safe
//! are the page's own style sheet and script and the Maelstrom message diagram (an SVG that
//! `message_diagram.rs` builds with every text in it escaped), and the timeline's data goes through the engine's
//! `tojson` filter, which makes JSON safe inside a `<script>` element.

use anyhow::Context;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::OnceLock;

/// The embedded templates, by name.
const TEMPLATES: [(&str, &str); 2] = [
    ("report.html", include_str!("report.html")),
    ("index.html", include_str!("index.html")),
];

/// The environment with every template added, or why one of them does not parse.
fn environment() -> Result<&'static Environment<'static>, &'static str> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt field is an error, not an empty cell; `{% if x %}` on a missing one is fine.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("the embedded template {name} does not parse: {e:#}"))?;
        }
        Ok(env)
    });
    env.as_ref().map_err(|e| e.as_str())
}

/// Renders the embedded template `name` with `context`.
pub(crate) fn render(name: &str, context: &impl Serialize) -> anyhow::Result<String> {
    let env = environment().map_err(|e| anyhow::anyhow!("{e}: this is a bug in ferrocheck"))?;
    let template = env
        .get_template(name)
        .with_context(|| format!("the report template {name} is missing from this build"))?;
    template
        .render(context)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .with_context(|| format!("cannot render the report template {name}: this is a bug in ferrocheck, please report it with the history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes_html() {
        let env = environment().unwrap();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        let t = env
            .template_from_named_str("t.html", "<p>{{ x }}</p>")
            .unwrap();
        let out = t.render(minijinja::context! { x => "<b>&\"" }).unwrap();
        assert_eq!(out, "<p>&lt;b&gt;&amp;&quot;</p>");
    }
}

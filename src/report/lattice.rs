//! The consistency lattice as the page draws it: one box per model, placed as the lecture
//! draws the ladder (linearizable on top, sequential below it, causal memory and causal
//! convergence side by side, causal, then eventual), green where the model holds, red where it
//! fails, grey where it does not apply or is unknown; a red box links to the anomaly that
//! proves it, and a list below the drawing says for each model how it was decided.

use crate::check::lattice::{Lattice, Rung, Standing};
use serde::Serialize;

/// Width of the drawing.
const WIDTH: u32 = 460;
/// Size of one box.
const BOX_W: u32 = 190;
const BOX_H: u32 = 30;

/// One model's box.
#[derive(Serialize)]
pub struct RungBox {
    /// The rung's name (`causal-memory`), for ids and classes.
    name: &'static str,
    /// The label in the box.
    label: &'static str,
    /// `holds`, `fails`, `unknown`, `not-applicable`.
    standing: &'static str,
    /// The word under the label.
    word: &'static str,
    /// Where a red box links to (`#anomaly-3`, `#lattice-sequential`).
    href: Option<String>,
    x: u32,
    y: u32,
    /// Centre of the box's text.
    cx: u32,
    label_y: u32,
    word_y: u32,
    /// How it was decided and the checker's line.
    how: String,
    summary: String,
    /// The first anomaly in words, for a failing rung.
    anomaly: Option<String>,
    /// True for the rung `--consistency` chose.
    decides: bool,
}

/// A line between a stronger and a weaker model.
#[derive(Serialize)]
pub struct Link {
    x1: u32,
    y1: u32,
    x2: u32,
    y2: u32,
    /// True for the dotted link to eventual (not an implication the checks use).
    dotted: bool,
}

/// The lattice section of the page.
#[derive(Serialize)]
pub struct LatticeView {
    width: u32,
    height: u32,
    boxes: Vec<RungBox>,
    links: Vec<Link>,
    headline: String,
    model: String,
    decides: &'static str,
}

/// Where each rung's box goes (top-left corner).
fn place(r: Rung) -> (u32, u32) {
    let mid = (WIDTH - BOX_W) / 2;
    match r {
        Rung::Linearizable => (mid, 10),
        Rung::Sequential => (mid, 70),
        Rung::CausalMemory => (10, 130),
        Rung::CausalConvergence => (WIDTH - BOX_W - 10, 130),
        Rung::Causal => (mid, 190),
        Rung::Eventual => (mid, 250),
    }
}

fn standing_name(s: Standing) -> &'static str {
    match s {
        Standing::Holds => "holds",
        Standing::Fails => "fails",
        Standing::Unknown => "unknown",
        Standing::NotApplicable => "not-applicable",
    }
}

/// The view of `lattice`; `linearizable_anomaly` is the page number of the first anomaly of
/// the run's own linearizability result, which a red linearizable box links to.
pub fn view(lattice: &Lattice, linearizable_anomaly: Option<usize>) -> LatticeView {
    let boxes = lattice
        .rungs
        .iter()
        .map(|r| {
            let (x, y) = place(r.rung);
            let failing = r.standing == Standing::Fails;
            let href = failing.then(|| match (r.rung, linearizable_anomaly) {
                (Rung::Linearizable, Some(n)) => format!("#anomaly-{n}"),
                _ => format!("#lattice-{}", r.rung.name()),
            });
            RungBox {
                name: r.rung.name(),
                label: r.rung.label(),
                standing: standing_name(r.standing),
                word: match r.standing {
                    Standing::Holds => "holds",
                    Standing::Fails => "fails",
                    Standing::Unknown => "unknown",
                    Standing::NotApplicable => "not applicable",
                },
                href,
                x,
                y,
                cx: x + BOX_W / 2,
                label_y: y + 13,
                word_y: y + 25,
                how: r.how.clone(),
                summary: r.summary.clone(),
                anomaly: r
                    .anomalies
                    .first()
                    .filter(|_| failing)
                    .map(|a| a.explanation.clone()),
                decides: r.rung == lattice.decides,
            }
        })
        .collect();
    let mut links = Vec::new();
    let pairs = [
        (Rung::Linearizable, Rung::Sequential, false),
        (Rung::Sequential, Rung::CausalMemory, false),
        (Rung::Sequential, Rung::CausalConvergence, false),
        (Rung::CausalMemory, Rung::Causal, false),
        (Rung::CausalConvergence, Rung::Causal, false),
        (Rung::Causal, Rung::Eventual, true),
    ];
    for (a, b, dotted) in pairs {
        let (ax, ay) = place(a);
        let (bx, by) = place(b);
        links.push(Link {
            x1: ax + BOX_W / 2,
            y1: ay + BOX_H,
            x2: bx + BOX_W / 2,
            y2: by,
            dotted,
        });
    }
    LatticeView {
        width: WIDTH,
        height: place(Rung::Eventual).1 + BOX_H + 10,
        boxes,
        links,
        headline: lattice.headline(),
        model: lattice.model.clone(),
        decides: lattice.decides.label(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::lattice::{RungResult, RUNGS};

    #[test]
    fn red_boxes_link_to_their_anomaly_and_boxes_do_not_overlap() {
        let rungs = RUNGS
            .iter()
            .map(|&rung| RungResult {
                rung,
                standing: if rung == Rung::Linearizable || rung == Rung::Sequential {
                    Standing::Fails
                } else {
                    Standing::Holds
                },
                how: "checked".into(),
                summary: String::new(),
                anomalies: vec![],
            })
            .collect();
        let l = Lattice {
            model: "register".into(),
            decides: Rung::Linearizable,
            rungs,
            strongest_holding: Some(Rung::CausalMemory),
            weakest_failing: Some(Rung::Sequential),
        };
        let v = view(&l, Some(2));
        assert_eq!(v.boxes[0].href.as_deref(), Some("#anomaly-2"));
        assert_eq!(v.boxes[1].href.as_deref(), Some("#lattice-sequential"));
        assert!(v.boxes[2].href.is_none());
        for (i, a) in v.boxes.iter().enumerate() {
            for b in &v.boxes[i + 1..] {
                let apart = a.x + BOX_W <= b.x
                    || b.x + BOX_W <= a.x
                    || a.y + BOX_H <= b.y
                    || b.y + BOX_H <= a.y;
                assert!(apart, "{} and {} overlap", a.name, b.name);
                assert!(a.x + BOX_W <= v.width && a.y + BOX_H <= v.height);
            }
        }
    }
}

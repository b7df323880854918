//! How the run loop handles what happens: a node's line (parsed, checked, routed through the
//! network or named as a problem), a node whose stdout closed (a crash), a message falling due
//! (to a node's stdin, a service, or a client waiting for its reply), and requests nobody
//! answered in time.

use super::{secs, Completion, Endpoint, Event, LineError, Message, Purpose, Run};
use crate::check::Validity;
use crate::maelstrom::{protocol, services};
use serde_json::Value as Json;
use std::time::Duration;

impl Run<'_> {
    pub(super) fn on_event(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Line {
                node,
                incarnation,
                text,
            } => {
                if incarnation != self.nodes.nodes[node].incarnation || self.down[node] {
                    return;
                }
                let id = self.ids[node].clone();
                let text = match text {
                    Ok(t) => t,
                    Err(bytes) => {
                        let shown = protocol::shorten(&String::from_utf8_lossy(&bytes), 200);
                        return self.fail_fatally("not-json", node, format!("{id} wrote a line that is not JSON (not even UTF-8) at {}: {shown}", secs(now)));
                    }
                };
                match protocol::parse_line(&text) {
                    Ok(msg) => self.route(node, msg, &text),
                    Err(LineError::NotJson(e)) => self.fail_fatally(
                        "not-json",
                        node,
                        format!("{id} wrote a line that is not JSON at {}: {} ({e}); a node writes only messages on stdout, its logs go to stderr", secs(now), protocol::shorten(&text, 200)),
                    ),
                    Err(LineError::NotMessage(e)) => self.problems.add(
                        "malformed-message",
                        Some(node),
                        Validity::Invalid,
                        format!("{id} wrote a message that cannot be routed at {}: {e}: {}", secs(now), protocol::shorten(&text, 200)),
                    ),
                }
            }
            Event::Closed { node, incarnation } => {
                if incarnation != self.nodes.nodes[node].incarnation || self.down[node] {
                    return;
                }
                let id = self.ids[node].clone();
                let how = self.nodes.exit_status(node, Duration::from_millis(300));
                self.nodes.reap(node);
                let why = match how {
                    Some(status) => format!(
                        "{id} {status} at {} (it crashed: no nemesis killed it)",
                        secs(now)
                    ),
                    None => format!(
                        "{id} closed its stdout at {}, so it can send no more messages",
                        secs(now)
                    ),
                };
                self.fail_fatally("crash", node, why);
            }
        }
    }

    pub(super) fn classify(&self, dest: &str) -> Option<Endpoint> {
        if let Some(i) = self.ids.iter().position(|n| n == dest) {
            Some(Endpoint::Node(i))
        } else if self.clients.contains_key(dest) {
            Some(Endpoint::Client)
        } else if services::NAMES.contains(&dest) {
            Some(Endpoint::Service)
        } else {
            None
        }
    }

    fn route(&mut self, node: usize, msg: Message, line: &str) {
        let now = self.now();
        let id = self.ids[node].clone();
        if msg.src != id {
            self.problems.add("wrong-src", Some(node), Validity::Invalid, format!(
                "{id} wrote a message with src {:?} at {}; a node sends as itself (the node_id init gave it): {}",
                msg.src, secs(now), protocol::shorten(line, 200)));
            return;
        }
        match self.classify(&msg.dest) {
            Some(to) => self.net.send(now, msg, Endpoint::Node(node), to),
            None => {
                let known = format!(
                    "nodes n0..n{}, clients c0..c{}, services {}",
                    self.ids.len() - 1,
                    self.next_client.saturating_sub(1),
                    services::NAMES.join(", ")
                );
                self.problems.add("unknown-destination", Some(node), Validity::Invalid, format!(
                    "{id} sent a message to {:?} at {}, which does not exist ({known}); the message was dropped: {}",
                    msg.dest, secs(now), protocol::shorten(line, 200)));
            }
        }
    }

    pub(super) fn deliver(&mut self, m: Message) {
        let now = self.now();
        match self.classify(&m.dest) {
            Some(Endpoint::Node(j)) => self.nodes.send(j, m.to_line()),
            Some(Endpoint::Service) => {
                let reply = self.services.handle(now, &m);
                let to = self.classify(&reply.dest).unwrap_or(Endpoint::Client);
                self.net.send(now, reply, Endpoint::Service, to);
            }
            Some(Endpoint::Client) => self.client_reply(m),
            None => {}
        }
    }

    fn client_reply(&mut self, m: Message) {
        let now = self.now();
        let node = self.ids.iter().position(|n| *n == m.src);
        let line = m.to_line();
        let Some(client) = self.clients.get_mut(&m.dest) else {
            return;
        };
        let Some(irt) = m.in_reply_to() else {
            self.problems.add("missing-in-reply-to", node, Validity::Invalid, format!(
                "{} sent {} a `{}` without `in_reply_to` at {}: a reply must carry the msg_id of the request it answers: {}",
                m.src, m.dest, m.kind(), secs(now), protocol::shorten(&line, 200)));
            return;
        };
        if !client.sent.contains(&irt) {
            self.problems.add("unexpected-reply", node, Validity::Invalid, format!(
                "{} replied to message {irt} of {} at {}, but {} never sent a message with that msg_id: {}",
                m.src, m.dest, secs(now), m.dest, protocol::shorten(&line, 200)));
            return;
        }
        if client.pending.as_ref().is_none_or(|p| p.msg_id != irt) {
            return; // a late reply to a request that already timed out
        }
        let Some(pending) = client.pending.take() else {
            return;
        };
        let cid = m.dest.clone();
        match pending.purpose {
            Purpose::Init(n) => {
                let id = self.ids[n].clone();
                match m.kind() {
                    "init_ok" => self.inited[n] = true,
                    "error" => self.fail_fatally(
                        "init",
                        n,
                        format!(
                            "{id} answered init with an error: {}",
                            protocol::describe_error(&m.body)
                        ),
                    ),
                    other => self.fail_fatally(
                        "init",
                        n,
                        format!(
                            "{id} answered init with a `{other}`; it must answer `init_ok`: {}",
                            protocol::shorten(&line, 200)
                        ),
                    ),
                }
            }
            Purpose::Setup => {
                if let Err(e) = crate::maelstrom::workload::broadcast::TOPOLOGY.check_reply(&m.body)
                {
                    self.problems.add(
                        "malformed-reply",
                        node,
                        Validity::Invalid,
                        format!(
                            "{}'s reply to topology at {}: {e}: {}",
                            m.src,
                            secs(now),
                            protocol::shorten(&line, 200)
                        ),
                    );
                }
            }
            Purpose::Op {
                worker,
                process,
                call,
            } => {
                let load = &mut self.load[pending.node];
                load.answered += 1;
                load.last_answer = Some(now);
                load.unanswered_since = 0;
                let completion = match call.rpc.check_reply(&m.body) {
                    Err(e) => {
                        self.problems.add(
                            "malformed-reply",
                            node,
                            Validity::Invalid,
                            format!(
                                "{}'s reply to {cid}'s `{}` at {} is malformed: {e}: {}",
                                m.src,
                                call.rpc.name,
                                secs(now),
                                protocol::shorten(&line, 200)
                            ),
                        );
                        Completion::Info(format!("malformed reply: {e}"))
                    }
                    Ok(()) if m.kind() == "error" => {
                        let code = m.body.get("code").and_then(Json::as_u64).unwrap_or(13);
                        self.workload
                            .error(&call, code, protocol::describe_error(&m.body))
                    }
                    Ok(()) => self
                        .workload
                        .complete(worker.unwrap_or(usize::MAX), &call, &m.body),
                };
                self.finish_op(worker, process, &call, completion);
            }
        }
    }

    pub(super) fn time_out(&mut self, now: u64) {
        let op_timeout = self.spec.op_timeout.as_nanos() as u64;
        let init_timeout = self.spec.init_timeout.as_nanos() as u64;
        let expired: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.pending.as_ref().is_some_and(|p| {
                    let limit = if matches!(p.purpose, Purpose::Init(_)) {
                        init_timeout
                    } else {
                        op_timeout
                    };
                    now >= p.sent_at + limit
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for cid in expired {
            let Some(p) = self.clients.get_mut(&cid).and_then(|c| c.pending.take()) else {
                continue;
            };
            let id = self.ids[p.node].clone();
            match p.purpose {
                Purpose::Init(n) if !self.down[n] => self.fail_fatally("init", n, format!(
                    "{id} never answered init (sent at {}, waited {} s): a node must answer its first message, init, with init_ok (and flush stdout after each message)",
                    secs(p.sent_at), self.spec.init_timeout.as_secs_f64())),
                Purpose::Init(_) => {}
                Purpose::Setup => self.warnings.push(format!("{id} did not answer its topology message within {} ms", self.spec.op_timeout.as_millis())),
                Purpose::Op { worker, process, call } => {
                    self.load[p.node].unanswered_since += 1;
                    let why = format!("timed out after {} ms: no reply from {id}", self.spec.op_timeout.as_millis());
                    self.finish_op(worker, process, &call, Completion::Info(why));
                }
            }
        }
    }
}

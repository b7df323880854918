#!/usr/bin/env python3
"""Maelstrom kafka, correct but not available under partitions: node n0 keeps every log and
hands out the offsets; the other nodes forward each request to n0 and pass its answer back."""

from node import Node

node = Node()
logs = {}       # key -> list of messages (offset = position)
committed = {}  # key -> offset


def serve(body):
    kind = body["type"]
    if kind == "send":
        log = logs.setdefault(body["key"], [])
        log.append(body["msg"])
        return {"type": "send_ok", "offset": len(log) - 1}
    if kind == "poll":
        msgs = {}
        for key, start in body["offsets"].items():
            log = logs.get(key, [])
            msgs[key] = [[o, log[o]] for o in range(max(start, 0), len(log))]
        return {"type": "poll_ok", "msgs": msgs}
    if kind == "commit_offsets":
        for key, off in body["offsets"].items():
            committed[key] = max(committed.get(key, 0), off)
        return {"type": "commit_offsets_ok"}
    offsets = {k: committed[k] for k in body["keys"] if k in committed}
    return {"type": "list_committed_offsets_ok", "offsets": offsets}


def handle(msg):
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}
    if node.id == "n0":
        node.reply(msg, serve(body))
    else:
        def answer(reply):
            node.reply(msg, {k: v for k, v in reply["body"].items() if k not in ("msg_id", "in_reply_to")})
        node.rpc("n0", dict(body, type="leader_" + body["type"]), answer)


def leader(msg):
    body = dict(msg["body"], type=msg["body"]["type"][len("leader_"):])
    node.reply(msg, serve(body))


for kind in ("send", "poll", "commit_offsets", "list_committed_offsets"):
    node.on(kind, handle)
    node.on("leader_" + kind, leader)
node.run()

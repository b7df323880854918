#!/usr/bin/env python3
"""Maelstrom lin-kv, BROKEN on purpose: like lin_kv_proxy.py, but each node remembers the
values it has seen and answers reads from that cache, so it misses writes made through other
nodes. ferrocheck's linearizability checker names a read that returned a stale value."""

from node import Node

node = Node()
cache = {}


def forward(msg, on_ok=None):
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def answer(reply):
        out = {k: v for k, v in reply["body"].items() if k not in ("msg_id", "in_reply_to")}
        if on_ok and out["type"] != "error":
            on_ok(out)
        node.reply(msg, out)

    node.rpc("lin-kv", body, answer)


def on_read(msg):
    key = msg["body"]["key"]
    if key in cache:
        node.reply(msg, {"type": "read_ok", "value": cache[key]})
    else:
        forward(msg, lambda out: cache.__setitem__(key, out["value"]))


def on_write(msg):
    b = msg["body"]
    forward(msg, lambda out: cache.__setitem__(b["key"], b["value"]))


def on_cas(msg):
    b = msg["body"]
    forward(msg, lambda out: cache.__setitem__(b["key"], b["to"]))


node.on("read", on_read)
node.on("write", on_write)
node.on("cas", on_cas)
node.run()

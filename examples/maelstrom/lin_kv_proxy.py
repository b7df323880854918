#!/usr/bin/env python3
"""Maelstrom lin-kv, correct: every read, write and cas is passed to the built-in `lin-kv`
service, and its answer (or error) is passed back to the client."""

from node import Node

node = Node()


def proxy(msg):
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def answer(reply):
        out = {k: v for k, v in reply["body"].items() if k not in ("msg_id", "in_reply_to")}
        node.reply(msg, out)

    node.rpc("lin-kv", body, answer)


for kind in ("read", "write", "cas"):
    node.on(kind, proxy)
node.run()

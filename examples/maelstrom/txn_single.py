#!/usr/bin/env python3
"""Maelstrom txn-rw-register and txn-list-append, correct on a single node (--node-count 1):
the node applies each transaction whole, one at a time, to its own store, so every history it
produces is serializable (and, as replies go out in order, strict serializable)."""

from node import Node

node = Node()
store = {}


def txn(msg):
    out = []
    for f, k, v in msg["body"]["txn"]:
        key = str(k)
        if f == "r":
            value = store.get(key)
            out.append([f, k, list(value) if isinstance(value, list) else value])
        elif f == "w":
            store[key] = v
            out.append([f, k, v])
        elif f == "append":
            store.setdefault(key, []).append(v)
            out.append([f, k, v])
        else:
            node.reply(msg, {"type": "error", "code": 12, "text": "unknown micro-op " + str(f)})
            return
    node.reply(msg, {"type": "txn_ok", "txn": out})


node.on("txn", txn)
node.run()

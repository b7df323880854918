#!/usr/bin/env python3
"""Maelstrom txn-list-append, deliberately broken with more than one node: each node applies
transactions to its own store and never tells the others, so a client reading from one node
misses what another node acknowledged. Run with --node-count 2 and the checker finds it."""

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
        else:
            store.setdefault(key, []).append(v)
            out.append([f, k, v])
    node.reply(msg, {"type": "txn_ok", "txn": out})


node.on("txn", txn)
node.run()

#!/usr/bin/env python3
"""Maelstrom g-counter (and pn-counter), correct: each node counts its own increments and
decrements, and every 100 ms sends its whole table to every other node, which keeps the larger
figure per node. A read sums the table."""

from node import Node

node = Node()
plus, minus = {}, {}  # node id -> total added / subtracted there


def on_add(msg):
    d = msg["body"]["delta"]
    table = plus if d >= 0 else minus
    table[node.id] = table.get(node.id, 0) + abs(d)
    node.reply(msg, {"type": "add_ok"})


def on_read(msg):
    node.reply(msg, {"type": "read_ok", "value": sum(plus.values()) - sum(minus.values())})


def on_state(msg):
    for mine, theirs in ((plus, msg["body"]["plus"]), (minus, msg["body"]["minus"])):
        for n, v in theirs.items():
            mine[n] = max(mine.get(n, 0), v)


def gossip():
    for peer in node.ids:
        if peer != node.id:
            node.send(peer, {"type": "state", "plus": plus, "minus": minus})


node.on("add", on_add)
node.on("read", on_read)
node.on("state", on_state)
node.every(0.1, gossip)
node.run()

#!/usr/bin/env python3
"""Maelstrom broadcast, correct: every 100 ms each node sends every other node the messages
it has not yet confirmed, until that node acknowledges them, so messages cross a healed
partition."""

from node import Node

node = Node()
messages = set()
confirmed = {}  # peer -> messages the peer has acknowledged


def on_topology(msg):
    node.reply(msg, {"type": "topology_ok"})


def on_broadcast(msg):
    messages.add(msg["body"]["message"])
    node.reply(msg, {"type": "broadcast_ok"})


def on_read(msg):
    node.reply(msg, {"type": "read_ok", "messages": sorted(messages)})


def on_gossip(msg):
    got = msg["body"]["messages"]
    messages.update(got)
    node.reply(msg, {"type": "gossip_ok", "messages": got})


def gossip():
    for peer in node.ids:
        if peer == node.id:
            continue
        missing = messages - confirmed.setdefault(peer, set())
        if missing:
            def acked(reply, peer=peer):
                confirmed[peer].update(reply["body"]["messages"])
            node.rpc(peer, {"type": "gossip", "messages": sorted(missing)}, acked)


node.on("topology", on_topology)
node.on("broadcast", on_broadcast)
node.on("read", on_read)
node.on("gossip", on_gossip)
node.every(0.1, gossip)
node.run()

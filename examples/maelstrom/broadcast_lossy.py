#!/usr/bin/env python3
"""Maelstrom broadcast, BROKEN on purpose: a node forwards each new message to the others
once and never retries, so a message sent while the network is partitioned never reaches the
other side. ferrocheck finds the lost messages in the final reads."""

from node import Node

node = Node()
messages = set()


def on_broadcast(msg):
    m = msg["body"]["message"]
    if m not in messages:
        messages.add(m)
        for peer in node.ids:
            if peer != node.id:
                node.send(peer, {"type": "gossip", "message": m})
    node.reply(msg, {"type": "broadcast_ok"})


def on_gossip(msg):
    messages.add(msg["body"]["message"])


node.on("topology", lambda msg: node.reply(msg, {"type": "topology_ok"}))
node.on("broadcast", on_broadcast)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "messages": sorted(messages)}))
node.on("gossip", on_gossip)
node.run()

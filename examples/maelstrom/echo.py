#!/usr/bin/env python3
"""Maelstrom echo: answer every `echo` with the same payload."""

from node import Node

node = Node()
node.on("echo", lambda msg: node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]}))
node.run()

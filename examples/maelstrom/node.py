"""A tiny Maelstrom node library for the examples: read messages on stdin, write them on
stdout (one JSON object per line, flushed), log on stderr. Standard library only."""

import json
import sys
import threading


class Node:
    def __init__(self):
        self.id = None
        self.ids = []
        self.handlers = {}
        self.callbacks = {}
        self.next_id = 0
        self.lock = threading.RLock()

    def log(self, *parts):
        print(*parts, file=sys.stderr, flush=True)

    def on(self, kind, handler):
        self.handlers[kind] = handler

    def send(self, dest, body):
        with self.lock:
            sys.stdout.write(json.dumps({"src": self.id, "dest": dest, "body": body}) + "\n")
            sys.stdout.flush()

    def reply(self, req, body):
        body = dict(body)
        body["in_reply_to"] = req["body"]["msg_id"]
        self.send(req["src"], body)

    def rpc(self, dest, body, callback):
        with self.lock:
            self.next_id += 1
            body = dict(body, msg_id=self.next_id)
            self.callbacks[self.next_id] = callback
        self.send(dest, body)

    def every(self, seconds, action):
        def loop():
            while True:
                threading.Event().wait(seconds)
                with self.lock:
                    action()
        threading.Thread(target=loop, daemon=True).start()

    def run(self):
        for line in iter(sys.stdin.readline, ""):
            msg = json.loads(line)
            body = msg["body"]
            with self.lock:
                if body["type"] == "init":
                    self.id = body["node_id"]
                    self.ids = body["node_ids"]
                    self.log("initialized", self.id)
                    self.reply(msg, {"type": "init_ok"})
                elif "in_reply_to" in body:
                    cb = self.callbacks.pop(body["in_reply_to"], None)
                    if cb:
                        cb(msg)
                elif body["type"] in self.handlers:
                    self.handlers[body["type"]](msg)
                else:
                    self.reply(msg, {"type": "error", "code": 10, "text": "not supported: " + body["type"]})

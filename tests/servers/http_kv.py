#!/usr/bin/env python3
"""A small replicated key-value store over HTTP with JSON, written for ferrocheck's tests.

Node index 0 holds the data; every other node forwards each request to it. With --stale, a
forwarding node remembers every value it has seen and answers reads from that cache.

  GET  /kv/KEY                         -> 200 {"value": V}   (null when absent)
  PUT  /kv/KEY   {"value": V}          -> 200 {}
  POST /cas/KEY  {"from": A, "to": B}  -> 200 {} applied, 409 compare failed
  GET  /health                         -> 200
Forwarding errors: 503 the leader cannot be reached (nothing sent), 504 it did not answer.
"""
import argparse
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Store:
    def __init__(self, args):
        self.args = args
        self.leader = args.index == 0
        peers = [p for p in args.peers.split(",") if p]
        self.leader_addr = None if self.leader else peers[0]
        self.data = {}
        self.cache = {}
        self.lock = threading.Lock()

    def apply(self, method, path, body):
        """The leader's answer: (status, reply object)."""
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            return 404, {"error": "no such path"}
        kind, key = parts
        with self.lock:
            if kind == "kv" and method == "GET":
                return 200, {"value": self.data.get(key)}
            if kind == "kv" and method == "PUT":
                self.data[key] = body["value"]
                return 200, {}
            if kind == "cas" and method == "POST":
                if self.data.get(key) != body["from"]:
                    return 409, {"error": "compare failed"}
                self.data[key] = body["to"]
                return 200, {}
        return 404, {"error": "no such op"}

    def forward(self, method, path, raw):
        host, _, port = self.leader_addr.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=0.3)
        try:
            conn.connect()
        except OSError as e:
            return 503, {"error": "cannot reach the leader: %s" % e}
        try:
            conn.sock.settimeout(0.5)
            conn.request(method, path, body=raw, headers={"content-type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        except (OSError, ValueError) as e:
            return 504, {"error": "no answer from the leader: %r" % e}
        finally:
            conn.close()

    def handle(self, method, path, raw):
        if path == "/health":
            return 200, {}
        body = json.loads(raw) if raw else {}
        if self.leader:
            return self.apply(method, path, body)
        key = path.rstrip("/").rpartition("/")[2]
        if self.args.stale and method == "GET" and key in self.cache:
            return 200, {"value": self.cache[key]}
        status, reply = self.forward(method, path, raw)
        if self.args.stale and status == 200:
            if method == "GET" and reply.get("value") is not None:
                self.cache[key] = reply["value"]
            elif method == "PUT":
                self.cache[key] = body["value"]
            elif method == "POST":
                self.cache[key] = body["to"]
        return status, reply


def handler(store):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            n = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                status, reply = store.handle(self.command, self.path, raw)
            except (ValueError, KeyError, TypeError) as e:
                status, reply = 400, {"error": repr(e)}
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = answer

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--node", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", default="")
    p.add_argument("--stale", action="store_true")
    args = p.parse_args()
    store = Store(args)
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), handler(store))
    server.daemon_threads = True
    print("%s listening on %s%s" % (args.node, args.listen, " (stale reads)" if args.stale else ""),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

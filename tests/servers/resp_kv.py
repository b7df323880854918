#!/usr/bin/env python3
"""A small replicated key-value store speaking RESP, written for ferrocheck's tests.

Node index 0 holds the data (journaled to --data, so a restart keeps it); every other node
forwards each command to it. With --stale, a forwarding node also remembers every value it
has seen and answers reads from that cache: stale reads, which ferrocheck must catch.

Commands: PING, GET key, SET key value, CAS key from to (:1 applied, :0 compare failed).
Errors: -UNAVAILABLE when the leader cannot be reached (nothing was sent), -TIMEOUT when it
did not answer (the command may have been applied).
"""
import argparse
import asyncio
import os
import sys


def encode(reply):
    if reply is None:
        return b"$-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, tuple):  # (kind, text): "+" simple or "-" error
        return reply[0].encode() + reply[1].encode() + b"\r\n"
    data = reply.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


async def read_reply(reader):
    """One RESP reply from the leader, as the bytes to pass on."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("leader closed the connection")
    if line[:1] == b"$" and int(line[1:-2]) >= 0:
        line += await reader.readexactly(int(line[1:-2]) + 2)
    return line


async def read_command(reader):
    line = await reader.readline()
    if not line:
        return None
    if line[:1] != b"*":
        return line.decode().split()
    words = []
    for _ in range(int(line[1:-2])):
        head = await reader.readline()
        n = int(head[1:-2])
        if n < 0:
            words.append(None)
            continue
        words.append((await reader.readexactly(n + 2))[:-2].decode())
    return words


def frame(words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        if w is None:
            out += b"$-1\r\n"
        else:
            d = w.encode()
            out += b"$%d\r\n%s\r\n" % (len(d), d)
    return out


class Node:
    def __init__(self, args):
        self.args = args
        self.leader = args.index == 0
        peers = [p for p in args.peers.split(",") if p]
        self.leader_addr = None if self.leader else peers[0]
        self.data = {}
        self.cache = {}
        self.journal = None
        if self.leader:
            os.makedirs(args.data, exist_ok=True)
            path = os.path.join(args.data, "journal")
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        k, _, v = line.rstrip("\n").partition(" ")
                        self.data[k] = v
            self.journal = open(path, "a")

    def apply(self, words):
        cmd = (words[0] or "").upper()
        if cmd == "PING":
            return ("+", "PONG")
        if cmd == "GET":
            return self.data.get(words[1])
        if cmd == "SET":
            self.store(words[1], words[2])
            return ("+", "OK")
        if cmd == "CAS":
            if self.data.get(words[1]) != words[2]:
                return 0
            self.store(words[1], words[3])
            return 1
        return ("-", "ERR unknown command %s" % cmd)

    def store(self, key, value):
        self.data[key] = value
        self.journal.write("%s %s\n" % (key, value))
        self.journal.flush()

    async def forward(self, words, upstream):
        """Sends words to the leader on this client's upstream connection."""
        if upstream.get("conn") is None:
            host, _, port = self.leader_addr.rpartition(":")
            try:
                upstream["conn"] = await asyncio.wait_for(
                    asyncio.open_connection(host, int(port)), 0.3)
            except (OSError, asyncio.TimeoutError) as e:
                return encode(("-", "UNAVAILABLE cannot reach the leader: %s" % e))
        reader, writer = upstream["conn"]
        try:
            writer.write(frame(words))
            await writer.drain()
            return await asyncio.wait_for(read_reply(reader), 0.5)
        except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            writer.close()
            upstream["conn"] = None
            return encode(("-", "TIMEOUT no answer from the leader: %r" % e))

    async def handle(self, words, upstream):
        if self.leader or (words[0] or "").upper() == "PING":
            return encode(self.apply(words))
        cmd = (words[0] or "").upper()
        if self.args.stale and cmd == "GET" and words[1] in self.cache:
            return encode(self.cache[words[1]])
        reply = await self.forward(words, upstream)
        if self.args.stale:
            if cmd == "GET" and reply.startswith(b"$") and not reply.startswith(b"$-1"):
                self.cache[words[1]] = reply.split(b"\r\n")[1].decode()
            elif cmd == "SET" and reply.startswith(b"+OK"):
                self.cache[words[1]] = words[2]
            elif cmd == "CAS" and reply.startswith(b":1"):
                self.cache[words[1]] = words[3]
        return reply

    async def serve(self, reader, writer):
        upstream = {}
        try:
            while True:
                words = await read_command(reader)
                if not words:
                    break
                writer.write(await self.handle(words, upstream))
                await writer.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            if upstream.get("conn"):
                upstream["conn"][1].close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--node", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", default="")
    p.add_argument("--data", required=True)
    p.add_argument("--stale", action="store_true")
    args = p.parse_args()
    node = Node(args)
    host, _, port = args.listen.rpartition(":")
    server = await asyncio.start_server(node.serve, host, int(port))
    role = "leader" if node.leader else "follower of %s" % node.leader_addr
    print("%s listening on %s as %s%s" % (args.node, args.listen, role,
                                         " (stale reads)" if args.stale else ""), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

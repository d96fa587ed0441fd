#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by a fixed time in each direction.

    python3 bench/latency_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT [DELAY_MS] [TRACE_FILE]

It stands for a file share in another site: each direction is a pipe with latency (DELAY_MS,
default 10, so a round trip costs 2 x DELAY_MS) and no bandwidth limit of its own. Data read
from one side is forwarded, in order, DELAY_MS after it arrived; reading goes on meanwhile, so
a client that keeps several requests in flight is not slowed more than the latency requires.
Used by bench/smb-latency.sh and tests/smb/cli.rs; prints "ready PORT" on stdout once it
listens (LISTEN_PORT 0: a free port).

With TRACE_FILE, it also appends one line per SMB2 message the client sends: the connection's
number and the command names ("3 CREATE+QUERY_INFO+CLOSE" for a compound), so that a test or a
benchmark can count the requests, each a round trip when the client waits for its answer.
"""

import asyncio
import struct
import sys
import time

COMMANDS = (
    "NEGOTIATE SESSION_SETUP LOGOFF TREE_CONNECT TREE_DISCONNECT CREATE CLOSE FLUSH READ WRITE "
    "LOCK IOCTL CANCEL ECHO QUERY_DIRECTORY CHANGE_NOTIFY QUERY_INFO SET_INFO OPLOCK_BREAK"
).split()


def smb2_commands(msg):
    """The command names of one SMB2 message (several for a compound), "?" if not SMB2."""
    names, off = [], 0
    while True:
        head = msg[off : off + 64]
        if len(head) < 24 or head[:4] != b"\xfeSMB":
            return names + ["?"]
        cmd, following = struct.unpack_from("<H", head, 12)[0], struct.unpack_from("<I", head, 20)[0]
        names.append(COMMANDS[cmd] if cmd < len(COMMANDS) else str(cmd))
        if not following:
            return names
        off += following


class Tracer:
    """Splits one direction's stream into messages (4-byte length, then the message)."""

    def __init__(self, out, conn):
        self.out, self.conn, self.buf = out, conn, b""

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 4:
            size = struct.unpack(">I", self.buf[:4])[0] & 0xFFFFFF
            if len(self.buf) < 4 + size:
                break
            msg, self.buf = self.buf[4 : 4 + size], self.buf[4 + size :]
            self.out.write(f"{self.conn} {'+'.join(smb2_commands(msg))}\n")


async def pipe(reader, writer, delay, tracer=None):
    queue = asyncio.Queue()

    async def forward():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.create_task(forward())
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            if tracer:
                tracer.feed(data)
            queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    listen_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    delay = (float(sys.argv[4]) if len(sys.argv) > 4 else 10.0) / 1000.0
    trace = open(sys.argv[5], "a", buffering=1) if len(sys.argv) > 5 else None
    connections = 0

    async def handle(client_r, client_w):
        nonlocal connections
        connections += 1
        tracer = Tracer(trace, connections) if trace else None
        try:
            server_r, server_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            pipe(client_r, server_w, delay, tracer), pipe(server_r, client_w, delay)
        )
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

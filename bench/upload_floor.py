"""A bare asyncio server that reads each request's body and answers 200 at once: what a burst
of uploads costs on this machine before any server does any work. bench/burst.py runs each
client shape against it.

    python -m bench.upload_floor PORT
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length, expect = 0, False
        for line in head.decode("latin-1").lower().split("\r\n"):
            name, _, value = line.partition(":")
            length = int(value) if name == "content-length" else length
            expect |= name == "expect" and "100-continue" in value
        if expect:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await reader.readexactly(length)
        writer.write(ANSWER)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))

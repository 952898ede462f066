"""The lab's slow upstream: answers ``GET /?ms=N`` after N milliseconds, many requests at once.

asyncio and the standard library only, so it starts anywhere the lab runs and never is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from urllib.parse import parse_qs, urlsplit

MAX_MS = 10_000


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            query = parse_qs(urlsplit(parts[1]).query) if len(parts) > 1 else {}
            try:
                ms = min(max(int(query.get("ms", ["0"])[0]), 0), MAX_MS)
            except ValueError:
                ms = 0
            await asyncio.sleep(ms / 1000)
            body = b"upstream ok\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9000")))
    options = parser.parse_args()
    asyncio.run(serve(options.host, options.port))


if __name__ == "__main__":
    main()

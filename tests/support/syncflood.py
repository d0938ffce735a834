"""Flood a TCP port: keep COUNT connections open from the given source addresses for SECONDS.

Each connection waits for the server to close it and then reconnects, so the
server sees COUNT connections for the whole run (stdlib only; raises its own
RLIMIT_NOFILE).  Prints "flooding" once started and "opened N failed M" at the end.

    python3 -I syncflood.py HOST PORT COUNT SECONDS SOURCE [SOURCE ...]
"""
from __future__ import annotations

import asyncio
import resource
import sys


async def _one(host: str, port: int, source: str, end: float, counts: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0)), 5)
            counts["opened"] += 1
            await asyncio.wait_for(reader.read(), max(0.01, end - loop.time()))
            writer.close()
        except (OSError, asyncio.TimeoutError):
            counts["failed"] += 1
            await asyncio.sleep(0.01)


async def flood(host: str, port: int, count: int, seconds: float, sources: list[str]) -> dict[str, int]:
    """Hold ``count`` connections (sources taken in turn) for ``seconds``; returns opened/failed counts."""
    counts = {"opened": 0, "failed": 0}
    end = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(_one(host, port, sources[i % len(sources)], end, counts) for i in range(count)))
    return counts


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port, count, seconds, *sources = sys.argv[1:]
    print("flooding", flush=True)
    counts = asyncio.run(flood(host, int(port), int(count), float(seconds), sources))
    print(f"opened {counts['opened']} failed {counts['failed']}", flush=True)


if __name__ == "__main__":
    main()

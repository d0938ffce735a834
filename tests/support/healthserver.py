"""A real server's health endpoints that a test steers through files (stdlib only).

* HTTP on ``--http-port``: answers 500 while ``DIR/NAME.fail`` holds a number
  above 0 (and counts it down by one per request), else 200.
* agent on ``--agent-port``: replies with the line in ``DIR/NAME.agent``
  (``100%`` when absent), then closes, as an HAProxy agent does.

    python3 -I healthserver.py --bind 192.0.2.1 --dir /tmp/x --name rs1
"""
from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def take_failure(path: Path) -> bool:
    """One more failure to give? (counts the file down)."""
    try:
        left = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    if left <= 0:
        return False
    path.write_text(str(left - 1))
    return True


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True)
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--agent-port", type=int, default=9999)
    args = p.parse_args()
    fail, said = args.dir / f"{args.name}.fail", args.dir / f"{args.name}.agent"

    async def http(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            code = 500 if take_failure(fail) else 200
            w.write(b"HTTP/1.0 %d X\r\nContent-Length: 3\r\n\r\nok\n" % code)
            await w.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            w.close()

    async def agent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            text = said.read_text().strip() if said.exists() else "100%"
            w.write(text.encode() + b"\n")
            await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    s1 = await asyncio.start_server(http, args.bind, args.http_port)
    s2 = await asyncio.start_server(agent, args.bind, args.agent_port)
    async with s1, s2:
        await asyncio.gather(s1.serve_forever(), s2.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())

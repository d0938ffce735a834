"""The runtime socket: peer credentials, one bounded JSON request per connection, clean stop."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from piranha_web.pulse.runtime.channel import MAX_REQUEST, Channel, ChannelError, console_uid, request

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import aio, until  # noqa: E402


def _echo(data: dict[str, Any], uid: int) -> dict[str, Any]:
    return {"ok": True, "uid": uid, "got": data}


def _raw(path: Path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(payload)
        return sock.recv(65536)


@aio
async def test_answers_its_own_user_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "pulse-runtime.sock"
    channel = Channel(path, set(), _echo)
    await channel.start()
    assert path.stat().st_mode & 0o777 == 0o666
    reply = await asyncio.to_thread(request, path, {"op": "get"})
    assert reply == {"ok": True, "uid": os.geteuid(), "got": {"op": "get"}}
    channel.allowed = {os.geteuid() + 12345}            # as if we were some other user
    reply = await asyncio.to_thread(request, path, {"op": "get"})
    assert reply["ok"] is False and reply["status"] == 403
    await channel.stop()
    assert not path.exists()
    with pytest.raises(ChannelError, match="not running"):
        await asyncio.to_thread(request, path, {"op": "get"})


@aio
async def test_malformed_and_oversized_requests_are_400(tmp_path: Path) -> None:
    path = tmp_path / "pulse-runtime.sock"
    channel = Channel(path, set(), _echo)
    await channel.start()
    for payload in (b"not json\n", b"[1, 2]\n", b"{" + b" " * (MAX_REQUEST + 10) + b"}\n"):
        answer = await asyncio.to_thread(_raw, path, payload)
        assert b'"status":400' in answer
    await until(lambda: channel.clients == 0, what="connections closed")
    await channel.stop()


@aio
async def test_a_stale_socket_is_replaced_and_a_crashing_handler_is_contained(tmp_path: Path) -> None:
    path = tmp_path / "pulse-runtime.sock"
    path.write_text("stale")

    def boom(data: dict[str, Any], uid: int) -> dict[str, Any]:
        raise KeyError("x")

    channel = Channel(path, set(), boom)
    await channel.start()
    reply = await asyncio.to_thread(request, path, {"op": "get"})
    assert reply["ok"] is False and reply["status"] == 500
    await channel.stop()


def test_console_user_names_and_numbers() -> None:
    assert console_uid(None) is None and console_uid("1234") == 1234
    assert console_uid("root") == 0
    assert console_uid("no-such-user-here") is None

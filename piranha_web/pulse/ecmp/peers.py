"""The directors of an ECMP cluster talk to each other: status, lvs.cf push, drain requests.

There is no primary here, so the primary/backup heartbeat does not apply; the
authenticated config-sync channel (``ha.confsync``: the heartbeat key, only
the other directors' addresses admitted, bounded connections, replay-proof
requests, sealed answers) carries three more kinds of request:

* STATUS, every ``PEER_INTERVAL`` and at once after this director's lvs.cf
  changed: the asker sends its serial_no, the answer is the other director's
  status summary.  Whichever side sees the other's serial_no ahead pulls that
  lvs.cf (validated; the serial_no only moves forward) and reloads.  So a
  revision published on any director reaches every director, and a director
  that was down catches up when it returns.
* DRAIN / UNDRAIN: the console asks its own pulse (runtime channel), which
  asks the named director; that director writes or removes the same request
  file ``pulse --drain`` / ``--undrain`` does.

The channel listens on ``heartbeat_port + 1`` of this director's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...lvscf.model import Director, LvsConfig
from ..ha.confsync import DRAIN, STATUS, UNDRAIN, ConfigPuller, ConfigServer, SyncError, exchange

log = logging.getLogger("pulse.ecmp")

PEER_INTERVAL = 1.0        # seconds between status exchanges with each director
PEER_TIMEOUT = 1.5         # one exchange's patience (connect, request, answer)
MAX_SUMMARY = 64 * 1024    # a status summary larger than this is cut to its essentials


class ClusterPeers:
    """This director's side of the peer channel: the server, the exchanges, what each peer said."""

    def __init__(self, key: bytes, me: Director, cfg: LvsConfig, config_path: Path,
                 serial: Callable[[], int], summary: Callable[[], dict[str, Any]],
                 installed: Callable[[], None], drain: Callable[[bool], None]) -> None:
        self.key = key
        self.me = me
        self.port = cfg.heartbeat_port + 1
        self.peers = {d.name: str(d.address) for d in cfg.directors if d.name != me.name and d.address}
        self.serial = serial
        self.summary = summary
        self.drain = drain
        self.server = ConfigServer(key, config_path, serial, self.peers.values())
        self.server.handlers = {STATUS: self._answer_status, DRAIN: lambda _s, _a: self._answer_drain(True),
                                UNDRAIN: lambda _s, _a: self._answer_drain(False)}
        self.puller = ConfigPuller(key, config_path, serial, lambda _cfg: installed(), retry_after=1.0,
                                   local=me.address)
        self.names = {str(ipaddress.ip_address(addr)): name for name, addr in self.peers.items()}
        self.views: dict[str, dict[str, Any]] = {name: {"address": addr, "reachable": None,
                                                        "last_contact": None, "error": None, "status": None}
                                                 for name, addr in self.peers.items()}
        self.on_change: Callable[[], None] = lambda: None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def signature(self) -> tuple[Any, ...]:
        """What the channel was built from: a reload that changes it rebuilds the channel."""
        return self.me, self.port, tuple(sorted(self.peers.items()))

    async def start(self) -> None:
        """Listen on this director's address; exchange with every other director from now on."""
        try:
            await self.server.start(str(self.me.address), self.port)
        except OSError as exc:
            log.error("cluster channel cannot listen on port %d: %s", self.port, exc)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="cluster-peers")

    async def stop(self) -> None:
        """Stop exchanging and listening."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.puller.close()
        await self.server.close()

    def kick(self) -> None:
        """Exchange now (this director's serial_no changed: the others pull it at once)."""
        self._kick.set()

    async def _loop(self) -> None:
        while True:
            self._kick.clear()
            await asyncio.gather(*(self._exchange(name) for name in self.peers))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), PEER_INTERVAL)

    async def _exchange(self, name: str) -> None:
        """One STATUS request: record what the peer says; pull its lvs.cf if it is ahead."""
        view, address = self.views[name], self.peers[name]
        before = (view["reachable"], (view["status"] or {}).get("serial_no"))
        try:
            serial, body = await exchange(self.key, address, self.port, self.serial(), self.me.address,
                                          STATUS, PEER_TIMEOUT)
            status = json.loads(body)
        except (SyncError, ValueError) as exc:
            view.update(reachable=False, error=str(exc))
        else:
            view.update(reachable=True, error=None, last_contact=time.time(),
                        status=status if isinstance(status, dict) else None)
            self.puller.peer_serial(serial, address, self.port)
        if (view["reachable"], (view["status"] or {}).get("serial_no")) != before:
            self.on_change()

    def _answer_status(self, their_serial: int, source: str) -> bytes:
        """A peer asks: pull its lvs.cf if it is ahead, answer with our summary.

        A serial_no other than the one its last answer gave (it reloaded) makes us ask it
        at once, so this director's view of it, and the console's, is current within moments.
        """
        self.puller.peer_serial(their_serial, source, self.port)
        view = self.views.get(self.names.get(source, ""))
        if view is not None and (view["status"] or {}).get("serial_no") != their_serial:
            self.kick()
        text = json.dumps(self.summary(), separators=(",", ":"), default=str)
        if len(text) > MAX_SUMMARY:
            text = json.dumps({k: v for k, v in self.summary().items() if k != "sessions"})
        return text.encode()

    def _answer_drain(self, drain: bool) -> bytes:
        self.drain(drain)
        return json.dumps({"ok": True, "drain": drain}).encode()

    async def request_drain(self, name: str, drain: bool) -> dict[str, Any]:
        """Ask director ``name`` to drain or undrain; the answer for the console."""
        try:
            await exchange(self.key, self.peers[name], self.port, self.serial(), self.me.address,
                           DRAIN if drain else UNDRAIN, PEER_TIMEOUT)
        except SyncError as exc:
            return {"ok": False, "status": 409, "error": f"director {name} unreachable: {exc}"}
        self.kick()
        return {"ok": True, "director": name, "drain": drain}

    def status(self) -> dict[str, dict[str, Any]]:
        """Every other director as last heard: {name: address, reachable, last_contact, error, status}."""
        return {name: dict(view) for name, view in self.views.items()}

    def sync_status(self) -> dict[str, Any]:
        """How pulling lvs.cf from the other directors went."""
        return {**dict(self.puller.stats), "served": self.server.stats["served"],
                "last_error": self.puller.last_error, "failed_serial": self.puller.failed_serial}

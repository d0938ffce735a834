"""The ECMP directors' peer channel: status exchange, lvs.cf pushed forward, drain passed on, peers only."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import aio, until, write  # noqa: E402

from piranha_web import lvscf  # noqa: E402
from piranha_web.pulse.ecmp.peers import ClusterPeers  # noqa: E402
from piranha_web.pulse.ha.confsync import STATUS, SyncError, exchange  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

KEY = b"cluster-key-cluster-key-cluster!"
ADDRESSES = {"d1": "127.0.0.1", "d2": "127.0.0.2"}   # both on lo: one host plays two directors


def cluster_cf(serial: int, port: int, timeout: str = "6") -> str:
    directors = "".join(f"director {n} {{\n\taddress = {a}\n}}\n" for n, a in ADDRESSES.items())
    return (f"serial_no = {serial}\nservice = lvs\ncluster = ecmp\nbgp_local_as = 64512\n"
            f"bgp_peer = 192.0.2.254 64500\nheartbeat_port = {port - 1}\nnetwork = direct\n{directors}"
            "virtual www {\n\tactive = 1\n\taddress = 203.0.113.10 lo\n\tport = 80\n\tscheduler = mh\n"
            f"\ttimeout = {timeout}\n\tserver rs1 {{\n\t\taddress = 192.0.2.21\n\t\tactive = 1\n\t}}\n}}\n")


class Node:
    """One director's ClusterPeers with its own lvs.cf; records reloads and drain requests."""

    def __init__(self, tmp: Path, name: str, serial: int, port: int) -> None:
        self.path = tmp / f"{name}.cf"
        write(self.path, cluster_cf(serial, port))
        cfg = lvscf.load(self.path.read_text())
        me = next(d for d in cfg.directors if d.name == name)
        self.reloads = 0
        self.drains: list[bool] = []
        self.peers = ClusterPeers(KEY, me, cfg, self.path, self.serial, self.summary,
                                  self._installed, self.drains.append)

    def serial(self) -> int:
        return lvscf.parse(self.path.read_text()).serial_no

    def summary(self) -> dict[str, Any]:
        return {"director": self.peers.me.name, "serial_no": self.serial()}

    def _installed(self) -> None:
        self.reloads += 1


@aio
async def test_directors_exchange_status_push_the_newer_revision_and_pass_on_drains(tmp_path: Path) -> None:
    port = free_port()
    d1, d2 = Node(tmp_path, "d1", 7, port), Node(tmp_path, "d2", 5, port)
    await d1.peers.start()
    await d2.peers.start()
    try:
        await until(lambda: d2.serial() == 7, what="d2 pulled d1's newer lvs.cf")
        assert d2.reloads >= 1 and d1.reloads == 0
        assert d2.path.read_text() == d1.path.read_text()
        await until(lambda: (d1.peers.views["d2"]["status"] or {}).get("serial_no") == 7, what="d1 sees d2")
        view = d1.peers.status()["d2"]
        assert view["reachable"] is True and view["address"] == "127.0.0.2" and view["last_contact"]

        write(d2.path, cluster_cf(8, port, timeout="7"))   # published on d2: pushed to d1 at once
        d2.peers.kick()
        await until(lambda: d1.serial() == 8, timeout=1.0, what="d1 pulled serial 8 within 1 s")

        assert await d1.peers.request_drain("d2", True) == {"ok": True, "director": "d2", "drain": True}
        assert await d1.peers.request_drain("d2", False) == {"ok": True, "director": "d2", "drain": False}
        assert d2.drains == [True, False]
    finally:
        await d1.peers.stop()
        await d2.peers.stop()
    assert d1.peers.sync_status()["installed"] == 1


@aio
async def test_an_unreachable_director_is_reported_and_an_outsider_gets_nothing(tmp_path: Path) -> None:
    port = free_port()
    d1 = Node(tmp_path, "d1", 3, port)
    await d1.peers.start()
    try:
        await until(lambda: d1.peers.views["d2"]["reachable"] is False, what="d2 unreachable")
        assert "cannot connect" in d1.peers.views["d2"]["error"]
        answer = await d1.peers.request_drain("d2", True)
        assert answer["ok"] is False and answer["status"] == 409
        try:     # the right key from an address that is no director: connection closed, no answer
            await exchange(KEY, "127.0.0.1", port, 99, "127.0.0.3", STATUS, 1.0)
            raise AssertionError("an outsider got an answer")
        except SyncError:
            pass
        assert d1.peers.server.stats["not_peer"] >= 1
        await asyncio.sleep(0)
    finally:
        await d1.peers.stop()


def test_pulse_status_lists_the_other_directors() -> None:
    from piranha_web.pulse.statusfile import _cluster_lines
    lines = _cluster_lines({"director": "d1", "drain": {"state": "active"}, "announced": [], "peers": {
        "d2": {"address": "127.0.0.2", "reachable": True,
               "status": {"serial_no": 7, "drain": {"state": "drained"}}},
        "d3": {"address": "127.0.0.3", "reachable": False, "error": "cannot connect"}}})
    assert "  director d2 127.0.0.2: serial_no 7, drain drained" in lines
    assert "  director d3 127.0.0.3: UNREACHABLE: cannot connect" in lines

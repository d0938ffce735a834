"""The daemon glue (ha/redundancy.py) with a fake daemon: two nodes on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.pulse.kernel import garp
from piranha_web.pulse.ha import redundancy
from piranha_web.pulse.ha.heartbeat import HeartbeatKeyError
from piranha_web.pulse.ha.role import Role


def _free_port_pair() -> int:
    """A UDP port p with TCP p+1 free on loopback."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as t:
                t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def conf_text(serial: int, port: int, key: Path, scheduler: str = "rr") -> str:
    return f"""serial_no = {serial}
primary = 127.0.0.1
backup_active = 1
backup = 127.0.0.2
heartbeat_port = {port}
keepalive = 0.05
deadtime = 0.3
heartbeat_key_file = {key}
network = direct
virtual web {{
    active = 1
    address = 192.0.2.10 eth0:1
    port = 80
    scheduler = {scheduler}
    server rs1 {{
        address = 192.0.2.11
        active = 1
    }}
}}
"""


class FakeDaemon:
    """Just what Redundancy uses of the daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cfg = lvscf.load(path.read_text())
        self.role = Role.BACKUP
        self.reconciled: list[Role] = []
        self.requests: list[str] = []

    def set_role(self, role: Role) -> None:
        self.role = role

    def reconcile(self) -> None:
        self.reconciled.append(self.role)

    def write_status(self) -> None:
        pass

    def request(self, flag: str) -> None:
        self.requests.append(flag)
        self.cfg = lvscf.load(self.path.read_text())

    def current_config(self) -> lvscf.LvsConfig:
        return self.cfg


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, str]]]:
    """Never send real frames from a unit test: record each takeover's first round, in order."""
    calls: list[list[tuple[str, str]]] = []

    async def repeats(pairs, repeats=5, interval=1.0, sent=0) -> None:  # type: ignore[no-untyped-def]
        assert sent == 1                  # the first round went out at once, before the repeats
    monkeypatch.setattr(garp, "send_round", lambda pairs: calls.append(list(pairs)))
    monkeypatch.setattr(garp, "announce", repeats)
    return calls


def _setup(tmp_path: Path) -> tuple[int, Path, Path, Path]:
    key = tmp_path / "hb.key"
    key.write_bytes(os.urandom(24).hex().encode())
    os.chmod(key, 0o600)
    port = _free_port_pair()
    paths = []
    for name in ("p", "b"):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "lvs.cf"
        path.write_text(conf_text(1, port, key))
        paths.append(path)
    return port, key, paths[0], paths[1]


async def _until(cond, limit: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < limit, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_refuses_without_key(tmp_path: Path) -> None:
    port, key, p, _b = _setup(tmp_path)
    p.write_text(conf_text(1, port, key).replace(f"heartbeat_key_file = {key}\n", ""))
    with pytest.raises(redundancy.RedundancyError, match="heartbeat_key_file"):
        redundancy.Redundancy(FakeDaemon(p), p, is_primary=True)
    os.chmod(key, 0o644)
    p.write_text(conf_text(1, port, key))
    with pytest.raises(HeartbeatKeyError):
        redundancy.Redundancy(FakeDaemon(p), p, is_primary=True)


def test_links_for_both_paths() -> None:
    cfg = lvscf.LvsConfig(primary="192.0.2.1", backup="192.0.2.2", primary_private="198.51.100.1",
                          backup_private="198.51.100.2", backup_active=True)
    assert [(ln.local, ln.peer) for ln in redundancy.links_for(cfg, False)] == [
        ("192.0.2.2", "192.0.2.1"), ("198.51.100.2", "198.51.100.1")]
    assert redundancy.enabled(cfg)
    assert not redundancy.enabled(lvscf.LvsConfig(primary="192.0.2.1"))


def test_pair_roles_config_sync_and_handover(tmp_path: Path,
                                             announced: list) -> None:  # type: ignore[type-arg]
    async def run() -> None:
        port, key, p_path, b_path = _setup(tmp_path)
        pd, bd = FakeDaemon(p_path), FakeDaemon(b_path)
        pr, br = redundancy.Redundancy(pd, p_path, True), redundancy.Redundancy(bd, b_path, False)
        await pr.start()
        await br.start()
        try:
            await _until(lambda: pd.role is Role.ACTIVE)
            assert pd.reconciled == [Role.ACTIVE]
            await _until(lambda: announced == [[("eth0", "192.0.2.10")]])
            await asyncio.sleep(0.2)
            assert bd.role is Role.BACKUP and bd.reconciled == []
            assert br.status()["peer"]["state"] == "active"
            assert br.status()["peer"]["serial_no"] == 1
            # publish on the primary: the backup pulls, installs and reloads
            p_path.write_text(conf_text(2, port, key, scheduler="wlc"))
            pd.cfg = lvscf.load(p_path.read_text())
            await _until(lambda: bd.requests == ["reload"])
            assert b_path.read_text() == p_path.read_text()
            assert bd.cfg.serial_no == 2
            # SIGTERM on the primary: the backup takes over without waiting for deadtime
            t0 = time.monotonic()
            await pr.stop()
            assert pd.role is Role.BACKUP
            await _until(lambda: bd.role is Role.ACTIVE)
            assert time.monotonic() - t0 < 0.3
        finally:
            await br.stop()
    asyncio.run(run())


def test_run_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    assert asyncio.run(redundancy.run_command(None, "active_cmd")) is None
    assert asyncio.run(redundancy.run_command(f"/usr/bin/touch {marker}", "active_cmd")) == 0
    assert marker.exists()
    assert asyncio.run(redundancy.run_command("/bin/false", "inactive_cmd")) == 1
    assert asyncio.run(redundancy.run_command(str(tmp_path / "missing"), "active_cmd")) is None


def test_takeover_announces_at_once_nat_router_first(tmp_path: Path,
                                                     announced: list) -> None:  # type: ignore[type-arg]
    """The first gratuitous ARP round leaves before activation goes on, the real servers' gateway first."""
    port, key, p_path, _b = _setup(tmp_path)
    nat = "network = nat\nnat_router = 198.51.100.254 eth1:1\nnat_nmask = 255.255.255.0\n"
    p_path.write_text(conf_text(1, port, key).replace("network = direct\n", nat))

    async def run() -> None:
        red = redundancy.Redundancy(FakeDaemon(p_path), p_path, True)
        red._announce()
        assert announced == [[("eth1", "198.51.100.254"), ("eth0", "192.0.2.10")]]
        assert red._garp_task is not None
        await red._garp_task
    asyncio.run(run())

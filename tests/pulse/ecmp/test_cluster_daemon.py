"""pulse with cluster = ecmp against the dry-run backend: who-is-who, announcements, drain, status."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import Listener, aio, until, write  # noqa: E402

from piranha_web.pulse.configfile import read_config  # noqa: E402
from piranha_web.pulse.daemon import Daemon  # noqa: E402
from piranha_web.pulse.drainctl import request_drain  # noqa: E402
from piranha_web.pulse.ecmp.cluster import DRAIN_FILE  # noqa: E402
from piranha_web.pulse.kernel import dry_run_backends  # noqa: E402
from piranha_web.pulse.metrics import render  # noqa: E402
from piranha_web.pulse.options import Options  # noqa: E402
from piranha_web.pulse.reconcile import ServiceKey  # noqa: E402
from piranha_web.pulse.statusfile import format_status, read_status, status_path  # noqa: E402


def ecmp_cf(port: int, drain: float = 0.3) -> str:
    # d1 is this host (127.0.0.1 binds everywhere); d2 is elsewhere
    return ("serial_no = 4\nservice = lvs\ncluster = ecmp\nbgp_local_as = 64512\n"
            "bgp_peer = 192.0.2.254 64500\nbgp_hold_time = 3\n"
            f"bgp_drain_seconds = {drain}\nnetwork = direct\n"
            "director d2 {\n\taddress = 198.51.100.2\n}\ndirector d1 {\n\taddress = 127.0.0.1\n}\n"
            "virtual www {\n\tactive = 1\n\taddress = 203.0.113.10 lo\n\tport = 80\n\tscheduler = mh\n"
            "\ttimeout = 0.2\n\treentry = 0.2\n"
            f"\tserver rs1 {{\n\t\taddress = 127.0.0.1\n\t\tport = {port}\n\t\tactive = 1\n\t}}\n}}\n")


def _cluster(rundir: Path) -> dict[str, object]:
    doc = read_status(status_path(rundir)) or {}
    return doc.get("cluster") or {}  # type: ignore[return-value]


@aio
async def test_an_ecmp_director_announces_what_it_serves_and_drains(tmp_path: Path) -> None:
    server = await Listener().start()
    cf, rundir = tmp_path / "lvs.cf", tmp_path / "run"
    write(cf, ecmp_cf(server.port))
    backends = dry_run_backends()
    opts = Options(config=cf, runtime_dir=rundir, backend="dry-run", poll_interval=0.05,
                   reconcile_interval=1.0, status_interval=0.1)
    daemon = Daemon(opts, backends, read_config(cf))
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: _cluster(rundir).get("announced") == ["203.0.113.10"], what="VIP announced")
        cluster = _cluster(rundir)
        assert cluster["director"] == "d1" and cluster["serial_no"] == 4
        key = ServiceKey.tcp("203.0.113.10", 80)
        assert backends.ipvs.table[key].service.mh_port  # type: ignore[attr-defined]
        assert "Cluster (ecmp): director d1, drain active" in format_status(read_status(status_path(rundir)))
        assert b'piranha_pulse_drain_state{state="active"} 1.0' in render(read_status(status_path(rundir)))

        await server.stop()          # no real server up: withdrawn
        await until(lambda: _cluster(rundir).get("announced") == [], what="VIP withdrawn")
        await server.start()
        await until(lambda: _cluster(rundir).get("announced") == ["203.0.113.10"], what="VIP back")

        started = time.monotonic()
        code = await asyncio.to_thread(request_drain, rundir, True)   # pulse --drain
        assert code == 0 and time.monotonic() - started >= 0.3
        assert _cluster(rundir)["announced"] == []
        assert key in backends.ipvs.table  # type: ignore[attr-defined]
        assert await asyncio.to_thread(request_drain, rundir, False) == 0
        assert not (rundir / DRAIN_FILE).exists()
        await until(lambda: _cluster(rundir).get("announced") == ["203.0.113.10"], what="announced again")
    finally:
        daemon.request("stop")
        started = time.monotonic()
        assert await asyncio.wait_for(task, 10) == 0
        await server.stop()
    assert time.monotonic() - started >= 0.3          # SIGTERM drains first
    assert backends.ipvs.table == {}  # type: ignore[attr-defined]


def test_drain_refuses_without_a_running_pulse(tmp_path: Path) -> None:
    assert request_drain(tmp_path, True) == 1


def test_drain_is_an_exact_option() -> None:
    import pytest

    from piranha_web.pulse.main import build_parser
    args = build_parser().parse_args(["--drain"])
    assert args.drain is True and args.drain_seconds == 5.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--drain-sec", "3"])    # no prefix matching any more

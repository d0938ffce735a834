"""Load test: health checks per second with and without a flood of the config-sync port.

    .venv/bin/python benchmarks/confsync_flood_bench.py [--servers 200] [--connections 2000]
                                                        [--seconds 10]

pulse's health monitor checks ``--servers`` real servers every second (TCP
connect to listeners on 127.0.0.x served by a separate process) while its
config-sync server (``ConfigServer``, peer 127.0.0.2) runs in the same event
loop, as in the daemon.  Phase 1 measures checks completed per second alone;
phase 2 the same while a separate process keeps ``--connections`` connections
against the sync port, half from 127.0.0.1 (not the peer) and half from
127.0.0.2 (the peer's address, without the key), reconnecting whenever the
server closes one.  The flooder runs at nice 19: a real flood comes from
another host, so its own CPU must not be what the ratio measures.  Printed:
checks/s in each phase, their ratio (target >= 0.95), failed checks, this
process's peak open descriptors, and what the sync server did with the flood.

Only loopback traffic; every loop is bounded.  Raises RLIMIT_NOFILE to its hard limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pulse_bench import LISTENER, raise_nofile  # noqa: E402

from piranha_web.pulse.ha.confsync import ConfigServer  # noqa: E402
from piranha_web.pulse.health.checks import make_spec  # noqa: E402
from piranha_web.pulse.health.monitor import Monitor, Target  # noqa: E402

PEER = "127.0.0.2"
FLOODER = ROOT / "tests" / "support" / "syncflood.py"


def open_fds() -> int:
    """Descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


async def _phase(mon: Monitor, seconds: float) -> tuple[float, int]:
    """Checks completed per second over ``seconds``, and the peak descriptor count seen."""
    c0, t0, peak = mon.checks_done, time.monotonic(), open_fds()
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(0.1)
        peak = max(peak, open_fds())
    return (mon.checks_done - c0) / (time.monotonic() - t0), peak


def failed_checks(mon: Monitor) -> int:
    return sum(s.checks["fail"] for s in mon.states.values())


async def _run(servers: int, connections: int, seconds: float, port: int, sync_port: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cf = Path(tmp) / "lvs.cf"
        cf.write_text("serial_no = 1\nprimary = 127.0.0.1\nservice = lvs\n")
        server = ConfigServer(os.urandom(32), cf, lambda: 1, [PEER])
        await server.start("127.0.0.1", sync_port)
        mon = Monitor()
        mon.update([Target(("vs", f"rs{i}"), make_spec(f"127.0.0.{10 + i % 8}", port, 1.0), 1.0, 1.0)
                    for i in range(servers)])
        await asyncio.sleep(2.0)                                  # first round spread over the first second
        fds0 = open_fds()
        alone, peak_alone = await _phase(mon, seconds)
        fail0 = failed_checks(mon)
        flood = await asyncio.create_subprocess_exec(
            "nice", "-n", "19", sys.executable, "-I", str(FLOODER), "127.0.0.1", str(sync_port),
            str(connections), str(seconds + 3), "127.0.0.1", PEER, stdout=asyncio.subprocess.PIPE)
        assert flood.stdout is not None
        await flood.stdout.readline()
        await asyncio.sleep(1.0)                                  # the flood ramps up
        flooded, peak_flood = await _phase(mon, seconds)
        report = (await flood.stdout.read()).decode().strip()
        await flood.wait()
        result = {"servers": servers, "connections": connections, "seconds": seconds,
                  "checks_per_s_alone": round(alone, 1), "checks_per_s_flooded": round(flooded, 1),
                  "ratio": round(flooded / alone, 3) if alone else 0.0,
                  "failed_checks_alone": fail0, "failed_checks_flooded": failed_checks(mon) - fail0,
                  "down_at_end": sum(1 for s in mon.states.values() if s.state != "up"),
                  "fds_start": fds0, "fds_peak_alone": peak_alone, "fds_peak_flooded": peak_flood,
                  "sync_server": dict(server.stats), "flooder": report}
        await mon.stop()
        await server.close()
        return result


def main() -> None:
    """Run both phases and print the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=200)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    raise_nofile()
    port = 20000 + (time.time_ns() // 1000) % 2000
    addrs = [f"127.0.0.{10 + i}" for i in range(8)]
    listener = subprocess.Popen([sys.executable, "-c", LISTENER, ",".join(addrs), str(port),
                                 str(args.seconds * 2 + 60)], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        result = asyncio.run(_run(args.servers, args.connections, args.seconds, port, port + 2100))
    finally:
        listener.kill()
        listener.wait()
    for key, value in result.items():
        print(f"{key:24} {value}")
    print(f"ratio >= 0.95: {'yes' if result['ratio'] >= 0.95 else 'NO'}")


if __name__ == "__main__":
    main()

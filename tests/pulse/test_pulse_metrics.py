"""``pulse --metrics-port``: a running (dry-run) pulse exports its status on 127.0.0.1 only."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import lvs_cf, write  # noqa: E402

PULSE = [sys.executable, "-m", "piranha_web.pulse.main"]
ROOT = Path(__file__).resolve().parents[2]
HEALTHY = re.compile(r"^piranha_pulse_health_up\{[^}]*\} 1\.0$", re.MULTILINE)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        return resp.read().decode()


def test_metrics_port_serves_health_and_ipvs(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    cf, rundir, port = tmp_path / "lvs.cf", tmp_path / "run", free_port()
    write(cf, lvs_cf({"rs1": ("127.0.0.1", listener.getsockname()[1], 1)}))
    proc = subprocess.Popen([*PULSE, "-n", "-c", str(cf), "--backend", "dry-run", "--runtime-dir",
                             str(rundir), "--metrics-port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        body = ""
        deadline = time.monotonic() + 20
        while not HEALTHY.search(body):
            assert time.monotonic() < deadline, f"no healthy metrics: {body[-500:]}"
            try:
                body = _scrape(port)
            except OSError:
                pass
            time.sleep(0.1)
        assert "piranha_pulse_up 1.0" in body
        assert "piranha_pulse_ipvs_real_active_connections{" in body
        assert 'piranha_pulse_role{role="standalone"} 1.0' in body
        assert re.search(r'^piranha_pulse_health_checks_total\{[^}]*result="ok"[^}]*\} [1-9]', body, re.M)
        os.kill(proc.pid, signal.SIGHUP)          # a reload is counted and timed
        deadline = time.monotonic() + 10
        while "piranha_pulse_reloads_total 1.0" not in body:
            assert time.monotonic() < deadline, "reload not counted"
            time.sleep(0.1)
            body = _scrape(port)
        assert "piranha_pulse_reload_failures_total 0.0" in body
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
    assert proc.returncode == 0


def test_metrics_are_off_by_default() -> None:
    from piranha_web.pulse.main import build_parser

    args = build_parser().parse_args([])
    assert args.metrics_port == 0 and args.metrics_address == "127.0.0.1"

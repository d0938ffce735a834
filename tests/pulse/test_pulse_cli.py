"""The ``pulse`` command as a real process: --check, --plan, --status, signals, sd_notify."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import lvs_cf, write  # noqa: E402

PULSE = [sys.executable, "-m", "piranha_web.pulse.main"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PULSE, *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def listener() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    yield srv.getsockname()[1]
    srv.close()


def test_check_ok_and_errors(tmp_path: Path) -> None:
    cf = tmp_path / "lvs.cf"
    write(cf, lvs_cf({"rs1": ("127.0.0.1", 8080, 1)}, serial=4))
    ok = run("--check", "-c", str(cf))
    assert ok.returncode == 0 and ok.stdout.startswith(f"{cf}: ok (serial_no 4")
    write(cf, lvs_cf({"rs1": ("127.0.0.1", 8080, 1)}).replace("scheduler = rr", "scheduler = nope"))
    bad = run("--check", "-c", str(cf))
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"{cf}:10: scheduler")
    assert "Traceback" not in bad.stdout + bad.stderr


def test_config_from_environment_and_missing_file(tmp_path: Path) -> None:
    cf = tmp_path / "lvs.cf"
    write(cf, lvs_cf({}))
    assert run("--check", env={"PIRANHA_LVS_CF": str(cf)}).returncode == 0
    missing = run("--check", "-c", str(tmp_path / "nope.cf"))
    assert missing.returncode == 1 and "nope.cf" in missing.stdout


def test_start_with_invalid_file_exits_1_without_traceback(tmp_path: Path) -> None:
    cf = tmp_path / "lvs.cf"
    write(cf, "serial_no = 1\nvirtual x {\n  bogus = 1\n}\n")
    res = run("-n", "-c", str(cf), "--backend", "dry-run", "--runtime-dir", str(tmp_path / "run"))
    assert res.returncode == 1
    assert f"{cf}:3:" in res.stderr and "not starting" in res.stderr
    assert "Traceback" not in res.stderr


def test_plan_prints_operations_and_changes_nothing(tmp_path: Path) -> None:
    cf = tmp_path / "lvs.cf"
    write(cf, lvs_cf({"rs1": ("127.0.0.1", 8080, 2)}, extra_vs="    fwmark = 80\n"))
    res = run("--plan", "-c", str(cf), "--backend", "dry-run", "--runtime-dir", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[1:] == [
        "add-service FWM 80 rr",
        "add-dest FWM 80 -> 127.0.0.1:8080 nat weight 2",
        "add-address 192.0.2.254/32 dev eth1 label eth1:1",
        "add-address 203.0.113.10/32 dev eth0 label eth0:1",
        "add-mark mark tcp 203.0.113.10:80 -> 80",
    ]
    assert not (tmp_path / "run" / "pulse-status.json").exists()


def test_daemon_process_signals_status_and_notify(tmp_path: Path, listener: int) -> None:
    cf, rundir = tmp_path / "lvs.cf", tmp_path / "run"
    write(cf, lvs_cf({"rs1": ("127.0.0.1", listener, 1)}))
    notify_path = tmp_path / "notify.sock"
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(notify_path))
    ns.settimeout(15)
    status_file = rundir / "pulse-status.json"

    def status() -> dict:
        try:
            return json.loads(status_file.read_text())
        except (OSError, ValueError):
            return {}

    argv = [*PULSE, "-n", "-c", str(cf), "--backend", "dry-run", "--runtime-dir", str(rundir)]
    proc = subprocess.Popen(argv,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NOTIFY_SOCKET": str(notify_path)})
    try:
        assert ns.recv(100) == b"READY=1"
        wait_for(lambda: any(s.get("dests") for s in status().get("table", [])), what="server up")
        assert (rundir / "pulse.pid").read_text().strip() == str(proc.pid)
        second = run("-n", "-c", str(cf), "--backend", "dry-run", "--runtime-dir", str(rundir))
        assert second.returncode == 1 and "already running" in second.stderr
        shown = run("--status", "--runtime-dir", str(rundir))
        assert shown.returncode == 0
        assert "TCP 203.0.113.10:80 rr" in shown.stdout and "www/rs1" in shown.stdout and "UP" in shown.stdout
        # SIGHUP after an in-place edit that keeps size and mtime unchanged is still noticed
        text = cf.read_text().replace("weight = 1", "weight = 4")
        st = cf.stat()
        cf.write_text(text)
        os.utime(cf, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.kill(proc.pid, signal.SIGHUP)
        wait_for(lambda: any(d["weight"] == 4 for s in status().get("table", []) for d in s["dests"]),
                 what="weight 4 after SIGHUP")
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        ns.close()
    assert proc.returncode == 0, err
    assert "STARTING PULSE AS STANDALONE" in err and "state: role standalone" in err
    assert "Traceback" not in err
    assert not (rundir / "pulse.pid").exists()
    assert status()["state"] == "stopped" and status()["table"] == []


def test_status_without_daemon(tmp_path: Path) -> None:
    res = run("--status", "--runtime-dir", str(tmp_path))
    assert res.returncode == 1 and "no status" in res.stderr


def test_sd_notify_abstract_and_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from piranha_web.pulse.sdnotify import notify
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    name = f"pulse-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1") is True
        assert s.recv(20) == b"READY=1"

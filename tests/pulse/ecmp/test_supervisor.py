"""A real BIRD as pulse's child: control socket, configure, restart, death with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from piranha_web.pulse.ecmp import control, supervisor
from piranha_web.pulse.ecmp.supervisor import BirdSupervisor
from tests.support.processes import wait_until

CONFIG = "router id 192.0.2.1;\nprotocol device {}\nprotocol static vips4 {\n\tipv4;\n%s}\n"


def _routes(bird: BirdSupervisor) -> str:
    reply = bird.query("show route")
    return "\n".join(text for _code, text in reply.lines) if reply else ""


@pytest.fixture()
def bird(tmp_path: Path) -> BirdSupervisor:
    sup = BirdSupervisor(tmp_path)
    yield sup
    sup.stop()


def test_configure_changes_routes_without_a_restart(bird: BirdSupervisor) -> None:
    bird.set_config(CONFIG % "")
    wait_until(lambda: bird.query("show status") is not None, timeout=10, what="bird answers")
    pid = bird.proc.pid if bird.proc else 0
    bird.set_config(CONFIG % "\troute 203.0.113.10/32 blackhole;\n")
    assert bird.status()["config_applied"]
    wait_until(lambda: "203.0.113.10/32" in _routes(bird), timeout=5, what="route announced")
    assert bird.proc is not None and bird.proc.pid == pid and bird.restarts == 0
    bird.set_config(CONFIG % "")
    wait_until(lambda: "203.0.113.10/32" not in _routes(bird), timeout=5, what="route withdrawn")


def test_a_refused_command_raises(bird: BirdSupervisor) -> None:
    bird.set_config(CONFIG % "")
    wait_until(lambda: bird.query("show status") is not None, timeout=10, what="bird answers")
    with pytest.raises(control.BirdError):
        control.command(bird.socket_path, "no such command")
    with pytest.raises(ValueError):
        control.command(bird.socket_path, "show status\nconfigure")


def test_a_dead_bird_is_restarted(bird: BirdSupervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_BACKOFF", (0.1, 1.0))
    bird._backoff = 0.1
    bird.set_config(CONFIG % "")
    wait_until(lambda: bird.query("show status") is not None, timeout=10, what="bird answers")
    assert bird.proc is not None
    os.kill(bird.proc.pid, signal.SIGKILL)

    def restarted() -> bool:
        bird.poll()
        return bird.restarts == 1 and bird.query("show status") is not None
    wait_until(restarted, timeout=10, what="bird restarted")
    assert bird.status()["last_exit"] == -signal.SIGKILL


CHILD = """
import sys, time
from pathlib import Path
from piranha_web.pulse.ecmp.supervisor import BirdSupervisor
sup = BirdSupervisor(Path(sys.argv[1]))
sup.set_config("router id 192.0.2.1;\\nprotocol device {}\\n")
print(sup.proc.pid, flush=True)
time.sleep(600)
"""


def test_bird_dies_with_its_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[3])
    try:
        assert parent.stdout is not None
        bird_pid = int(parent.stdout.readline())
        wait_until(lambda: (tmp_path / "bird.ctl").exists(), timeout=10, what="bird up")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)

        def gone() -> bool:
            try:
                os.kill(bird_pid, 0)
            except ProcessLookupError:
                return True
            return Path(f"/proc/{bird_pid}/stat").read_text().split()[2] == "Z"
        wait_until(gone, timeout=5, what="bird gone with pulse")
    finally:
        parent.kill()
        parent.wait(timeout=10)

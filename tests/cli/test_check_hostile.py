"""``piranha-config check`` and ``pulse --check`` on hostile files: line-numbered errors, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = [sys.executable, "-m", "piranha_web.cli.config", "check"]
PULSE = [sys.executable, "-m", "piranha_web.pulse.main", "--check", "-c"]
HUGE = "9" * 5000


def _run(command: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIRANHA_LVS_CF"}
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60, env=env,
                          check=False)


@pytest.mark.parametrize("command", [CONFIG, PULSE], ids=["piranha-config", "pulse"])
@pytest.mark.parametrize(("line", "key"), [("serial_no = {}", "serial_no"), ("keepalive = {}", "keepalive"),
                                           ("heartbeat_port = {}", "heartbeat_port")])
def test_integer_of_thousands_of_digits_is_a_line_numbered_error(
        tmp_path: Path, command: list[str], line: str, key: str) -> None:
    cf = tmp_path / "lvs.cf"
    cf.write_text(f"network = direct\n{line.format(HUGE)}\n")
    result = _run(command, cf)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output
    assert f"{cf}:2: {key}: integer out of range" in output


@pytest.mark.parametrize("command", [CONFIG, PULSE], ids=["piranha-config", "pulse"])
def test_every_problem_is_reported(tmp_path: Path, command: list[str]) -> None:
    cf = tmp_path / "lvs.cf"
    cf.write_text("serial_no = one\nnetwork = direct\nkeepalive = 1e-320\nbogus = 1\nvirtual v {\n"
                  "\tport = http2\n}\n")
    output = "".join(_run(command, cf).stdout + _run(command, cf).stderr)
    assert f"{cf}:1: serial_no:" in output
    assert f"{cf}:4: bogus: unknown command" in output
    assert f"{cf}:6: port:" in output


def test_check_accepts_piranha_placeholders_and_warns(tmp_path: Path) -> None:
    cf = tmp_path / "lvs.cf"
    cf.write_text("\ufeffserial_no = 3\nprimary = 192.0.2.1\nbackup_active = 0\nbackup = 0.0.0.0\n"
                  "network = direct\nkeepalive = 6\ndeadtime = 5\n", encoding="utf-8")
    result = _run(CONFIG, cf)
    assert result.returncode == 0, result.stderr
    assert f"{cf}:7: warning: deadtime:" in result.stderr
    assert _run(PULSE, cf).returncode == 0


@pytest.mark.parametrize(("line", "key"), [
    ("\tuse_regex = 1\n\texpect = \"HTTP/1.[01] (200\"", "expect"),
    ("\tsend_program = '/bin/echo \"unbalanced'", "send_program"),
    ("\ttimeout = 1e-320\n\treentry = 1e300", "timeout"),
])
def test_values_that_crashed_pulse_are_refused_by_key(tmp_path: Path, line: str, key: str) -> None:
    cf = tmp_path / "lvs.cf"
    cf.write_text("network = direct\nvirtual v {\n\tactive = 1\n\taddress = 192.0.2.10 eth0:1\n"
                  f"{line}\n\tserver a {{\n\t\taddress = 192.0.2.20\n\t\tactive = 1\n\t}}\n}}\n")
    for command in (CONFIG, PULSE):
        result = _run(command, cf)
        assert result.returncode == 1
        assert f": {key}: " in result.stdout + result.stderr

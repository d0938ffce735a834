"""The last good configuration stays in force whatever a new one raises; only SIGTERM tears down.

Against the dry-run backend with real health checks on 127.0.0.1: each
value that once crashed pulse is refused with its key and line, an exception
injected while loading, planning or applying a new file leaves the table as
it was and is reported in the status file, and a pulse started on a bad file
takes up the last good copy kept in its runtime directory without removing
anything a previous pulse left.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import aio, lvs_cf, until, write  # noqa: E402
from test_pulse_daemon import Run, listeners, servers  # noqa: E402

from piranha_web.pulse import configfile  # noqa: E402
from piranha_web.pulse.configfile import GOOD_NAME, ConfigError, read_config, read_last_good  # noqa: E402
from piranha_web.pulse.daemon import Daemon  # noqa: E402

ANCHOR = "    timeout = 0.2\n    reentry = 0.4\n"
# (what replaces ANCHOR, the key the error must name)
CRASHING = [
    (ANCHOR + "    use_regex = 1\n    send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n"
     "    expect = \"HTTP/1.[01] (200\"\n", "expect"),
    (ANCHOR + "    send_program = '/bin/echo \"unbalanced'\n", "send_program"),
    ("    timeout = 1e-320\n    reentry = 1e300\n", "timeout"),
    ("    timeout = 0.2\n    reentry = 1e300\n", "reentry"),
    (ANCHOR + "    port = " + "9" * 5000 + "\n", "port"),
]


def snapshot(run: Run) -> dict[object, object]:
    return {k: (e.service, dict(e.dests)) for k, e in run.table.items()}


@pytest.mark.parametrize("value,key", CRASHING)
def test_values_validation_refuses_never_reach_pulse(tmp_path: Path, value: str, key: str) -> None:
    cf = tmp_path / "lvs.cf"
    write(cf, lvs_cf({"rs1": ("127.0.0.1", 8080, 1)}).replace(ANCHOR, value))
    with pytest.raises(ConfigError) as err:
        read_config(cf)
    assert any(line.startswith(f"{cf}:") and f"{key}:" in line for line in err.value.lines), err.value.lines


@aio
async def test_each_crashing_value_written_behind_the_consoles_back_keeps_the_table(tmp_path: Path) -> None:
    ls = await listeners(2)
    good = lvs_cf(servers(ls))
    run = Run(tmp_path, good)
    d = await run.start()
    await until(lambda: len(run.weights()) == 2, what="both servers in")
    before, addresses = snapshot(run), set(run.backends.addresses.present)  # type: ignore[attr-defined]
    for serial, (value, key) in enumerate(CRASHING, start=10):
        write(run.cf, good.replace("serial_no = 1", f"serial_no = {serial}").replace(ANCHOR, value))
        await until(lambda: run.status().get("last_reload", {}).get("serial_no") == serial
                    and run.status()["last_reload"]["ok"] is False, what=f"{key} refused")
        assert f"{key}:" in run.status()["last_reload"]["error"]
        await asyncio.sleep(0.2)
        assert snapshot(run) == before and run.backends.addresses.present == addresses  # type: ignore
        assert d.state == "running" and not run.task.done()  # type: ignore[union-attr]
    write(run.cf, good.replace("serial_no = 1", "serial_no = 20").replace("weight = 1", "weight = 3"))
    await until(lambda: set(run.weights().values()) == {3}, what="valid change applied")
    # the status file follows within its write budget (never more than 1/DUTY of the time)
    await until(lambda: run.status().get("serial_no") == 20, what="status shows the new serial_no")
    assert run.status()["last_reload"]["ok"]
    assert await run.stop() == 0


def _boom(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("injected")


def _in_load(monkeypatch: pytest.MonkeyPatch, d: Daemon) -> None:
    monkeypatch.setattr(configfile, "load", _boom)


def _in_plan(monkeypatch: pytest.MonkeyPatch, d: Daemon) -> None:
    monkeypatch.setattr(configfile, "desired_table", _boom)


def _in_check_building(monkeypatch: pytest.MonkeyPatch, d: Daemon) -> None:
    monkeypatch.setattr(configfile, "targets_for", _boom)


def _in_apply(monkeypatch: pytest.MonkeyPatch, d: Daemon) -> None:
    """Past every check: the reconcile pass of the new configuration raises."""
    monkeypatch.setattr(d.reconciler, "compute_plan", _boom)


def _in_monitor(monkeypatch: pytest.MonkeyPatch, d: Daemon) -> None:
    monkeypatch.setattr(d.monitor, "update", _boom)


@pytest.mark.parametrize("inject", [_in_load, _in_plan, _in_check_building, _in_apply, _in_monitor])
@aio
async def test_an_exception_in_load_plan_or_apply_keeps_the_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        inject: Callable[[pytest.MonkeyPatch, Daemon], None]) -> None:
    ls = await listeners(2)
    good = lvs_cf(servers(ls))
    run = Run(tmp_path, good)
    d = await run.start()
    await until(lambda: len(run.weights()) == 2, what="both servers in")
    before = snapshot(run)
    with monkeypatch.context() as patch:
        inject(patch, d)
        # the new file drops rs2 and changes the VIP: none of it may happen
        fewer = lvs_cf(dict(list(servers(ls).items())[:1]), serial=7)
        write(run.cf, fewer.replace("203.0.113.10", "203.0.113.11"))
        await until(lambda: run.status().get("last_reload", {}).get("ok") is False, what="failed reload")
        assert "injected" in run.status()["last_reload"]["error"]
        await asyncio.sleep(0.3)
        assert snapshot(run) == before and d.current_config().serial_no == 1
        assert d.state == "running" and not run.task.done()  # type: ignore[union-attr]
        assert run.status()["serial_no"] == 1
    write(run.cf, good.replace("serial_no = 1", "serial_no = 8").replace("weight = 1", "weight = 2"))
    await until(lambda: set(run.weights().values()) == {2}, what="valid change applied afterwards")
    assert await run.stop() == 0


@aio
async def test_a_bad_file_at_start_keeps_what_the_previous_pulse_left(tmp_path: Path) -> None:
    ls = await listeners(2)
    good = lvs_cf(servers(ls))
    first = Run(tmp_path, good, keep_table_on_stop=True)     # as a crash would leave it
    await first.start()
    await until(lambda: len(first.weights()) == 2, what="both servers in")
    assert (first.rundir / GOOD_NAME).read_text() == good
    assert await first.stop() == 0
    before, addresses = snapshot(first), set(first.backends.addresses.present)  # type: ignore[attr-defined]
    bad = good.replace("serial_no = 1", "serial_no = 2").replace(ANCHOR, CRASHING[0][0])
    write(first.cf, bad)
    with pytest.raises(ConfigError) as err:
        read_config(first.cf)
    kept = read_last_good(first.rundir, first.cf, err.value.lines)
    assert kept is not None and kept.cfg.serial_no == 1
    second = Run(tmp_path, bad)
    write(second.cf, bad)
    second.backends = first.backends                          # the same kernel
    daemon = Daemon(second.opts, second.backends, kept)
    second.daemon, second.task = daemon, asyncio.create_task(daemon.run())
    await until(lambda: second.status().get("last_reload", {}).get("ok") is False, what="bad file reported")
    assert "expect:" in second.status()["last_reload"]["error"] and second.status()["serial_no"] == 1
    await asyncio.sleep(0.3)
    assert snapshot(second) == before and second.backends.addresses.present == addresses  # type: ignore
    assert (first.rundir / GOOD_NAME).read_text() == good
    assert await second.stop() == 0


def test_no_last_good_copy_means_no_start(tmp_path: Path) -> None:
    assert read_last_good(tmp_path, tmp_path / "lvs.cf", ["bad"]) is None

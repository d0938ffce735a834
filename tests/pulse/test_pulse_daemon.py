"""The daemon against the dry-run backend, with real health checks on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import Listener, aio, lvs_cf, until, write  # noqa: E402

from piranha_web.pulse.kernel.dryrun import DryRunFirewall  # noqa: E402
from piranha_web.pulse.configfile import read_config  # noqa: E402
from piranha_web.pulse.daemon import Daemon  # noqa: E402
from piranha_web.pulse.options import Options  # noqa: E402
from piranha_web.pulse.kernel import dry_run_backends  # noqa: E402
from piranha_web.pulse.reconcile import (  # noqa: E402
    Address, Dest, DestKey, MarkRule, Service, ServiceEntry, ServiceKey,
)
from piranha_web.pulse.ha.role import Role  # noqa: E402
from piranha_web.pulse.statusfile import read_status, status_path  # noqa: E402

WWW = ServiceKey.tcp("203.0.113.10", 80)
OTHER = ServiceKey.tcp("198.51.100.7", 25)


class Run:
    """A daemon task plus its backends and paths."""

    def __init__(self, tmp: Path, text: str, **opts: object) -> None:
        self.cf = tmp / "lvs.cf"
        self.rundir = tmp / "run"
        write(self.cf, text)
        self.backends = dry_run_backends()
        fw = DryRunFirewall()
        self.firewall = fw
        self.backends.firewall_factory = lambda _kind: fw
        self.opts = Options(config=self.cf, runtime_dir=self.rundir, backend="dry-run",
                            poll_interval=0.05, reconcile_interval=1.0, status_interval=0.2,
                            **opts)  # type: ignore[arg-type]
        self.daemon: Daemon | None = None
        self.task: asyncio.Task[int] | None = None

    async def start(self) -> Daemon:
        self.daemon = Daemon(self.opts, self.backends, read_config(self.cf))
        self.task = asyncio.create_task(self.daemon.run())
        await until(lambda: self.daemon is not None and self.daemon.state == "running", what="running")
        return self.daemon

    async def stop(self) -> int:
        assert self.daemon and self.task
        self.daemon.request("stop")
        return await asyncio.wait_for(self.task, 10)

    @property
    def table(self) -> dict[ServiceKey, ServiceEntry]:
        return self.backends.ipvs.table  # type: ignore[attr-defined]

    def weights(self) -> dict[int, int]:
        entry = self.table.get(WWW)
        return {dk.port: d.weight for dk, d in entry.dests.items()} if entry else {}

    def status(self) -> dict:
        return read_status(status_path(self.rundir)) or {}


async def listeners(n: int) -> list[Listener]:
    return [await Listener().start() for _ in range(n)]


def servers(ls: list[Listener], weights: tuple[int, ...] = ()) -> dict[str, tuple[str, int, int]]:
    return {f"rs{i + 1}": ("127.0.0.1", l.port, weights[i] if weights else 1) for i, l in enumerate(ls)}


@aio
async def test_start_programs_table_addresses_and_status(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls, (1, 3))))
    await run.start()
    await until(lambda: len(run.weights()) == 2, what="both servers in")
    assert run.weights() == {ls[0].port: 1, ls[1].port: 3}
    assert run.table[WWW].service == Service("rr")
    assert run.backends.addresses.present == {  # type: ignore[attr-defined]
        Address("203.0.113.10", 32, "eth0", "eth0:1"), Address("192.0.2.254", 32, "eth1", "eth1:1")}
    await until(lambda: run.status().get("health", {}).get("www", {}).get("rs2", {}).get("state") == "up")
    doc = run.status()
    assert doc["role"] == "standalone" and doc["backend"] == "dry-run" and doc["serial_no"] == 1
    assert doc["last_reload"]["ok"] is True and len(doc["config_sha256"]) == 64
    assert doc["table"][0]["service"] == "TCP 203.0.113.10:80"
    assert {d["weight"] for d in doc["table"][0]["dests"]} == {1, 3}
    assert (run.rundir / "pulse.pid").exists()
    assert await run.stop() == 0
    assert run.table == {} and run.backends.addresses.present == set()  # type: ignore[attr-defined]
    assert not (run.rundir / "pulse.pid").exists()
    assert run.status()["state"] == "stopped"


@aio
async def test_failed_server_removed_then_readded_after_reentry(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls), timeout=0.2, reentry=0.4))
    await run.start()
    await until(lambda: len(run.weights()) == 2)
    await ls[0].stop()
    waited = await until(lambda: ls[0].port not in run.weights(), what="rs1 removed")
    assert waited < 0.2 * 2 + 0.3                      # within about one interval
    assert ls[1].port in run.weights()
    await ls[0].start()
    back = await until(lambda: ls[0].port in run.weights(), what="rs1 back")
    assert back >= 0.3                                  # needs reentry (2 passes at 0.2 s)
    await run.stop()


@aio
async def test_one_weight_change_is_one_op_and_others_untouched(tmp_path: Path) -> None:
    ls = await listeners(3)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    d = await run.start()
    await until(lambda: len(run.weights()) == 3)
    await asyncio.sleep(0.3)
    before = d.reconciler.counters.ops_applied
    applied_before = len(run.backends.ipvs.applied)  # type: ignore[attr-defined]
    write(run.cf, lvs_cf(servers(ls, (1, 7, 1)), serial=2))
    await until(lambda: run.weights().get(ls[1].port) == 7, what="weight 7")
    await asyncio.sleep(0.3)
    new_ops = run.backends.ipvs.applied[applied_before:]  # type: ignore[attr-defined]
    expected = f"set-dest TCP 203.0.113.10:80 -> 127.0.0.1:{ls[1].port} nat weight 7"
    assert [str(op) for op in new_ops] == [expected]
    assert d.reconciler.counters.ops_applied - before == 1
    await until(lambda: run.status().get("serial_no") == 2)
    assert run.status()["last_reconcile"]["count"] == 1
    await run.stop()


@aio
async def test_an_edit_of_one_virtual_server_re_reads_and_plans_that_one_alone(tmp_path: Path) -> None:
    """The other virtual server's checks keep running untouched; the pass plans only the edited one."""
    ls = await listeners(2)
    mail = (f"virtual mail {{\n    active = 1\n    address = 203.0.113.11 eth0:2\n    port = 25\n"
            f"    timeout = 0.2\n    server m1 {{\n        address = 127.0.0.1\n        active = 1\n"
            f"        port = {ls[1].port}\n    }}\n}}\n")
    run = Run(tmp_path, lvs_cf(servers(ls[:1]), tail=mail))
    d = await run.start()
    await until(lambda: len(run.weights()) == 1 and len(run.table) == 2, what="both services")
    mail_watch = d.monitor.watches[("mail", "m1")]
    planned: list[set[str] | None] = []
    whole_pass = d.reconciler.reconcile

    def spy(*args: Any) -> Any:
        planned.append(args[-1])               # the daemon passes the scope last
        return whole_pass(*args)

    d.reconciler.reconcile = spy  # type: ignore[method-assign]
    write(run.cf, lvs_cf(servers(ls[:1], (5,)), serial=2, tail=mail))
    await until(lambda: run.weights().get(ls[0].port) == 5, what="weight 5")
    edit = d.config.loaded.edit
    assert edit is not None and edit.names() == {"www"} and d.config.loaded.cfg.serial_no == 2
    assert d.monitor.watches[("mail", "m1")] is mail_watch
    assert {"www"} in planned
    await run.stop()


@aio
async def test_invalid_reload_keeps_table_and_reports_line(tmp_path: Path) -> None:
    ls = await listeners(1)
    good = lvs_cf(servers(ls))
    run = Run(tmp_path, good)
    d = await run.start()
    await until(lambda: len(run.weights()) == 1)
    snapshot = {k: (e.service, dict(e.dests)) for k, e in run.table.items()}
    bad = good.replace("scheduler = rr", "scheduler = bogus").replace("serial_no = 1", "serial_no = 5")
    write(run.cf, bad)
    await until(lambda: run.status().get("last_reload", {}).get("ok") is False, what="failed reload")
    doc = run.status()
    assert f"{run.cf}:" in doc["last_reload"]["error"] and "scheduler" in doc["last_reload"]["error"]
    assert doc["last_reload"]["serial_no"] == 5 and doc["serial_no"] == 1
    await asyncio.sleep(0.3)
    assert {k: (e.service, dict(e.dests)) for k, e in run.table.items()} == snapshot
    assert d.current_config().serial_no == 1
    write(run.cf, good.replace("serial_no = 1", "serial_no = 6"))
    await until(lambda: run.status().get("serial_no") == 6 and run.status()["last_reload"]["ok"])
    await run.stop()


@aio
async def test_removed_server_is_drained_then_deleted(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)), drain_seconds=0.5)
    await run.start()
    await until(lambda: len(run.weights()) == 2)
    write(run.cf, lvs_cf({"rs1": ("127.0.0.1", ls[0].port, 1)}, serial=2))
    await until(lambda: run.weights().get(ls[1].port) == 0, what="drain to weight 0")
    assert any(op.action == "drain-dest" for op in run.backends.ipvs.applied)  # type: ignore[attr-defined]
    assert run.status()["draining"] or True
    waited = await until(lambda: ls[1].port not in run.weights(), what="deleted after drain")
    assert 0.2 <= waited <= 1.5
    assert run.weights() == {ls[0].port: 1}
    await run.stop()


@aio
async def test_unmanaged_services_survive_reconcile_and_stop(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    foreign = ServiceEntry(Service("wlc"), {DestKey("198.51.100.8", 25): Dest(2, "direct")})
    run.table[OTHER] = foreign
    await run.start()
    await until(lambda: len(run.weights()) == 1)
    assert run.table[OTHER] == foreign
    await run.stop()
    assert run.table == {OTHER: foreign}


@aio
async def test_keep_table_on_stop(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)), keep_table_on_stop=True)
    await run.start()
    await until(lambda: len(run.weights()) == 1)
    await run.stop()
    assert WWW in run.table and run.backends.addresses.present  # type: ignore[attr-defined]


@aio
async def test_restart_over_existing_table_changes_nothing(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    run.table[WWW] = ServiceEntry(Service("rr"), {DestKey("127.0.0.1", s.port): Dest(1, "nat") for s in ls})
    await run.start()
    await asyncio.sleep(0.6)        # several check rounds
    assert [op.action for op in run.backends.ipvs.applied] == []  # type: ignore[attr-defined]
    await run.stop()


@aio
async def test_services_pulse_created_are_removed_after_restart(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)), keep_table_on_stop=True)
    await run.start()
    await until(lambda: len(run.weights()) == 1)
    await run.stop()
    # restart (same kernel) with the virtual server renamed to another VIP: the old one must go
    write(run.cf, lvs_cf(servers(ls)).replace("203.0.113.10 eth0:1", "203.0.113.20 eth0:2"))
    run.opts.keep_table_on_stop = False
    await run.start()
    new = ServiceKey.tcp("203.0.113.20", 80)
    await until(lambda: WWW not in run.table and new in run.table, what="old service removed")
    assert Address("203.0.113.10", 32, "eth0", "eth0:1") not in run.backends.addresses.present  # type: ignore
    await run.stop()


@aio
async def test_quiesce_and_sorry_server(tmp_path: Path) -> None:
    ls = await listeners(1)
    extra = "    quiesce_server = 1\n    sorry_server = 127.0.0.2\n"
    run = Run(tmp_path, lvs_cf(servers(ls), extra_vs=extra))
    await run.start()
    await until(lambda: run.weights() == {ls[0].port: 1})
    await ls[0].stop()
    sorry = DestKey("127.0.0.2", 80)
    await until(lambda: sorry in run.table[WWW].dests, what="sorry server in")
    assert run.table[WWW].dests[DestKey("127.0.0.1", ls[0].port)].weight == 0   # quiesced, not deleted
    assert run.table[WWW].dests[sorry].weight == 1
    await ls[0].start()
    await until(lambda: sorry not in run.table[WWW].dests, what="sorry server out")
    assert run.table[WWW].dests[DestKey("127.0.0.1", ls[0].port)].weight == 1
    await run.stop()


@aio
async def test_fwmark_service_installs_mark_rule(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls), extra_vs="    fwmark = 80\n"))
    await run.start()
    mark = ServiceKey.mark(80)
    await until(lambda: mark in run.table and len(run.table[mark].dests) == 1)
    assert run.firewall.rules == {MarkRule("tcp", "203.0.113.10", 80, 80)}
    assert run.status()["marks"] == ["mark tcp 203.0.113.10:80 -> 80"]
    await run.stop()
    assert run.firewall.rules == set() and run.table == {}


@aio
async def test_role_changes_release_and_take_over_the_kernel(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    d = await run.start()
    await until(lambda: len(run.weights()) == 1)
    d.set_role(Role.BACKUP)
    await until(lambda: run.table == {} and not run.backends.addresses.present,  # type: ignore[attr-defined]
                what="backup releases")
    d.set_role(Role.ACTIVE)
    await until(lambda: len(run.weights()) == 1, what="active takes over")
    await run.stop()


@aio
async def test_hot_standby_takes_over_without_reading_the_kernel_again(tmp_path: Path) -> None:
    """A paired node keeps its table across BACKUP -> ACTIVE: the pass plans on the cached copy."""
    run = Run(tmp_path, lvs_cf({"rs1": ("127.0.0.1", 9, 1)}))
    run.rundir.mkdir()
    d = Daemon(run.opts, run.backends, read_config(run.cf))
    d.redundancy = object()  # type: ignore[assignment]   # paired: what set_role looks at
    d.role = Role.BACKUP
    d.reconcile()                                          # hot standby: table without the addresses
    assert WWW in run.table and not run.backends.addresses.present  # type: ignore[attr-defined]

    def no_reads(*_args: object) -> None:
        raise AssertionError("takeover re-read the kernel table")
    for name in ("dump", "dump_services", "dump_dests"):
        setattr(run.backends.ipvs, name, no_reads)
    d.set_role(Role.ACTIVE)
    ops = d.reconcile()
    assert [op.action for op in ops] == ["add-address", "add-address"]
    await d.monitor.stop()


@aio
async def test_sigusr1_dump(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    d = await run.start()
    await until(lambda: len(run.weights()) == 1)
    with caplog.at_level("INFO", logger="pulse"):
        d.request("dump")
        await until(lambda: "state: role standalone" in caplog.text)
    await run.stop()


@aio
async def test_address_already_on_the_host_is_never_removed(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    vip = Address("203.0.113.10", 32, "eth0", "eth0:1")
    run.backends.addresses.present.add(vip)  # type: ignore[attr-defined]
    await run.start()
    await until(lambda: len(run.weights()) == 1)
    assert vip not in run.daemon.reconciler.managed.addresses  # type: ignore[union-attr]
    await run.stop()
    assert run.backends.addresses.present == {vip}  # type: ignore[attr-defined]


@aio
async def test_renamed_server_keeps_its_place_and_health(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    d = await run.start()
    await until(lambda: len(run.weights()) == 2)
    applied = len(run.backends.ipvs.applied)  # type: ignore[attr-defined]
    renamed = {"web-a": ("127.0.0.1", ls[0].port, 1), "rs2": ("127.0.0.1", ls[1].port, 1)}
    write(run.cf, lvs_cf(renamed, serial=2))
    await until(lambda: d.current_config().serial_no == 2)
    await asyncio.sleep(0.3)
    assert run.backends.ipvs.applied[applied:] == []  # type: ignore[attr-defined]
    assert ("www", "rs1") not in d.monitor.targets and d.monitor.states[("www", "web-a")].state == "up"
    await run.stop()


@aio
async def test_a_burst_of_failures_shares_few_reconciles(tmp_path: Path) -> None:
    ls = await listeners(40)
    run = Run(tmp_path, lvs_cf(servers(ls), timeout=0.3))
    d = await run.start()
    await until(lambda: len(run.weights()) == 40, timeout=10)
    before = d.reconciler.counters.passes_with_ops
    for listener in ls:
        await listener.stop()
    await until(lambda: not run.weights(), timeout=10, what="all removed")
    assert d.reconciler.counters.passes_with_ops - before < 20       # 40 removals, coalesced
    await run.stop()


@aio
async def test_connection_timeouts_are_set_like_ipvsadm_set(tmp_path: Path) -> None:
    ls = await listeners(1)
    text = lvs_cf(servers(ls)).replace("network = nat", "network = nat\ntcp_timeout = 600\nudp_timeout = 30")
    run = Run(tmp_path, text)
    d = await run.start()
    assert run.backends.ipvs.timeouts == (600, 120, 30)  # type: ignore[attr-defined]
    await until(lambda: run.status().get("ipvs_timeouts") == [600, 0, 30])
    await until(lambda: len(run.weights()) == 1, what="the server in")
    ops = d.reconciler.counters.ops_applied
    d.reconcile()
    assert d.reconciler.counters.ops_applied == ops          # only when changed
    await run.stop()


@aio
async def test_runtime_files_are_not_writable_by_others_even_with_umask_0(tmp_path: Path) -> None:
    import os
    import stat

    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    old = os.umask(0)
    try:
        await run.start()
        await until(lambda: (run.rundir / "pulse-status.json").exists(), what="status written")
        for path in (run.rundir, run.rundir / "pulse.pid", run.rundir / "pulse-status.json"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert not mode & (stat.S_IWGRP | stat.S_IWOTH), (path.name, oct(mode))
    finally:
        os.umask(old)
        await run.stop()


@aio
async def test_a_late_sighup_cannot_cut_the_teardown_short(tmp_path: Path) -> None:
    # The console SIGHUPs pulse on every publish; once the stop has begun, the default
    # action (terminate) would leave VIPs and services behind on a node handing over.
    import signal

    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    before = signal.getsignal(signal.SIGHUP)
    try:
        await run.start()
        assert await run.stop() == 0
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)


@aio
async def test_a_failing_kernel_dump_is_retried_not_fatal(tmp_path: Path) -> None:
    # Stopping on a transient netlink error would tear the whole table down (an outage).
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    daemon = await run.start()
    await until(lambda: len(run.weights()) == 1, what="server in")
    ipvs = run.backends.ipvs
    real_services, real_dump, calls = ipvs.dump_services, ipvs.dump, []

    def flaky_services():
        calls.append("services")
        if calls.count("services") == 1:
            raise OSError(105, "No buffer space available")
        return real_services()

    def counted_dump():
        calls.append("dump")
        return real_dump()

    ipvs.dump_services, ipvs.dump = flaky_services, counted_dump  # type: ignore[method-assign]
    daemon.reconciler.fresh = True
    daemon._wake.set()                  # wake the loop: the next pass verifies (and fails once)
    await until(lambda: "dump" in calls, what="the whole table re-read after the failure")
    assert daemon.state == "running" and not run.task.done()
    assert len(run.weights()) == 1
    assert await run.stop() == 0


@aio
async def test_health_changes_wait_for_their_window_but_a_reload_does_not(tmp_path: Path) -> None:
    """A poll tick inside the coalescing window does not reconcile for health; a reload goes at once."""
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    d = await run.start()
    await until(lambda: len(run.weights()) == 2, what="both servers in")
    passes = d.reconciler.counters.passes_with_ops
    d.health_window.pass_seconds = 30.0         # the last pass was slow: a long window
    d.monitor.states[("www", "rs1")].state = "down"
    d._on_health_change(("www", "rs1"), "down")
    d.tick()
    assert d.reconciler.counters.passes_with_ops == passes and len(run.weights()) == 2
    handle = d.health_window.handle
    assert handle is not None and handle.when() - asyncio.get_running_loop().time() <= 1.0
    assert d.health_window.due is not None
    d.health_window.due -= 2.0          # the window is over: more changes do not reopen it
    d._on_health_change(("www", "rs2"), "up")
    assert not d.health_window.is_open()
    write(run.cf, lvs_cf(servers(ls, (5, 1))).replace("serial_no = 1", "serial_no = 2"))
    d.request("reload")
    d.tick()
    assert run.weights() == {ls[1].port: 1}    # the reload's pass also applied the pending change
    assert d.health_window.handle is not None
    d.health_window.handle.cancel()
    await run.stop()

"""pulse's lifecycle: load lvs.cf, reconcile the kernel, watch health and the file, stop cleanly.

Reload triggers: SIGHUP, or a changed lvs.cf noticed by polling its
mtime/size/inode every ``poll_interval`` (0.5 s) and comparing SHA-256 (the
console is unprivileged and never signals pulse).  A reload with an invalid
file logs ``FILE:LINE: message``, keeps the last good table and reports the
error in the status file.

Reconcile, never restart: at start, after a reload, after a health change,
when a drain deadline passes, and every ``reconcile_interval`` (5 s) the
desired table is diffed against the kernel's (``reconcile.plan``) and only the
difference is applied - one netlink request per operation.  The periodic pass
dumps the kernel table (repairing changes made behind pulse's back and
refreshing the counters); event-driven passes use a copy kept in step with
pulse's own ops, because a dump costs one request per service.
Services pulse does not manage are left alone.  A real server removed from
lvs.cf is drained (weight 0) for ``drain_seconds`` (default 5 s) and then
deleted.  Servers already in the kernel at start are presumed UP until their
first check, so restarting pulse does not flap a healthy table.

What gets programmed: IPVS services (TCP, UDP, fwmark) and destinations;
the VIPs and the NAT router address (with a gratuitous ARP burst in
standalone mode); firewall-mark rules for fwmark services; lvs.cf's
tcp/tcpfin/udp connection timeouts (lvsd's ``ipvsadm --set``).

Signals only set flags; the main loop acts: SIGHUP reload, SIGTERM/SIGINT
clean stop (remove pulse's mark rules, services and addresses unless
``keep_table_on_stop``), SIGUSR1 dumps the state to the log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lvscf.files import write_atomic
from .health.checks import make_spec
from .configfile import ConfigError, LoadedConfig, attempted_serial, read_config, signature
from .health.state import UP
from .kernel import Backends
from .managed import load_managed, save_managed
from .health.monitor import Monitor, Target
from .reconcile import (
    DEL_SERVICE, Address, Dest, DestKey, MarkRule, Op, ServiceKey, Table,
    configured_dests_by_service, desired_addresses, desired_marks, desired_table, plan, plan_addresses,
    apply_op, plan_marks, service_key,
)
from .ha.role import Role, initial_role, programs_kernel
from .ha import redundancy as _redundancy  # redundancy (issue 7)
from .sdnotify import notify
from .statusfile import MANAGED_NAME, PID_NAME, STATUS_NAME, write_status
from .statusdoc import status_document

log = logging.getLogger("pulse")

HEALTH_COALESCE = 0.02   # seconds: health changes within this window share one reconcile


@dataclass
class Options:
    """Everything the command line can set."""

    config: Path
    runtime_dir: Path
    backend: str = "auto"
    drain_seconds: float = 5.0
    reconcile_interval: float = 5.0
    poll_interval: float = 0.5
    status_interval: float = 2.0
    keep_table_on_stop: bool = False
    forceactive: bool = False


@dataclass
class Drain:
    """A destination leaving the configuration: weight 0 until ``deadline``."""

    deadline: float
    dest: Dest


@dataclass
class Counters:
    """Reconcile bookkeeping reported in the status file."""

    ops_applied: int = 0
    passes_with_ops: int = 0
    last_ops: list[Op] = field(default_factory=list)
    last_errors: list[str] = field(default_factory=list)
    last_time: float | None = None


class Daemon:
    """One pulse instance (construct, then ``await run()``)."""

    def __init__(self, opts: Options, backends: Backends, loaded: LoadedConfig) -> None:
        self.opts = opts
        self.kernel = backends
        self.loaded = loaded
        self.role = Role.STANDALONE
        self.monitor = Monitor(self._on_health_change)
        self.drains: dict[tuple[ServiceKey, DestKey], Drain] = {}
        self.managed = load_managed(opts.runtime_dir / MANAGED_NAME)
        self.firewall: Any = None
        self.counters = Counters()
        self.redundancy: Any = None  # redundancy (issue 7): heartbeat FSM, config sync, syncd
        self.last_reload: dict[str, Any] = {"time": time.time(), "ok": True, "error": None,
                                            "serial_no": loaded.cfg.serial_no}
        self.started = time.time()
        self.reload_stats: dict[str, Any] = {"total": 0, "failed": 0, "last_duration": 0.0}  # /metrics
        self.state = "starting"
        self._wake = asyncio.Event()
        self._flags: set[str] = set()
        self._dirty = True
        self._fresh = True            # next reconcile re-dumps the kernel table
        self._actual: Table | None = None
        self._next_reconcile = 0.0
        self._last_status = 0.0
        self._next_status = 0.0
        self._wake_handle: asyncio.TimerHandle | None = None
        self.timeouts_applied: tuple[int, int, int] | None = None
        self._announcements: set[asyncio.Task[None]] = set()

    # ---- lifecycle ---------------------------------------------------------------------
    async def run(self) -> int:
        """Start, loop until a stop signal, clean up; returns the exit code."""
        self._install_signals()
        self.role = initial_role(self.loaded.cfg.backup_active, self.opts.forceactive,
                                 self._is_primary())
        if _redundancy.enabled(self.loaded.cfg):  # redundancy (issue 7): start standby, the FSM activates
            try:
                self.redundancy = _redundancy.Redundancy(self, self._is_primary())
            except Exception as exc:  # noqa: BLE001 - bad key file / settings: refuse to start
                log.error("cannot start redundancy: %s", exc)
                return 1
            self.role = Role.BACKUP
        log.info("STARTING PULSE AS %s (backend %s, config %s serial_no %s)", self.role.value.upper(),
                 self.kernel.name, self.opts.config, self.loaded.cfg.serial_no)
        self._write_pid()
        try:
            self._seed_health()
            self._apply_config()
            self.state = "running"
            self.reconcile()
            self.write_status()
            self.settle_gc()
            notify("READY=1")
            if self.redundancy is not None:  # redundancy (issue 7)
                await self.redundancy.start(self.opts.forceactive)
            await self._main_loop()
        finally:
            await self._shutdown()
        return 0

    async def _main_loop(self) -> None:
        """Wake on signals/health changes or every poll interval; do what is due."""
        while "stop" not in self._flags:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.opts.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            self.tick()

    def tick(self) -> None:
        """One pass of the main loop (public so tests can drive it)."""
        if "reload" in self._flags or signature(self.opts.config) != self.loaded.signature:
            self._flags.discard("reload")
            self.reload()
        if "dump" in self._flags:
            self._flags.discard("dump")
            self.dump_state()
        now = time.monotonic()
        if now >= self._next_reconcile:
            self._fresh = True        # periodic pass: re-read the kernel (external changes, counters)
        if self._dirty or self._fresh or self._drain_due(time.time()):
            try:
                self.reconcile()
            except Exception as exc:  # noqa: BLE001 - a kernel hiccup must not stop (and tear down) pulse
                log.error("reconcile failed, retrying within %.0fs: %s", self.opts.reconcile_interval, exc)
                self._actual = None   # the periodic pass re-reads the kernel and tries again
        if now >= self._next_status:
            self.write_status()

    async def _shutdown(self) -> None:
        """Stop checks, remove what pulse put in the kernel (unless told to keep it)."""
        self.state = "stopped"
        notify("STOPPING=1")
        if self.redundancy is not None:  # redundancy (issue 7): STOPPING heartbeat first = instant handover
            await self.redundancy.stop()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            loop.remove_signal_handler(sig)
        # Already stopping: a publish's SIGHUP (or a USR1) must not terminate us mid-teardown.
        for sig in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        await self.monitor.stop()
        for task in list(self._announcements):
            task.cancel()
        if self.opts.keep_table_on_stop:
            log.info("stopping; keeping IPVS table, addresses and mark rules (--keep-table-on-stop)")
        else:
            self._teardown()
        self.write_status()
        self.kernel.ipvs.close()
        self.kernel.addresses.close()
        for name in (PID_NAME,):
            try:
                (self.opts.runtime_dir / name).unlink()
            except FileNotFoundError:
                pass
        log.info("pulse stopped")

    def _teardown(self) -> None:
        """Remove mark rules, managed services and addresses, in that order; each step best effort."""
        try:
            if self.managed.marks or self.managed.firewall:
                self._firewall().remove_all()
                self.managed.marks, self.managed.firewall = set(), None
        except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
            log.error("cannot remove firewall marks: %s", exc)
        try:
            actual = self.kernel.ipvs.dump()
        except Exception as exc:  # noqa: BLE001
            log.error("cannot read the IPVS table: %s", exc)
            actual = {}
        for key in sorted(self.managed.services):
            if key in actual and self._apply(Op(DEL_SERVICE, key, actual[key].service)) is None:
                self.managed.services.discard(key)
            elif key not in actual:
                self.managed.services.discard(key)
        for address in sorted(self.managed.addresses):
            self._apply(Op("del-address", address=address))
        self._save_managed()

    # ---- signals -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        """Handlers only set flags and wake the loop."""
        loop = asyncio.get_running_loop()
        for sig, flag in ((signal.SIGHUP, "reload"), (signal.SIGTERM, "stop"),
                          (signal.SIGINT, "stop"), (signal.SIGUSR1, "dump")):
            loop.add_signal_handler(sig, self.request, flag)

    def request(self, flag: str) -> None:
        """Ask the main loop to ``reload``, ``stop`` or ``dump``."""
        self._flags.add(flag)
        self._wake.set()

    # ---- configuration -------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read lvs.cf; on error keep the last good configuration and report it."""
        t0 = time.perf_counter()
        self.reload_stats["total"] += 1
        try:
            loaded = read_config(self.opts.config)
        except ConfigError as exc:
            self.reload_stats["failed"] += 1
            self.reload_stats["last_duration"] = round(time.perf_counter() - t0, 6)
            for line in exc.lines:
                log.error("reload failed, keeping serial_no %s: %s", self.loaded.cfg.serial_no, line)
            self.last_reload = {"time": time.time(), "ok": False, "error": "; ".join(exc.lines),
                                "serial_no": attempted_serial(self.opts.config)}
            # Remember the bad file's signature so it is not re-read every poll.
            self.loaded = LoadedConfig(self.loaded.cfg, self.loaded.sha256, signature(self.opts.config))
            self.write_status()
            return
        self.last_reload = {"time": time.time(), "ok": True, "error": None,
                            "serial_no": loaded.cfg.serial_no}
        if loaded.sha256 == self.loaded.sha256:
            self.loaded = loaded
            return
        log.info("reloading %s: serial_no %s -> %s", self.opts.config, self.loaded.cfg.serial_no,
                 loaded.cfg.serial_no)
        self.loaded = loaded
        self._apply_config()
        self._dirty = True            # cached table: a reload costs no kernel dump
        self.settle_gc()
        self.reload_stats["last_duration"] = round(time.perf_counter() - t0, 6)

    def _apply_config(self) -> None:
        """Point the health monitor at the active real servers of the current configuration."""
        targets: list[Target] = []
        for vs in self.loaded.cfg.active_virtuals():
            if vs.load_monitor in ("uptime", "rup", "ruptime"):
                log.warning("%s: load_monitor = %s is not implemented (weights stay as configured)",
                            vs.name, vs.load_monitor)
            for rs in vs.servers:
                if not rs.active:
                    continue
                spec = make_spec(rs.address, vs.server_port(rs), float(vs.timeout), vs.protocol,
                                 vs.send, vs.expect, vs.use_regex, vs.send_program)
                targets.append(Target((vs.name, rs.name), spec, float(vs.timeout), float(vs.reentry)))
        # redundancy (issue 7): a standby keeps checking too (warm standby)
        if programs_kernel(self.role) or self.redundancy is not None:
            self.monitor.update(targets)
        else:
            self.monitor.update([])

    def set_role(self, role: Role) -> None:
        """Change role (the redundancy controller's hook): the next pass adds or removes everything."""
        if role == self.role:
            return
        log.info("role %s -> %s", self.role.value, role.value)
        self.role = role
        self._apply_config()
        self._dirty = self._fresh = True
        self._wake.set()

    def _seed_health(self) -> None:
        """Servers already in the kernel with weight > 0 are presumed UP until checked."""
        if not programs_kernel(self.role):
            return
        actual = self.kernel.ipvs.dump()
        for vs in self.loaded.cfg.active_virtuals():
            entry = actual.get(service_key(vs))
            if entry is None:
                continue
            for rs in vs.servers:
                dest = entry.dests.get(DestKey(rs.address, vs.server_port(rs)))
                if rs.active and dest is not None and dest.weight > 0:
                    self.monitor.seed((vs.name, rs.name), UP)

    def _is_primary(self) -> bool:
        """Does this host carry the ``primary`` address? (Only consulted with a backup.)"""
        primary = self.loaded.cfg.primary
        if not primary:
            return False
        try:
            import socket
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((primary, 0))
            return True
        except OSError:
            return False

    # ---- reconcile -----------------------------------------------------------------------
    def _on_health_change(self, key: tuple[str, str], state: str) -> None:
        """A server went up/down: reconcile within ~20 ms.

        The short delay coalesces a burst (a switch failing takes hundreds of
        servers down within milliseconds) into one reconcile instead of one each.
        """
        self._dirty = True
        # show it in the status file soon, but at most ~5 writes/s during a flapping storm
        self._next_status = min(self._next_status, self._last_status + 0.2)
        if self._wake_handle is None:
            self._wake_handle = asyncio.get_running_loop().call_later(HEALTH_COALESCE, self._health_wake)

    def _health_wake(self) -> None:
        """End of the coalescing window: let the main loop reconcile."""
        self._wake_handle = None
        self._wake.set()

    def desired(self, actual: Table, now: float) -> tuple[Table, set[Address], set[MarkRule]]:
        """What the kernel should hold now (nothing when the role does not program it)."""
        if not programs_kernel(self.role):
            self.drains.clear()
            return {}, set(), set()
        cfg = self.loaded.cfg
        self._update_drains(cfg, actual, now)
        table = desired_table(cfg, self.monitor.health(), {k: d.dest for k, d in self.drains.items()})
        return table, desired_addresses(cfg), desired_marks(cfg)

    def _update_drains(self, cfg: Any, actual: Table, now: float) -> None:
        """Start draining destinations that left the config; forget finished or returned ones."""
        configured = self._config_index(cfg)
        if self.opts.drain_seconds > 0:
            for key, wanted in configured.items():
                entry = actual.get(key)
                if entry is None:
                    continue
                for dk in entry.dests.keys() - wanted:
                    if (key, dk) not in self.drains:
                        log.info("draining %s -> %s for %.1fs", key, dk, self.opts.drain_seconds)
                        self.drains[(key, dk)] = Drain(now + self.opts.drain_seconds, entry.dests[dk])
        for pair, drain in list(self.drains.items()):
            key, dk = pair
            gone = key not in actual or dk not in actual[key].dests
            if key not in configured or dk in configured[key] or gone or now >= drain.deadline:
                del self.drains[pair]

    def _config_index(self, cfg: Any) -> dict[ServiceKey, set[DestKey]]:
        """Configured destinations per service, computed once per configuration."""
        cached = getattr(self, "_index", None)
        if cached is None or cached[0] is not cfg:
            cached = (cfg, configured_dests_by_service(cfg))
            self._index = cached
        return cached[1]

    def _drain_due(self, now: float) -> bool:
        """Has any drain deadline passed?"""
        return any(now >= d.deadline for d in self.drains.values())

    def actual_table(self, fresh: bool = True) -> Table:
        """The kernel table: dumped when ``fresh`` (or unknown), else the copy kept in step with our ops.

        Dumping costs one netlink request per service, so passes triggered by
        a health change, a reload, a role change or a drain deadline use the
        cached copy; the periodic pass (``reconcile_interval``) and any pass
        after a failed op dump, so changes made behind pulse's back are still
        repaired within one interval.
        """
        if fresh or self._actual is None:
            self._actual = self.kernel.ipvs.dump()
        return self._actual

    def compute_plan(self, fresh: bool = True) -> tuple[list[Op], Table, set[MarkRule]]:
        """Ops that would be applied now (used by reconcile and ``--plan``)."""
        actual = self.actual_table(fresh)
        table, addresses, marks = self.desired(actual, time.time())
        ops = plan(table, actual, self.managed.services, self.drains.keys())
        mine = set(self.managed.addresses)
        have = self.kernel.addresses.present_of(addresses | mine)
        foreign = have - mine       # already there, not put there by pulse: never add/remove those
        addr_ops = [op for op in plan_addresses(addresses, have & mine) if op.address not in foreign]
        ops = addr_ops + ops + plan_marks(marks, self.managed.marks)
        return ops, table, marks

    def reconcile(self) -> list[Op]:
        """Apply the minimal diff; errors are logged and retried next pass."""
        fresh = self._fresh
        self._dirty = self._fresh = False
        if fresh:
            self._next_reconcile = time.monotonic() + self.opts.reconcile_interval
        ops, table, marks = self.compute_plan(fresh)
        self._apply_timeouts()
        errors = [err for op in ops if op.mark is None for err in [self._apply(op)] if err]
        self._announce([op.address for op in ops if op.action == "add-address" and op.address is not None
                        and op.address in self.managed.addresses])
        if any(op.mark is not None for op in ops):
            self._sync_marks(marks, errors)
        deleted = {op.key for op in ops if op.action == DEL_SERVICE}
        self.managed.services = (self.managed.services | set(table)) - deleted
        self._save_managed()
        if ops:
            self.counters.passes_with_ops += 1
            self.counters.last_ops, self.counters.last_errors = ops, errors
            self.counters.last_time = time.time()
            self._next_status = 0.0     # written at the end of this loop pass
        return ops

    def _announce(self, added: list[Address]) -> None:
        """Gratuitous ARP for VIPs just brought up, 5 times 1 s apart as Piranha's send_arp loop did.

        Only for the real backend and without redundancy (the failover
        controller announces on takeover itself).
        """
        if not added or self.kernel.name != "ipvs" or self.redundancy is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        from .kernel import garp
        task = loop.create_task(garp.announce([(a.label, a.ip) for a in added], 5, 1.0), name="garp")
        self._announcements.add(task)
        task.add_done_callback(self._announcements.discard)

    def _apply_timeouts(self) -> None:
        """lvs.cf tcp_timeout/tcpfin_timeout/udp_timeout, like lvsd's ``ipvsadm --set`` (when changed)."""
        cfg = self.loaded.cfg
        wanted = (int(cfg.tcp_timeout or 0), int(cfg.tcpfin_timeout or 0), int(cfg.udp_timeout or 0))
        if not programs_kernel(self.role) or not any(wanted) or wanted == self.timeouts_applied:
            return
        try:
            self.kernel.ipvs.set_timeouts(*wanted)
        except Exception as exc:  # noqa: BLE001
            log.error("set-timeouts %s failed: %s", wanted, exc)
            return
        self.timeouts_applied = wanted
        self.counters.ops_applied += 1
        log.info("set-timeouts tcp %d tcpfin %d udp %d (0 = unchanged)", *wanted)

    def _apply(self, op: Op) -> str | None:
        """Apply one op to its backend, count it, log it; returns an error text on failure."""
        try:
            if op.address is not None:
                if op.action == "add-address":
                    self.kernel.addresses.add(op.address)
                    self.managed.addresses.add(op.address)
                else:
                    self.kernel.addresses.remove(op.address)
                    self.managed.addresses.discard(op.address)
            else:
                self.kernel.ipvs.apply(op)
                if self._actual is not None:
                    apply_op(self._actual, op)
        except Exception as exc:  # noqa: BLE001 - kernel errors must not kill the daemon
            log.error("%s failed: %s", op, exc)
            self._actual = None     # re-read the kernel on the next pass (retry within reconcile_interval)
            return f"{op}: {exc}"
        self.counters.ops_applied += 1
        log.info("%s", op)
        return None

    def _firewall(self) -> Any:
        """The firewall backend, chosen on first use (nft probing creates pulse's table)."""
        if self.firewall is None:
            # the kind used before (persisted), so a restart removes what the last run created
            self.firewall = self.kernel.firewall_factory(self.managed.firewall)
        return self.firewall

    def _sync_marks(self, marks: set[MarkRule], errors: list[str]) -> None:
        """Rewrite pulse's mark table/chain to hold exactly ``marks``."""
        try:
            if marks:
                self._firewall().sync(marks)
                self.managed.firewall = self._firewall().name
            else:
                self._firewall().remove_all()
                self.managed.firewall = None
        except Exception as exc:  # noqa: BLE001
            log.error("firewall marks failed: %s", exc)
            errors.append(f"firewall: {exc}")
            return
        for m in sorted(marks - self.managed.marks):
            log.info("add-mark %s (%s)", m, self._firewall().name)
        for m in sorted(self.managed.marks - marks):
            log.info("del-mark %s", m)
        self.counters.ops_applied += len(marks ^ self.managed.marks)
        self.managed.marks = marks

    def _save_managed(self) -> None:
        """Persist the managed set when it changed (set comparison, no JSON rendering each pass)."""
        m = self.managed
        snapshot = (frozenset(m.services), frozenset(m.addresses), frozenset(m.marks), m.firewall)
        if getattr(self, "_managed_snapshot", None) != snapshot:
            save_managed(self.opts.runtime_dir / MANAGED_NAME, m)
            self._managed_snapshot = snapshot

    @staticmethod
    def settle_gc() -> None:
        """Move the long-lived objects (config, tables) out of the collector's way.

        With 10,000 real servers every full collection would walk the whole
        configuration; freezing it after start and after each reload keeps a
        one-change reconcile in the tens of milliseconds.
        """
        gc.collect()
        gc.freeze()

    # ---- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The status document (see statusfile.py for the layout)."""
        return status_document(self)

    def write_status(self) -> None:
        """Write the status file now."""
        self._last_status = time.monotonic()
        self._next_status = self._last_status + self.opts.status_interval
        try:
            write_status(self.opts.runtime_dir / STATUS_NAME, self.status())
        except OSError as exc:
            log.error("cannot write status: %s", exc)

    def dump_state(self) -> None:
        """SIGUSR1: log the table and health."""
        doc = self.status()
        log.info("state: role %s serial_no %s ops %d", doc["role"], doc["serial_no"], doc["ops_applied"])
        for svc in doc["table"]:
            log.info("  %s %s: %s", svc["service"], svc["scheduler"],
                     ", ".join(f"{d['addr']}:{d['port']} w{d['weight']}" for d in svc["dests"]) or "-")
        for vs, servers in doc["health"].items():
            for rs, h in servers.items():
                log.info("  %s/%s %s:%s %s", vs, rs, h["address"], h["port"], h["state"])

    def _write_pid(self) -> None:
        """Write the pid file (main() already refused to start over a live one)."""
        # Explicit modes, whatever the umask: only root may plant files pulse reads back
        # (pulse-managed.json decides what a stop removes) or point the pid file elsewhere.
        self.opts.runtime_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        write_atomic(self.opts.runtime_dir / PID_NAME, f"{os.getpid()}\n", mode=0o644)

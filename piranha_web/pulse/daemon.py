"""pulse's lifecycle: start, signals that set flags, the main loop, a clean stop.

Reload on SIGHUP or a changed lvs.cf (polled: the console never signals pulse); a bad file keeps
the last good table.  The Reconciler changes the kernel, the EcmpCluster the BGP announcements, the
daemon decides when (start, reload, health, role or runtime change, drain deadline, every
``reconcile_interval``).  SIGTERM/SIGINT stop cleanly (ECMP: drain first), SIGUSR1 logs the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from ..lvscf.model import LvsConfig
from .configfile import ConfigWatch, LoadedConfig
from .ecmp.cluster import EcmpCluster
from .ha import redundancy as _redundancy
from .ha.role import Role, holds_table, programs_kernel
from .health.monitor import Monitor, seed_from_table
from .healthwindow import HealthWindow
from .kernel import Backends
from .options import Options
from .reconciler import Reconciler, gc_paused, settle_gc
from .reconcile import Op
from .runtime.control import RuntimeControl
from .sdnotify import notify
from .signals import install as install_signals, ignore_during_teardown
from .jsonchunks import materialize
from .statusdoc import RunInfo, StatusWriter, log_state, status_parts
from .statusfile import PID_NAME, STATUS_NAME, Lifecycle, StatusDoc, remove_pid, write_pid

log = logging.getLogger("pulse")


class Daemon:
    """One pulse instance (construct, then ``await run()``); implements redundancy's ``Host``."""

    def __init__(self, opts: Options, backends: Backends, loaded: LoadedConfig) -> None:
        self.opts = opts
        self.kernel = backends
        self.config = ConfigWatch(opts.config, loaded, opts.runtime_dir)
        self.role = Role.STANDALONE
        self.state = Lifecycle.STARTING
        self.monitor = Monitor(self._on_health_change, opts.load_period)
        self.reconciler = Reconciler(backends, opts.runtime_dir, opts.drain_seconds, opts.reconcile_interval)
        self.redundancy: _redundancy.Redundancy | None = None
        self.cluster = EcmpCluster(opts.runtime_dir, backends.sysctls, backends.name == "ipvs", self)
        self.started = time.time()
        self.status_file = StatusWriter(opts.runtime_dir / STATUS_NAME, opts.status_interval,
                                        self.status_parts)
        self._wake = asyncio.Event()
        self._flags: set[str] = set()
        self.health_window = HealthWindow(self._wake.set)
        self.runtime = RuntimeControl(opts, self.reconciler, self.current_config, self._wake.set)
        self.runtime.ops["cluster"] = self.cluster.channel_request   # the console's DRAIN/UNDRAIN

    def current_config(self) -> LvsConfig:
        """The lvs.cf in force (redundancy's view of the daemon)."""
        return self.config.loaded.cfg

    async def run(self) -> int:
        """Start, loop until a stop signal, clean up; returns the exit code."""
        install_signals(self.request)         # handlers only set flags and wake the loop
        try:
            self.role, self.redundancy = _redundancy.starting_role(self, self.opts.config,
                                                                   self.opts.forceactive)
        except Exception as exc:  # noqa: BLE001 - bad key file / settings: refuse to start
            log.error("cannot start redundancy: %s", exc)
            return 1
        log.info("STARTING PULSE AS %s (backend %s, config %s serial_no %s)", self.role.value.upper(),
                 self.kernel.name, self.opts.config, self.current_config().serial_no)
        write_pid(self.opts.runtime_dir)
        try:
            with gc_paused():         # building 10,000 targets: collect once, after (settle_gc)
                if self._holds_table():
                    seed_from_table(self.monitor, self.current_config(), self.kernel.ipvs.dump())
                self._apply_config()
                self.state = Lifecycle.RUNNING
                self.reconcile()
                self.config.keep()
                self.write_status()
            settle_gc()
            notify("READY=1")
            await self.runtime.channel.start()
            if self.redundancy is not None:
                await self.redundancy.start(self.opts.forceactive)
            await self._main_loop()
        finally:
            await self._shutdown()
        return 0

    async def _main_loop(self) -> None:
        """Wake on signals/health changes or every poll interval; do what is due."""
        while "stop" not in self._flags:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.opts.poll_interval)
            self._wake.clear()
            self.tick()

    def tick(self) -> None:
        """One pass of the main loop (public so tests can drive it)."""
        reloaded = "reload" in self._flags or self.config.changed_on_disk()
        if reloaded:
            self._flags.discard("reload")
            self.reload()
        if "dump" in self._flags:
            self._flags.discard("dump")
            log_state(self.status())
        if self.reconciler.due() and (reloaded or not self.health_window.is_open()):
            try:
                self.reconcile()
            except Exception as exc:  # noqa: BLE001 - a kernel hiccup must not stop (and tear down) pulse
                log.error("reconcile failed, retrying within %.0fs: %s", self.opts.reconcile_interval, exc)
                self.reconciler.forget_table()   # the periodic pass re-reads the kernel and tries again
        self.cluster.tick(on_change=self.status_file.now)
        self.runtime.sample()
        if self.status_file.due():
            self.status_file.start()      # in slices: a reload or heartbeat never waits for a whole document

    async def _shutdown(self) -> None:
        """Stop checks, remove what pulse put in the kernel (unless told to keep it)."""
        self.state = Lifecycle.STOPPED
        notify("STOPPING=1")
        if self.redundancy is not None:   # STOPPING heartbeats first: the peer takes over at once
            await self.redundancy.stop()
        await self.cluster.leave()        # ECMP: withdraw, let the router move flows, stop BIRD
        ignore_during_teardown()
        await asyncio.gather(self.monitor.stop(), self.runtime.channel.stop())
        self.reconciler.finish(self.opts.keep_table_on_stop)
        self.write_status()
        self.kernel.close()
        remove_pid(self.opts.runtime_dir / PID_NAME)
        log.info("pulse stopped")

    def request(self, flag: str) -> None:
        """Ask the main loop to ``reload``, ``stop`` or ``dump``."""
        self._flags.add(flag)
        self._wake.set()

    def reload(self) -> None:
        """Re-read lvs.cf and apply it; on any error the last good one stays and the status says why."""
        with gc_paused():
            changed = self.config.reload(lambda: self._apply_config(program=True), self._apply_config)
        if changed:
            settle_gc()
        elif not self.config.last_reload["ok"]:
            self.write_status()

    def _apply_config(self, program: bool = False) -> None:
        """Point the checks at the servers (a hot standby too); reconcile now, or re-read next pass.

        A reload that edited one virtual server re-targets and plans that one alone.
        """
        edit = self.config.loaded.edit if program and self._holds_table() else None
        self.monitor.update(*self.config.checks(self._holds_table(), edit))
        if edit is not None:
            self.reconciler.follow(edit)
        if program:
            self.reconcile()               # cached table: a reload costs no kernel dump
        else:
            self.reconciler.fresh = True   # repairs whatever a failed reload changed

    def set_role(self, role: Role) -> None:
        """Change role (the failover controller's hook): the next pass adds or removes everything.

        A hot standby keeps its table and its checks across the change: the
        pass plans on the cached copy (the periodic pass verifies it), so a
        takeover costs the address requests alone, not re-targeting every
        check and re-reading the kernel first.
        """
        if role == self.role:
            return
        log.info("role %s -> %s", self.role.value, role.value)
        kept = self._holds_table()
        self.role = role
        if not (kept and self._holds_table()):
            self._apply_config()           # checks follow the table; the pass re-reads the kernel
        self.reconciler.dirty = True
        self._wake.set()

    def _holds_table(self) -> bool:
        """Does this node keep the IPVS table programmed (active, or hot standby)?"""
        return holds_table(self.role, self.redundancy is not None)

    def reconcile(self) -> list[Op]:
        """One reconcile pass for the configuration, health and role in force."""
        cfg, holds, addresses = self.current_config(), self._holds_table(), programs_kernel(self.role)
        with self.health_window.reconciling():
            scope = self.reconciler.scope(cfg, holds, addresses)     # None: the whole table
            health = self.monitor.health(scope)
            ops = self.reconciler.reconcile(cfg, health, holds, self.redundancy is None and not cfg.ecmp,
                                            addresses, self.monitor.weights(scope), scope)   # ECMP: lo
        self.cluster.update(cfg, self.reconciler.actual_table(fresh=False), health)
        if ops:
            self.status_file.now()
        return ops

    def _on_health_change(self, key: tuple[str, str], state: str) -> None:
        """A server went up/down: re-plan its service soon, one pass for a whole burst (see healthwindow)."""
        self.reconciler.touch(key[0])
        self.status_file.soon()
        self.health_window.changed()

    def status(self) -> StatusDoc:
        """The status document (schema: statusfile.StatusDoc), with the counters the sampler refreshed."""
        return cast(StatusDoc, materialize(self.status_parts()))

    def status_parts(self) -> dict[str, Any]:
        """The status document with its per-server parts lazy (what the sliced writer encodes)."""
        run = RunInfo(self.state, self.role, self.config.loaded, self.opts.config, self.config.last_reload,
                      self.config.stats, self.kernel.name, self.started, self.opts.drain_seconds)
        redundancy = self.redundancy.status() if self.redundancy is not None else None
        doc = status_parts(run, self.reconciler, self.monitor, redundancy, self.runtime.status)
        doc["cluster"] = self.cluster.status()
        return doc

    def write_status(self) -> None:
        """Write the status file now."""
        self.status_file.write()

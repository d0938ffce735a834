"""Runs health checks in-process from one scheduler, not one asyncio task per real server.

A heap orders the servers by when their next check is due; a single loop
timer (re-armed for the earliest due time) works through every due server.
Plain TCP connect checks that complete inside ``connect()`` (the common case
on a LAN) are decided right there, with no task, sleep or timer of their
own; a plain connect whose handshake is still in flight, and an HTTP(S)
check, wait on their socket (:mod:`.waits`: one one-shot epoll
registration and one deadline in a heap, no task); anything else that
has to wait (send/expect, UDP, programs, DNS, agents) runs as a task, so
a hung server still only delays its own next check.  The next check is
due ``interval`` seconds after the previous one was due (Piranha: the
interval is lvs.cf ``timeout``, also the per-check bound), or at once if
that check ran longer; anchoring to the due time instead of "now" keeps
10,000 servers at 1 s from drifting below 10,000 checks/s.

First round as a burst: a server is added to the kernel only after its first
check passed (keepalived presumes it up unless ``alpha`` is set; pulse always
behaves as with ``alpha``), so a new server is checked at once, not somewhere
in its first interval: at start every reachable server is in the table as
soon as one round of connects allows.  Its second check is then spread over
the following interval (by a hash of its key) so the rounds after the first
do not all land at the same moment.

Slices: starting due checks and processing finished ones share one budget
of ``SLICE`` seconds per loop iteration (:mod:`.budget`); the rest continues
in the next iterations, after whatever else became ready (a signal, a
reload, a heartbeat, a takeover).  Health checks therefore never delay the
daemon's own work by more than a few milliseconds per iteration, however
many servers are due or answer at once.
At most ``MAX_INFLIGHT`` checks wait on the network at once; the next one
starts when one finishes.  Without that bound a CPU too slow for the
configured rate (10,000 first checks at once in an emulated guest) starts
every check, runs out of descriptors (a 4,096 limit) or cannot process the
answers within the timeout, and fails them round after round; with it the
rate drops to what the CPU allows and each check gets its whole timeout.
A state or weight change calls ``on_change`` (the daemon then reconciles
the table).

Weights (:mod:`.weights`): an agent's reply, a program's dynamic weight and
the load monitor (:mod:`.load`, sampled by one task every ``load_period``)
set a server's weight; a server that comes back after being DOWN, or that a
configuration change added, ramps up over ``slowstart`` seconds, one weight
update per second at most (one timer for all ramping servers).  Servers seeded
UP at start do not ramp: a restart does not slow the whole fleet.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import zlib
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...lvscf.health import check_settings, has_overrides
from ...lvscf.model import LvsConfig, VirtualServer, host_port
from ..reconcile import DOWN, UNKNOWN, Table, server_dest_key, service_key
from .checks import CheckResult, CheckSpec, PendingConnect, quick_check, spec_for
from .probes import HttpExchange
from .load import LOAD_PERIOD, load_argv, missing_tool, nanny_weight, read_load
from .state import UP, HealthState, rise_count
from .budget import IterationBudget
from .waits import SocketWaits
from .weights import RAMP_STEP, kernel_weight, ramping

log = logging.getLogger("pulse.health")

Key = tuple[str, str]   # (virtual name, real server name)
# A check may start a little late so that one scheduler wake-up serves several: 2 % of its
# interval, between 4 and 50 ms.  Each wake-up costs a turn of the event loop, which at idle rates
# (10,000 servers at 30 s: a check every 3 ms) is most of a check's CPU.
TICK_SLACK = 0.004
SLACK_SHARE = 0.02
MAX_SLACK = 0.05
SLICE = 0.004        # seconds of check work per loop iteration before yielding
MAX_INFLIGHT = 256   # checks waiting on the network at once; the rest wait their turn


@dataclass(frozen=True)
class Target:
    """A real server to watch: its key, check, and timing."""

    key: Key
    spec: CheckSpec
    interval: float
    reentry: float
    rise: int | None = None          # None: from reentry (Piranha)
    fall: int = 1
    weight: int = 1                  # configured weight
    slowstart: float = 0.0
    load: tuple[str, ...] | None = None   # load_monitor command (argv)


class _Watch:
    """One watched server: its target, state, next due time, and any check in flight."""

    __slots__ = ("target", "state", "live", "task", "spread", "added")

    def __init__(self, target: Target, state: HealthState, added: bool = False) -> None:
        self.target = target
        self.state = state
        self.live = True
        self.task: asyncio.Task[None] | None = None
        self.spread: float | None = None     # set until the first check: offset of the second one
        self.added = added            # added by a reload (ramps on its first UP), not at start


class Monitor:
    """Owns the check scheduler; ``update`` swaps targets after a reload."""

    def __init__(self, on_change: Callable[[Key, str], None] | None = None,
                 load_period: float = LOAD_PERIOD) -> None:
        self.on_change = on_change
        self.states: dict[Key, HealthState] = {}
        self.targets: dict[Key, Target] = {}
        self.watches: dict[Key, _Watch] = {}
        self.checks_done = 0
        self._debug = False                         # log each check? (asked once per scheduler run)
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = 0                               # heap tie-break: watches do not compare
        self._wake: asyncio.Handle | None = None
        self._wake_at = 0.0
        self._slice: list[tuple[float, int, _Watch]] = []     # due now, not yet run
        self._inflight: set[asyncio.Task[None]] = set()
        self._budget = IterationBudget(SLICE)        # shared by starting checks and finishing them
        self._waiting: SocketWaits[_Watch] = SocketWaits(self._budget, self._socket_done, _label)
        self.load_period = load_period
        self._started = False                       # the first update is pulse's start: no ramps
        self._ramping: set[Key] = set()
        self._ramp_timer: asyncio.TimerHandle | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._load_missing: set[str] = set()        # tools already reported missing
        self._by_virtual: dict[str, list[Key]] = {}   # the watched servers of each virtual server

    def update(self, targets: list[Target], virtuals: set[str] | None = None) -> None:
        """Watch new/changed targets, stop those gone; unchanged ones keep their state.

        ``virtuals``: ``targets`` are the checks of these virtual servers only,
        and every other check stays as it is (a reload that edited one block).
        """
        wanted = {t.key: t for t in targets}
        known = (set(self.watches) | set(self.targets) if virtuals is None
                 else {key for name in virtuals for key in self._by_virtual.get(name, ())})
        # a server renamed in lvs.cf (same virtual, address and port) keeps its health
        by_place = {(k[0], t.spec.host, t.spec.port): self.states[k] for k in known
                    if k not in wanted and k in self.states and (t := self.targets.get(k)) is not None}
        for key in known:
            if key not in wanted or wanted[key] != self.targets.get(key):
                self._stop(key, keep_state=key in wanted and self._same_server(key, wanted[key]))
        if virtuals is None:
            self._by_virtual = {}
        else:
            for name in virtuals:
                self._by_virtual.pop(name, None)
        for key in wanted:
            self._by_virtual.setdefault(key[0], []).append(key)
        if not any(key not in self.watches for key in wanted):
            return
        now = asyncio.get_running_loop().time()
        for key, target in wanted.items():
            if key not in self.watches:
                state = (self.states.get(key) or by_place.get((key[0], target.spec.host, target.spec.port))
                         or HealthState())
                state.rise = target.rise or rise_count(target.reentry, target.interval)
                state.fall = target.fall
                self.states[key] = state
                self.targets[key] = target
                watch = self.watches[key] = _Watch(target, state, self._started)
                watch.spread = (zlib.crc32(repr(key).encode()) % 1000) / 1000.0 * target.interval
                self._push(now, watch)                 # first round: at once (see the module doc)
        self._arm()
        self._started = True
        if self._load_task is None and any(t.load for t in wanted.values()):
            self._load_task = asyncio.get_running_loop().create_task(self._load_loop(), name="load-monitor")

    def _same_server(self, key: Key, target: Target) -> bool:
        """Same address/port: keep the known state across a change of check parameters."""
        old = self.targets.get(key)
        return old is not None and (old.spec.host, old.spec.port) == (target.spec.host, target.spec.port)

    def _stop(self, key: Key, keep_state: bool) -> None:
        """Stop watching one server (its heap entry is skipped when it comes up), cancel its check."""
        watch = self.watches.pop(key, None)
        if watch is not None:
            watch.live = False
            if watch.task is not None:
                watch.task.cancel()
        self.targets.pop(key, None)
        if not keep_state:
            self.states.pop(key, None)

    def seed(self, key: Key, state: str) -> None:
        """Preset a state (e.g. UP for a server already in the kernel table at start)."""
        self.states.setdefault(key, HealthState()).state = state

    async def stop(self) -> None:
        """Stop the scheduler, cancel checks in flight and wait for them to finish."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._ramp_timer is not None:
            self._ramp_timer.cancel()
            self._ramp_timer = None
        if self._load_task is not None:
            self._load_task.cancel()
            self._inflight.add(self._load_task)
            self._load_task = None
        for watch in self.watches.values():
            watch.live = False
        self.watches.clear()    # targets and states stay for the final status
        self._heap.clear()
        self._slice.clear()
        self._waiting.stop()
        tasks = list(self._inflight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self, scope: set[str] | None = None) -> Mapping[Key, str]:
        """Current state of every watched server (an agent's maintenance counts as DOWN).

        With a ``scope`` (the virtual servers a pass plans) the states are read
        on demand: a pass that plans a few services reads a few states.
        """
        if scope is not None:
            return _HealthView(self.states)
        return {k: s.effective for k, s in self.states.items()}

    def weights(self, virtuals: set[str] | None = None) -> dict[Key, int]:
        """Kernel weights that differ from the configured ones (agent, dynamic, load, slow start).

        ``virtuals``: only the real servers of these virtual servers (None: all).
        """
        out: dict[Key, int] = {}
        now = time.monotonic()
        keys = (self.targets if virtuals is None
                else [k for v in virtuals for k in self._by_virtual.get(v, ())])
        for key in keys:
            target, state = self.targets.get(key), self.states.get(key)
            if target is None or state is None:
                continue
            weight = state.weight = kernel_weight(target.weight, state, target.slowstart, now)
            if weight != target.weight:
                out[key] = weight
        return out

    def _push(self, due: float, watch: _Watch) -> None:
        """Queue ``watch``'s next check at loop time ``due``."""
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, watch))

    def _arm(self) -> None:
        """Make sure the scheduler wakes up for the earliest due check."""
        if not self._heap:
            return
        first, watch = self._heap[0][0], self._heap[0][2]
        due = first + min(MAX_SLACK, max(TICK_SLACK, watch.target.interval * SLACK_SHARE))
        if self._wake is not None:
            if self._wake_at <= due:
                return
            self._wake.cancel()
        self._wake_at = due
        self._wake = asyncio.get_running_loop().call_at(due, self._tick)

    def _tick(self) -> None:
        """Run due checks within the iteration's budget; quick ones are decided (and re-queued) here."""
        self._wake = None
        self._debug = log.isEnabledFor(logging.DEBUG)
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap, batch = self._heap, self._slice
        if not batch:
            while heap and heap[0][0] <= now:      # collect first: an interval of 0 must not spin here
                batch.append(heapq.heappop(heap))
            batch.reverse()                        # pop() from the end = earliest first
        wall = time.time()
        budget = self._budget
        budget.open()
        while batch and self._room():
            due, _, watch = batch.pop()
            if watch.live:
                self._run(watch, due, now, wall, loop)
            if budget.spent():
                break
        if not batch:
            self._arm()
        elif self._room():
            self._wake = loop.call_soon(self._tick)
            self._wake_at = now
        # else: full; the next check to finish resumes the slice (_finish)

    def _run(self, watch: _Watch, due: float, now: float, wall: float,
             loop: asyncio.AbstractEventLoop) -> None:
        """Start one check; a quick one is recorded and re-queued at once."""
        try:
            first = quick_check(watch.target.spec)
        except Exception:                          # a bug in one check must not stop all the others
            log.exception("health check of %s failed", "/".join(watch.target.key))
            first = CheckResult(False, "internal error", 0.0)
        if isinstance(first, (PendingConnect, HttpExchange)):
            try:
                self._waiting.start(first, watch, due)
                return
            except OSError as exc:                 # unwatchable: a failed check, not a stopped scheduler
                first.sock.close()
                first = CheckResult(False, f"cannot wait for the socket: {exc}", 0.0)
        if isinstance(first, CheckResult):
            self._record(watch, first, wall)
            self._push(self._next_due(watch, due, now), watch)
        else:
            task = loop.create_task(self._finish(watch, first, due))
            watch.task = task
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _room(self) -> bool:
        """May another check start waiting on the network?"""
        return len(self._inflight) + len(self._waiting) < MAX_INFLIGHT

    def _socket_done(self, watch: _Watch, result: CheckResult, due: float) -> None:
        """A check that waited on its socket is decided."""
        self._done(watch, result, due, asyncio.get_running_loop())

    @staticmethod
    def _next_due(watch: _Watch, due: float, now: float) -> float:
        """One interval after ``due`` (plus the server's spread after its first check), never past."""
        later = due + watch.target.interval
        if watch.spread is not None:
            later, watch.spread = later + watch.spread, None
        return max(later, now)

    async def _finish(self, watch: _Watch, pending: Coroutine[Any, Any, CheckResult], due: float) -> None:
        """Await a check that has to wait, record it, queue the next one."""
        try:
            result = await pending
        except Exception:                          # a bug, not a network failure: keep watching
            log.exception("health check of %s failed", "/".join(watch.target.key))
            result = CheckResult(False, "internal error", 0.0)
        except BaseException:
            pending.close()                        # cancelled before it started: no "never awaited"
            raise
        watch.task = None
        self._done(watch, result, due, asyncio.get_running_loop())

    def _done(self, watch: _Watch, result: CheckResult, due: float, loop: asyncio.AbstractEventLoop) -> None:
        """Record a check that had to wait, queue the next one, resume a slice that waited for room."""
        if not watch.live:
            return
        self._record(watch, result, time.time())
        self._push(self._next_due(watch, due, loop.time()), watch)
        if not self._slice:
            self._arm()
        elif self._wake is None:                   # the slice waited for a free place: resume it
            self._wake = loop.call_soon(self._tick)
            self._wake_at = loop.time()

    def _record(self, watch: _Watch, result: CheckResult, when: float) -> None:
        """Feed one result to the server's state; log and report a change."""
        self.checks_done += 1
        target, state = watch.target, watch.state
        if self._debug:
            log.debug("check %s %s %s in %.3fs (%s)", "/".join(target.key),
                      host_port(target.spec.host, target.spec.port), "ok" if result.ok else "FAILED",
                      result.duration, result.detail)
        was = state.state
        changed = state.record(result.ok, when, result.detail, result.duration)
        if changed:
            log.info("%s %s is %s (%s)", "/".join(target.key), host_port(target.spec.host, target.spec.port),
                     state.state.upper(), result.detail)
            returning = was == DOWN or (was == UNKNOWN and watch.added)
            if state.state == UP and target.slowstart > 0 and returning:
                state.ramp_start = time.monotonic()
                self._start_ramp(target.key)
        if result.ok and (result.weight is not None or result.agent is not None):
            # only agents and dynamic programs move weights from a check: the hot path skips this
            now = time.monotonic()
            before = (state.effective, kernel_weight(target.weight, state, target.slowstart, now))
            _apply_extras(state, result)
            changed = changed or before != (state.effective,
                                            kernel_weight(target.weight, state, target.slowstart, now))
        if changed:
            self._changed(target.key, state)

    def _changed(self, key: Key, state: HealthState) -> None:
        """Tell the daemon that a server's state or weight changed."""
        if self.on_change is not None:
            try:
                self.on_change(key, state.effective)
            except Exception:                      # keep checking the other servers
                log.exception("health change handler failed for %s", "/".join(key))

    def _start_ramp(self, key: Key) -> None:
        """Add a server to the slow-start ramp, ticking once per RAMP_STEP for all ramping servers."""
        self._ramping.add(key)
        if self._ramp_timer is None:
            self._ramp_timer = asyncio.get_running_loop().call_later(RAMP_STEP, self._ramp_tick)

    def _ramp_tick(self) -> None:
        """One weight step for every ramping server (a reconcile only when some weight moved)."""
        self._ramp_timer = None
        now = time.monotonic()
        for key in list(self._ramping):
            target, state = self.targets.get(key), self.states.get(key)
            if target is None or state is None or state.effective != UP:
                self._ramping.discard(key)
                continue
            if not ramping(state, target.slowstart, now):
                self._ramping.discard(key)
                state.ramp_start = None
            if kernel_weight(target.weight, state, target.slowstart, now) != state.weight:
                self._changed(key, state)
        if self._ramping:
            self._ramp_timer = asyncio.get_running_loop().call_later(RAMP_STEP, self._ramp_tick)

    async def _load_loop(self) -> None:
        """Every ``load_period``: read the load of each UP server with a load monitor, adjust weights."""
        while True:
            await asyncio.sleep(self.load_period)
            watches = [w for w in self.watches.values() if w.target.load and w.state.effective == UP]
            await asyncio.gather(*(self._adjust_load(w) for w in watches))

    async def _adjust_load(self, watch: _Watch) -> None:
        """nanny's adjustment of one server's weight from its 1-minute load."""
        target, state = watch.target, watch.state
        argv = list(target.load or ())
        missing = missing_tool(argv)
        if missing is not None:
            if argv[0] not in self._load_missing:
                self._load_missing.add(argv[0])
                log.error("%s", missing)
            return
        try:
            load = await read_load(argv, target.spec.host, max(1.0, target.interval))
        except OSError as exc:
            log.warning("%s: load command failed: %s", "/".join(target.key), exc)
            return
        if load is None or not watch.live:
            return
        current = state.load_weight if state.load_weight is not None else target.weight
        new = nanny_weight(current, target.weight, load)
        if new != current:
            log.info("%s load %.2f: weight %d -> %d", "/".join(target.key), load, current, new)
            state.load_weight = new
            self._changed(target.key, state)


def _label(watch: _Watch) -> str:
    """A watched server's name in log lines: virtual/real."""
    return "/".join(watch.target.key)


class _HealthView(Mapping[Key, str]):
    """The effective state of each watched server, read when asked (see :meth:`Monitor.health_view`)."""

    def __init__(self, states: dict[Key, HealthState]) -> None:
        self._states = states

    def __getitem__(self, key: Key) -> str:
        return self._states[key].effective

    def __iter__(self) -> Iterator[Key]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


def _apply_extras(state: HealthState, result: CheckResult) -> None:
    """What a successful check said about the weight (agent words, dynamic weight)."""
    if result.weight is not None:
        state.dynamic_weight = None if result.weight < 0 else result.weight
    reply = result.agent
    if reply is None:
        return
    if reply.ready:
        state.drain = state.maint = False
    state.drain = state.drain or reply.drain
    state.maint = state.maint or reply.maint
    if reply.pct is not None:
        state.agent_pct = reply.pct


def targets_for(cfg: LvsConfig, virtuals: Iterable[VirtualServer] | None = None) -> list[Target]:
    """One check target per active real server of the active virtual servers (or of ``virtuals``)."""
    targets: list[Target] = []
    for vs in cfg.active_virtuals() if virtuals is None else (v for v in virtuals if v.active):
        load = vs.load_monitor if vs.load_monitor in ("uptime", "rup", "ruptime") else None
        shared = check_settings(vs)          # most real servers override nothing: resolved once
        for rs in vs.servers:
            if not rs.active:
                continue
            cs = check_settings(vs, rs) if has_overrides(rs) else shared
            spec = spec_for(rs.address, vs.server_port(rs), cs, vs.protocol, vs.send, vs.expect,
                            vs.use_regex, vs.send_program, explicit=bool(rs.check or vs.check))
            argv = tuple(load_argv(load, rs.address, cfg.rsh_command)) if load else None
            targets.append(Target((vs.name, rs.name), spec, cs.interval, float(vs.reentry), cs.rise,
                                  cs.fall, rs.weight, cs.slowstart, argv))
    return targets


def seed_from_table(monitor: Monitor, cfg: LvsConfig, table: Table) -> None:
    """Servers already in the kernel with weight > 0 are presumed UP until checked.

    So restarting pulse does not flap a healthy table.
    """
    for vs in cfg.active_virtuals():
        entry = table.get(service_key(vs))
        if entry is None:
            continue
        for rs in vs.servers:
            dest = entry.dests.get(server_dest_key(vs, rs))
            if rs.active and dest is not None and dest.weight > 0:
                monitor.seed((vs.name, rs.name), UP)

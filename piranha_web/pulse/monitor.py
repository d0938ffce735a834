"""Runs health checks in-process: one asyncio task per real server.

Each task checks, records the result in its :class:`HealthState`, and sleeps
until ``interval`` seconds after the check started (Piranha: the interval is
lvs.cf ``timeout``, also the per-check bound).  Tasks are independent, so a
hung server only ever delays its own next check.  Starting times are spread
over the first interval (at most 1 s) so 10,000 servers do not connect in one burst.
A state change calls ``on_change`` (the daemon then reconciles the table).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from .checks import CheckSpec, run_check
from .healthstate import HealthState, rise_count

log = logging.getLogger("pulse.health")

Key = tuple[str, str]   # (virtual name, real server name)


@dataclass(frozen=True)
class Target:
    """A real server to watch: its key, check, and timing."""

    key: Key
    spec: CheckSpec
    interval: float
    reentry: float


class Monitor:
    """Owns the per-server tasks; ``update`` swaps targets after a reload."""

    def __init__(self, on_change: Callable[[Key, str], None] | None = None) -> None:
        self.on_change = on_change
        self.states: dict[Key, HealthState] = {}
        self.targets: dict[Key, Target] = {}
        self.tasks: dict[Key, asyncio.Task[None]] = {}
        self.checks_done = 0

    def update(self, targets: list[Target]) -> None:
        """Start tasks for new/changed targets, stop those gone; unchanged ones keep their state."""
        wanted = {t.key: t for t in targets}
        # a server renamed in lvs.cf (same virtual, address and port) keeps its health
        by_place = {(k[0], t.spec.host, t.spec.port): self.states[k]
                    for k, t in self.targets.items() if k not in wanted and k in self.states}
        for key in set(self.tasks) | set(self.targets):
            if key not in wanted or wanted[key] != self.targets.get(key):
                self._stop(key, keep_state=key in wanted and self._same_server(key, wanted[key]))
        for key, target in wanted.items():
            if key not in self.tasks:
                state = (self.states.get(key) or by_place.get((key[0], target.spec.host, target.spec.port))
                         or HealthState())
                state.rise = rise_count(target.reentry, target.interval)
                self.states[key] = state
                self.targets[key] = target
                self.tasks[key] = asyncio.create_task(self._loop(target, state), name=f"check {key}")

    def _same_server(self, key: Key, target: Target) -> bool:
        """Same address/port: keep the known state across a change of check parameters."""
        old = self.targets.get(key)
        return old is not None and (old.spec.host, old.spec.port) == (target.spec.host, target.spec.port)

    def _stop(self, key: Key, keep_state: bool) -> None:
        """Cancel one task, forgetting its state unless ``keep_state``."""
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        self.targets.pop(key, None)
        if not keep_state:
            self.states.pop(key, None)

    def seed(self, key: Key, state: str) -> None:
        """Preset a state (e.g. UP for a server already in the kernel table at start)."""
        self.states.setdefault(key, HealthState()).state = state

    async def stop(self) -> None:
        """Cancel every task and wait for them to finish."""
        tasks = list(self.tasks.values())
        self.tasks.clear()      # targets and states stay for the final status
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self) -> dict[Key, str]:
        """Current state of every watched server."""
        return {k: s.state for k, s in self.states.items()}

    async def _loop(self, target: Target, state: HealthState) -> None:
        """Check forever at the target's interval; report state changes."""
        spread = (zlib.crc32(repr(target.key).encode()) % 1000) / 1000.0
        await asyncio.sleep(min(target.interval, 1.0) * spread)
        debug = log.isEnabledFor(logging.DEBUG)
        while True:
            started = time.monotonic()
            result = await run_check(target.spec)
            self.checks_done += 1
            if debug:
                log.debug("check %s %s:%d %s in %.3fs (%s)", "/".join(target.key), target.spec.host,
                          target.spec.port, "ok" if result.ok else "FAILED", result.duration, result.detail)
            if state.record(result.ok, time.time(), result.detail, result.duration):
                log.info("%s %s:%d is %s (%s)", "/".join(target.key), target.spec.host,
                         target.spec.port, state.state.upper(), result.detail)
                if self.on_change is not None:
                    self.on_change(target.key, state.state)
            delay = target.interval - (time.monotonic() - started)
            await asyncio.sleep(max(delay, 0.0))

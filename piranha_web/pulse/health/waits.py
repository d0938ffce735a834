"""Checks waiting on their socket: one reader or writer callback and one timer each, no task.

A waiting check (:data:`~.checks.Pending`) is advanced when its socket is
ready and once more when its timeout comes.  The socket decides, not the
callback that asked: a handshake or an answer that completed while the
loop was busy is a success even when the timeout fires first.

Readiness that arrives once the iteration's budget (:mod:`.budget`) is
spent is not processed on the spot: the socket leaves the selector and
waits in a FIFO that the next iterations drain, each within its budget.
A burst of completions therefore costs the loop one budget per iteration
plus a few microseconds per deferred socket, instead of every completion
in one go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .budget import IterationBudget
from .checks import CheckResult, Pending

log = logging.getLogger("pulse.health")

Owner = TypeVar("Owner")


class _Wait(Generic[Owner]):
    """One check waiting on its socket."""

    __slots__ = ("pending", "owner", "due", "fd", "timer", "writing", "armed", "timed_out", "deferred")

    def __init__(self, pending: Pending, owner: Owner, due: float, timer: asyncio.TimerHandle) -> None:
        self.pending, self.owner, self.due, self.timer = pending, owner, due, timer
        self.fd = pending.sock.fileno()
        self.writing = pending.want_write     # the direction registered with the selector, when armed
        self.armed = False
        self.timed_out = False                # the deadline passed: no verdict now means a timeout
        self.deferred = False                 # in the FIFO of ready sockets


class SocketWaits(Generic[Owner]):
    """The checks waiting on their sockets; ``decided(owner, result, due)`` gets each verdict."""

    def __init__(self, budget_seconds: float, decided: Callable[[Owner, CheckResult, float], None],
                 label: Callable[[Owner], str]) -> None:
        self.budget = IterationBudget(budget_seconds, self._drain)
        self._decided = decided
        self._label = label
        self._waits: dict[int, _Wait[Owner]] = {}
        self._ready: deque[_Wait[Owner]] = deque()

    def __len__(self) -> int:
        return len(self._waits)

    def start(self, pending: Pending, owner: Owner, due: float) -> None:
        """Wait for ``pending``'s socket (and its deadline)."""
        loop = asyncio.get_running_loop()
        fd = pending.sock.fileno()
        wait = _Wait(pending, owner, due, loop.call_at(pending.deadline, self._ready_cb, fd, True))
        self._waits[fd] = wait
        self._arm(wait, loop)

    def stop(self) -> None:
        """Drop every waiting check and close its socket (no verdict)."""
        loop = asyncio.get_running_loop()
        for wait in self._waits.values():
            self._disarm(wait, loop)
            wait.timer.cancel()
            wait.pending.sock.close()
        self._waits.clear()
        self._ready.clear()

    def _ready_cb(self, fd: int, timed_out: bool) -> None:
        """The selector or the timer: advance the check now, or queue it if the budget is spent."""
        wait = self._waits.get(fd)
        if wait is None:
            return
        wait.timed_out = wait.timed_out or timed_out
        if not self.budget.spent():
            self._advance(wait)
        elif not wait.deferred:
            self._disarm(wait, asyncio.get_running_loop())   # a level-triggered socket would ask again
            wait.deferred = True
            self._ready.append(wait)

    def _drain(self) -> None:
        """A new iteration: advance queued checks, oldest first, within its budget."""
        ready = self._ready
        while ready and not self.budget.spent():
            wait = ready.popleft()
            if wait.deferred and self._waits.get(wait.fd) is wait:
                self._advance(wait)

    def _advance(self, wait: _Wait[Owner]) -> None:
        """Step the check; keep waiting in the direction it asks, or hand its verdict on."""
        wait.deferred = False
        try:
            verdict = wait.pending.step()
        except Exception:                          # a bug in one check must not leave it waiting forever
            log.exception("health check of %s failed", self._label(wait.owner))
            verdict = (False, "internal error")
        loop = asyncio.get_running_loop()
        if verdict is None and not wait.timed_out:
            self._arm(wait, loop)
            return
        self._disarm(wait, loop)
        wait.timer.cancel()
        del self._waits[wait.fd]
        wait.pending.sock.close()
        ok, detail = verdict or (False, "timeout")
        self._decided(wait.owner, CheckResult(ok, detail, time.monotonic() - wait.pending.start), wait.due)

    def _arm(self, wait: _Wait[Owner], loop: asyncio.AbstractEventLoop) -> None:
        """Register the socket in the direction the check waits for (switching if it changed)."""
        if wait.armed and wait.writing == wait.pending.want_write:
            return
        self._disarm(wait, loop)
        wait.writing, wait.armed = wait.pending.want_write, True
        (loop.add_writer if wait.writing else loop.add_reader)(wait.fd, self._ready_cb, wait.fd, False)

    @staticmethod
    def _disarm(wait: _Wait[Owner], loop: asyncio.AbstractEventLoop) -> None:
        """Take the socket out of the selector."""
        if wait.armed:
            (loop.remove_writer if wait.writing else loop.remove_reader)(wait.fd)
            wait.armed = False

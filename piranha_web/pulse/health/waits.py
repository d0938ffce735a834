"""Checks waiting on their socket, in one private epoll set the event loop watches as a whole.

A waiting check (:data:`~.checks.Pending`) is advanced when its socket is
ready and once more when its timeout comes.  The socket decides, not the
event that asked: a handshake or an answer that completed while the loop
was busy is a success even when the timeout fires first.

Why a private epoll set instead of the loop's ``add_writer``/``add_reader``
per socket: at 10,000 checks a second the loop's bookkeeping (a selector
key, a handle, a registration and a removal per check, and a timer handle
per timeout) costs more Python than the check itself, which an emulated
guest multiplies.  Here a check costs one ``epoll_ctl`` (one-shot: closing
the socket removes it), and its deadline is an entry in one heap behind a
single loop timer.  The loop sees only the set's own descriptor: readable
while any check socket is ready.

The set also bounds the loop's time: each turn handles ready sockets only
until the iteration's budget (:mod:`.budget`) is spent.  The rest stay
ready in the kernel and the set's descriptor stays readable, so the next
turn continues, after whatever else was ready (a signal, a reload, a
heartbeat).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import select
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .budget import IterationBudget
from .checks import CheckResult, Pending, PendingConnect

log = logging.getLogger("pulse.health")

Owner = TypeVar("Owner")
BATCH = 16         # ready sockets taken from the kernel at a time
_ONESHOT = select.EPOLLONESHOT
_CONNECTED = (True, "connected")


class _Wait(Generic[Owner]):
    """One check waiting on its socket."""

    __slots__ = ("pending", "owner", "due", "fd", "timed_out")

    def __init__(self, pending: Pending, owner: Owner, due: float) -> None:
        self.pending, self.owner, self.due = pending, owner, due
        self.fd = pending.sock.fileno()
        self.timed_out = False                # the deadline passed: no verdict now means a timeout


def _events(pending: Pending) -> int:
    """The one-shot epoll events a check waits for."""
    return (select.EPOLLOUT if pending.want_write else select.EPOLLIN) | _ONESHOT


class SocketWaits(Generic[Owner]):
    """The checks waiting on their sockets; ``decided(owner, result, due)`` gets each verdict."""

    def __init__(self, budget: IterationBudget, decided: Callable[[Owner, CheckResult, float], None],
                 label: Callable[[Owner], str]) -> None:
        self.budget = budget
        self._decided = decided
        self._label = label
        self._waits: dict[int, _Wait[Owner]] = {}
        self._epoll: select.epoll | None = None
        self._deadlines: list[tuple[float, int, _Wait[Owner]]] = []   # (deadline, tie-break, wait)
        self._seq = 0
        self._timer: asyncio.Handle | None = None        # call_at, or call_soon while over budget
        self._timer_at = 0.0

    def __len__(self) -> int:
        return len(self._waits)

    def start(self, pending: Pending, owner: Owner, due: float) -> None:
        """Wait for ``pending``'s socket (and its deadline)."""
        wait = _Wait(pending, owner, due)
        self._set().register(wait.fd, _events(pending))
        self._waits[wait.fd] = wait
        self._seq += 1
        heapq.heappush(self._deadlines, (pending.deadline, self._seq, wait))   # loop time is monotonic
        self._arm_timer(pending.deadline)

    def stop(self) -> None:
        """Drop every waiting check and close its socket (no verdict)."""
        for wait in self._waits.values():
            wait.pending.sock.close()
        self._waits.clear()
        self._deadlines.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._epoll is not None:
            asyncio.get_running_loop().remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None

    def _set(self) -> select.epoll:
        """The epoll set, made (and handed to the loop) at the first check."""
        if self._epoll is None:
            self._epoll = select.epoll()
            asyncio.get_running_loop().add_reader(self._epoll.fileno(), self._poll)
        return self._epoll

    def _poll(self) -> None:
        """Some check sockets are ready: advance them until this iteration's budget is spent."""
        epoll = self._epoll
        while epoll is not None:
            ready = epoll.poll(0, BATCH)
            for n, (fd, events) in enumerate(ready):
                wait = self._waits.get(fd)
                if wait is None:
                    continue
                if self.budget.spent():            # taken from the kernel but not handled: ask again
                    self._rearm(ready[n:])
                    return
                self._advance(wait, events)
            if len(ready) < BATCH:
                return

    def _rearm(self, ready: list[tuple[int, int]]) -> None:
        """Put one-shot events taken from the kernel back, for the next iteration."""
        assert self._epoll is not None
        for fd, _ in ready:
            wait = self._waits.get(fd)
            if wait is not None:
                self._epoll.modify(fd, _events(wait.pending))

    def _expire(self) -> None:
        """Deadlines passed: let each of those sockets decide (within the budget; the rest next turn)."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now, heap = loop.time(), self._deadlines
        while heap and heap[0][0] <= now:
            if self.budget.spent():
                self._timer, self._timer_at = loop.call_soon(self._expire), now
                return
            _, _, wait = heapq.heappop(heap)
            if self._live(wait):
                wait.timed_out = True
                self._advance(wait)
        while heap and not self._live(heap[0][2]):    # a decided check's deadline must not wake the loop
            heapq.heappop(heap)
        if heap:
            self._arm_timer(heap[0][0])

    def _live(self, wait: _Wait[Owner]) -> bool:
        """Is ``wait`` still waiting (not decided; its descriptor may have been reused since)?"""
        return self._waits.get(wait.fd) is wait

    def _arm_timer(self, when: float) -> None:
        """Make sure the timer fires by ``when``."""
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer, self._timer_at = asyncio.get_running_loop().call_at(when, self._expire), when

    def _advance(self, wait: _Wait[Owner], events: int = 0) -> None:
        """Step the check; wait again in the direction it asks, or hand its verdict on.

        A connect whose socket turned writable with no error or hangup is
        established: that needs no question to the socket.
        """
        try:
            verdict = _CONNECTED if (events == select.EPOLLOUT and type(wait.pending) is PendingConnect) \
                else wait.pending.step()
        except Exception:                          # a bug in one check must not leave it waiting forever
            log.exception("health check of %s failed", self._label(wait.owner))
            verdict = (False, "internal error")
        if verdict is None and not wait.timed_out:
            if self._epoll is not None:
                self._epoll.modify(wait.fd, _events(wait.pending))   # one-shot: armed again
            return
        del self._waits[wait.fd]
        wait.pending.sock.close()                  # also leaves the epoll set
        ok, detail = verdict or (False, "timeout")
        self._decided(wait.owner, CheckResult(ok, detail, time.monotonic() - wait.pending.start), wait.due)

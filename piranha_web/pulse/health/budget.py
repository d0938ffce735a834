"""One time budget per event-loop iteration for all health-check work.

asyncio runs every callback that became ready in an iteration before it
polls again.  256 check completions that arrive together would therefore
hold the loop for 256 times their cost (milliseconds each in an emulated
guest), and a SIGHUP, a heartbeat or a takeover would wait behind all of
them.  Check work asks :meth:`IterationBudget.spent` first and, once the
budget of the current iteration is used up, leaves the rest to later
iterations, so the daemon's own work never waits more than about one
budget per iteration.

The budget is ``seconds``, or half of the time since the previous budget
opened when that is more (at most ``LONGEST``): when other work fills the
loop (a flood of connections to a port pulse serves), health checks still
get about half of it instead of a fixed sliver.
"""

from __future__ import annotations

import asyncio
import time


SHARE = 0.5        # checks' share of a loop that other work keeps busy
LONGEST = 0.02     # seconds: the most one iteration's check work may take


class IterationBudget:
    """``seconds`` (or a fair share, see the module doc) of check work per loop iteration."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end: float | None = None      # None: no check work yet in this iteration
        self._opened = 0.0                  # when the previous budget opened

    def open(self) -> None:
        """Start this iteration's budget now, unless check work already started it.

        Opening schedules the budget's close with ``call_soon``: that callback
        runs in the next iteration, ahead of that iteration's I/O callbacks.
        """
        if self._end is None:
            now = time.perf_counter()
            share = min(LONGEST, SHARE * (now - self._opened))
            self._opened, self._end = now, now + max(self.seconds, share)
            asyncio.get_running_loop().call_soon(self._close)

    def spent(self) -> bool:
        """Is this iteration's budget used up?  The first ask of an iteration opens it (never spent)."""
        if self._end is None:
            self.open()
            return False
        return time.perf_counter() > self._end

    def _close(self) -> None:
        """A new iteration: the next check work opens a fresh budget."""
        self._end = None

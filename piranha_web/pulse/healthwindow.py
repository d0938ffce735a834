"""When a burst of health changes is reconciled: one pass per window, not one per change.

The window opens with the first change after a pass.  It lasts ~20 ms, or
as long as the last pass took when that was longer (never more than
``WINDOW_MAX``): during the first round of 10,000 checks reconciling does
not crowd out checking, and a failed server still leaves the table within a
second.  A poll tick inside an open window does not reconcile for health (it
would cut the window short); a reload does, and takes the changes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

COALESCE = 0.02    # seconds: health changes within this window share one reconcile
WINDOW_MAX = 1.0   # ... stretched to the last pass's duration, but never longer than this


class HealthWindow:
    """The open window (if any) and how long the last reconcile pass took."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.pass_seconds = 0.0                       # how long the last reconcile pass took
        self.due: float | None = None                 # when pending health changes must be reconciled
        self.handle: asyncio.TimerHandle | None = None

    def is_open(self) -> bool:
        """Are health changes still being collected for one pass?"""
        return self.due is not None and time.monotonic() < self.due

    def changed(self) -> None:
        """A health change: open the window (and wake the loop at its end) unless one is pending."""
        if self.due is None:
            window = min(max(COALESCE, self.pass_seconds), WINDOW_MAX)
            self.due = time.monotonic() + window
            self.handle = asyncio.get_running_loop().call_later(window, self._wake)

    @contextlib.contextmanager
    def reconciling(self) -> Iterator[None]:
        """A pass that takes every health change so far (and is timed for the next window)."""
        t0 = time.perf_counter()
        self.due = None
        try:
            yield
        finally:
            self.pass_seconds = time.perf_counter() - t0

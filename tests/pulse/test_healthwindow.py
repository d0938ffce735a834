"""The health window: one reconcile per burst of changes, stretched by a slow pass, never past a second."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import aio  # noqa: E402

from piranha_web.pulse.healthwindow import COALESCE, WINDOW_MAX, HealthWindow  # noqa: E402


@aio
async def test_first_change_opens_one_window_and_wakes_the_loop_at_its_end() -> None:
    woken = asyncio.Event()
    window = HealthWindow(woken.set)
    assert not window.is_open()
    window.changed()
    first = window.due
    assert window.is_open() and first is not None and first - time.monotonic() <= COALESCE
    window.changed()                          # more changes join the open window
    assert window.due == first
    await asyncio.wait_for(woken.wait(), 1.0)
    assert not window.is_open()


@aio
async def test_a_slow_pass_stretches_the_next_window_up_to_the_cap() -> None:
    window = HealthWindow(lambda: None)
    window.pass_seconds = 30.0
    window.changed()
    assert window.due is not None and window.due - time.monotonic() <= WINDOW_MAX
    assert window.handle is not None
    window.handle.cancel()


@aio
async def test_a_pass_takes_every_change_and_is_timed() -> None:
    window = HealthWindow(lambda: None)
    window.changed()
    assert window.handle is not None
    window.handle.cancel()
    with window.reconciling():
        assert window.due is None             # changes from now on open a new window
        time.sleep(0.01)
    assert window.pass_seconds >= 0.01 and not window.is_open()

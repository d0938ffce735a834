"""The loop's budget for health checks: a few ms per iteration, about half of a loop others keep busy."""

from __future__ import annotations

import asyncio
import time

from piranha_web.pulse.health.budget import LONGEST, IterationBudget
from tests.pulse.health.test_monitor import aio


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def share_of_checks(other: float, iterations: int = 60) -> tuple[float, int]:
    """Each iteration: ``other`` seconds of other work, then 1 ms check units until the budget is spent."""
    budget = IterationBudget(0.004)
    check_time = units_most = 0.0
    start = time.perf_counter()
    for _ in range(iterations):
        busy(other)                                # a flood's callbacks, a reload, ...
        units, t0 = 0, time.perf_counter()
        while not budget.spent():
            busy(0.001)
            units += 1
        check_time += time.perf_counter() - t0
        units_most = max(units_most, units)
        await asyncio.sleep(0)                     # the next iteration
    return check_time / (time.perf_counter() - start), int(units_most)


@aio
async def test_checks_alone_get_a_few_milliseconds_per_iteration() -> None:
    share, most = await share_of_checks(0.0)
    assert most <= LONGEST / 0.001 + 1, most


@aio
async def test_checks_get_about_half_of_a_loop_that_other_work_keeps_busy() -> None:
    share, most = await share_of_checks(0.012)
    assert share >= 0.35, share                    # a fixed 4 ms would be 0.25
    assert most <= LONGEST / 0.001 + 1, most

"""The kernel weight of a real server, from its configured weight and what its checks said.

Order of precedence, first that applies:

1. an agent's ``drain``: 0 (the server stays in the table with its connections);
2. an agent's ``N%``: N % of the configured weight, rounded half up, at least 1
   unless N is 0 (no slow start: the agent decides);
3. a program's dynamic weight (``check_dynamic``: exit status - 2);
4. the load monitor's weight (nanny's formula, :mod:`.load`);
5. the configured weight.

Cases 3-5 ramp during slow start: from ``max(1, weight // 32)`` (Piranha's
first weight) linearly up to the target over ``slowstart`` seconds.  Pure.
"""

from __future__ import annotations

import math

from .state import HealthState

RAMP_STEP = 1.0      # seconds between two weight updates of one ramping server


def agent_weight(configured: int, pct: int) -> int:
    """``pct`` % of ``configured``, rounded half up; at least 1 unless pct is 0."""
    if pct <= 0:
        return 0
    return max(1, math.floor(configured * pct / 100 + 0.5))


def ramp_weight(target: int, slowstart: float, elapsed: float) -> int:
    """Slow-start weight ``elapsed`` seconds into a ramp of ``slowstart`` seconds towards ``target``."""
    if target <= 0 or slowstart <= 0 or elapsed >= slowstart:
        return target
    first = max(1, target // 32)
    if elapsed <= 0:
        return min(first, target)
    return min(target, first + int((target - first) * elapsed / slowstart))


def ramping(state: HealthState, slowstart: float, now: float) -> bool:
    """Is ``state`` inside a slow-start ramp that the agent has not overridden?"""
    return (state.ramp_start is not None and slowstart > 0 and state.agent_pct is None
            and now - state.ramp_start < slowstart)


def kernel_weight(configured: int, state: HealthState, slowstart: float, now: float) -> int:
    """The weight the kernel should hold for an UP server right now."""
    if state.drain:
        return 0
    if state.agent_pct is not None:
        return agent_weight(configured, state.agent_pct)
    target = configured
    if state.dynamic_weight is not None:
        target = state.dynamic_weight
    elif state.load_weight is not None:
        target = state.load_weight
    if ramping(state, slowstart, now):
        assert state.ramp_start is not None
        return ramp_weight(target, slowstart, now - state.ramp_start)
    return target


def slow_start_percent(configured: int, state: HealthState, slowstart: float, now: float) -> int | None:
    """How far through its ramp a server is (None when it is not ramping)."""
    if not ramping(state, slowstart, now):
        return None
    assert state.ramp_start is not None
    return min(99, int(100 * (now - state.ramp_start) / slowstart))

"""Per-real-server health state machine: rise/fall counting, as HAProxy counts, on Piranha's defaults.

* The first successful check brings an UNKNOWN server UP at once; the first
  failure makes it DOWN (a server already in the kernel at start is seeded UP).
* An UP server goes DOWN after ``fall`` consecutive failures (Piranha: 1).
* A DOWN server comes back after ``rise`` consecutive successes (Piranha:
  ``reentry`` seconds of success, ``max(1, ceil(reentry / interval))`` checks).
* Counting is from the current state: a success while UP, or a failure while
  DOWN, resets the opposite counter and changes nothing else.

Besides UP/DOWN a server carries what its checks said about its weight: a
percentage, drain or maintenance from an agent, a dynamic weight from a
program's exit status, a weight from the load monitor, and the start of a
slow-start ramp.  :mod:`.weights` turns those into the kernel weight.

Pure: the caller feeds results and timestamps; nothing here sleeps or does I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from ...lvscf.health import rise_count
from ..reconcile import DOWN, UNKNOWN, UP

__all__ = ["DOWN", "UNKNOWN", "UP", "HealthState", "rise_count", "HISTORY"]

HISTORY = 20      # results kept for the console's strip
# Upper bounds (seconds) of the check-duration histogram; the last bucket is +Inf.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class HealthState:
    """The state of one real server and the bookkeeping to move it."""

    rise: int = 1
    fall: int = 1
    state: str = UNKNOWN
    successes: int = 0              # consecutive passes
    failures: int = 0               # consecutive failures
    last_check: float | None = None
    last_result: str = ""
    last_ok: bool | None = None
    duration: float = 0.0
    changed_at: float | None = None
    checks: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0})  # for /metrics
    history: deque[bool] = field(default_factory=lambda: deque(maxlen=HISTORY))
    agent_pct: int | None = None    # agent "N%": share of the configured weight
    drain: bool = False             # agent "drain": weight 0, kept in the table
    maint: bool = False             # agent "maint"/"down": out of the table
    dynamic_weight: int | None = None   # program exit status - 2 (check_dynamic)
    load_weight: int | None = None      # load monitor (nanny's formula)
    ramp_start: float | None = None     # slow start began here (monotonic seconds)
    weight: int | None = None           # the weight last handed to the kernel (status only)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0

    @property
    def streak(self) -> int:
        """Consecutive passes (the name the status file has always used)."""
        return self.successes

    def record(self, ok: bool, when: float, detail: str = "", duration: float = 0.0) -> bool:
        """Feed one check result; returns True when the state changed."""
        self.last_check, self.last_result, self.duration, self.last_ok = when, detail, duration, ok
        self.checks["ok" if ok else "fail"] += 1
        self.history.append(ok)
        self.buckets[bisect_left(DURATION_BUCKETS, duration)] += 1
        self.duration_sum += duration
        before = self.state
        if ok:
            self.successes += 1
            self.failures = 0
            if self.state == UNKNOWN or (self.state == DOWN and self.successes >= self.rise):
                self.state = UP
        else:
            self.failures += 1
            self.successes = 0
            if self.state == UNKNOWN or (self.state == UP and self.failures >= self.fall):
                self.state = DOWN
        if self.state != before:
            self.changed_at = when
            return True
        return False

    @property
    def effective(self) -> str:
        """The state the kernel table follows: an agent's maintenance takes the server out."""
        return DOWN if self.maint and self.state != UNKNOWN else self.state

    def to_dict(self) -> dict[str, object]:
        """Fields for the status file."""
        return {"state": self.state, "last_check": self.last_check, "last_ok": self.last_ok,
                "last_result": self.last_result, "duration": round(self.duration, 6),
                "checks": dict(self.checks), "successes": self.successes, "failures": self.failures,
                "changed_at": self.changed_at, "history": "".join("+" if r else "-" for r in self.history),
                "weight": self.weight, "drain": self.drain, "maint": self.maint,
                "agent_pct": self.agent_pct, "duration_buckets": list(self.buckets),
                "duration_sum": round(self.duration_sum, 6)}

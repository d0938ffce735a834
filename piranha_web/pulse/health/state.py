"""Per-real-server health state machine, Piranha's nanny rules with fractional seconds.

* The first successful check brings an UNKNOWN server UP at once; the first
  failure makes it DOWN.
* One failed check takes an UP server DOWN (Piranha has no fall count).
* A DOWN server comes back after ``reentry`` seconds of consecutive success,
  counted as nanny does: ``max(1, ceil(reentry / interval))`` passing checks
  in a row (so reentry 1 s at interval 0.5 s = 2 passes).

Pure: the caller feeds results and timestamps; nothing here sleeps or does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..reconcile import DOWN, UNKNOWN, UP

__all__ = ["DOWN", "UNKNOWN", "UP", "HealthState", "rise_count"]


def rise_count(reentry: float, interval: float) -> int:
    """Passing checks in a row a DOWN server needs before it is UP again."""
    if interval <= 0:
        return 1
    return max(1, math.ceil(reentry / interval - 1e-9))


@dataclass(slots=True)
class HealthState:
    """The state of one real server and the bookkeeping to move it."""

    rise: int = 1
    state: str = UNKNOWN
    streak: int = 0                 # consecutive passes while DOWN
    last_check: float | None = None
    last_result: str = ""
    duration: float = 0.0
    changed_at: float | None = None
    checks: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0})  # for /metrics

    def record(self, ok: bool, when: float, detail: str = "", duration: float = 0.0) -> bool:
        """Feed one check result; returns True when the state changed."""
        self.last_check, self.last_result, self.duration = when, detail, duration
        self.checks["ok" if ok else "fail"] += 1
        before = self.state
        if not ok:
            self.streak = 0
            self.state = DOWN
        elif self.state == UNKNOWN:
            self.state = UP
        elif self.state == DOWN:
            self.streak += 1
            if self.streak >= self.rise:
                self.state = UP
                self.streak = 0
        if self.state != before:
            self.changed_at = when
            return True
        return False

    def to_dict(self) -> dict[str, object]:
        """Fields for the status file."""
        return {"state": self.state, "last_check": self.last_check,
                "last_result": self.last_result, "duration": round(self.duration, 6),
                "checks": dict(self.checks)}

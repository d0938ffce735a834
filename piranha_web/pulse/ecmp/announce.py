"""Which VIPs this director announces, and the drain state machine (pure: no I/O, no clock).

A VIP is announced while this director can serve it: one of its services is
in the kernel with at least one real server up, every real server of it has
been checked once, and the director is not draining.  The first checks matter
behind ECMP: a director that announced before them would schedule the flows of
a server it has not checked yet elsewhere (mh falls back past weight 0), while
every other director still sends them to that server.  Draining withdraws
every route first and waits ``bgp_drain_seconds`` for the router to move the
flows before reporting that stopping is safe.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ...lvscf.model import LvsConfig
from ..reconcile import UNKNOWN, UP, ServiceKey, Table, canonical_ip, service_key


class DrainState(enum.StrEnum):
    """ACTIVE announces; WITHDRAWN has withdrawn and waits; DRAINED is safe to stop."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    DRAINED = "drained"


@dataclass(frozen=True)
class Drain:
    """Where a drain stands: the state and when it started (monotonic seconds; None when active)."""

    state: DrainState = DrainState.ACTIVE
    since: float | None = None

    def request(self, drain: bool, now: float) -> "Drain":
        """Drain (from any state but an ongoing drain) or undrain."""
        if not drain:
            return Drain()
        return self if self.state != DrainState.ACTIVE else Drain(DrainState.WITHDRAWN, now)

    def advance(self, now: float, wait: float) -> "Drain":
        """WITHDRAWN becomes DRAINED once ``wait`` seconds have passed."""
        if self.state == DrainState.WITHDRAWN and self.since is not None and now - self.since >= wait:
            return Drain(DrainState.DRAINED, self.since)
        return self

    @property
    def announcing(self) -> bool:
        """Routes are announced only while active."""
        return self.state == DrainState.ACTIVE


def servable(cfg: LvsConfig, table: Table, health: Mapping[tuple[str, str], str]) -> dict[str, bool]:
    """{VIP: can this director serve it}: a service of it in the kernel, every real server checked, one up."""
    out: dict[str, bool] = {}
    for vs in cfg.active_virtuals():
        if not vs.address:
            continue
        key: ServiceKey = service_key(vs)
        entry = table.get(key)
        states = [health.get((vs.name, rs.name), UNKNOWN) for rs in vs.servers if rs.active]
        up = entry is not None and UP in states and UNKNOWN not in states
        up = up and entry is not None and any(d.weight > 0 for d in entry.dests.values())
        vip = canonical_ip(vs.address)
        out[vip] = out.get(vip, False) or up
    return out


def announced_vips(cfg: LvsConfig, table: Table, health: Mapping[tuple[str, str], str],
                   drain: Drain) -> set[str]:
    """The VIPs to announce now."""
    if not drain.announcing:
        return set()
    return {vip for vip, ok in servable(cfg, table, health).items() if ok}

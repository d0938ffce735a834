"""Runtime states of real servers and their effect on the desired IPVS table (pure).

A real server is READY (as configured), DRAIN (kernel weight 0: no new
connections, established ones live on), or MAINT (weight 0 until its active
connections are gone, then removed; removed at once with ``now``).  A
weight override (absolute, or a percentage of the configured weight) applies
while the server is READY.  States are keyed by lvs.cf names (virtual,
real) so they survive a reload that renumbers or readdresses nothing else;
they stay until cleared with READY.

Pure: no I/O, nothing from the daemon, so the console imports this module to
validate requests and to preview what pulse will apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...lvscf.model import LvsConfig
from ..reconcile import Dest, ServiceKey, DestKey, Table, server_dest_key, service_key

READY = "ready"
DRAIN = "drain"
MAINT = "maint"
STATES = (READY, DRAIN, MAINT)
MAX_WEIGHT = 65535          # lvs.cf's weight bound
MAX_PERCENT = 1000
NAME_MAX = 255

Key = tuple[str, str]       # (virtual name, real server name)


class InvalidChange(ValueError):
    """A request the runtime tier refuses; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RuntimeState:
    """One real server's runtime state and who set it when."""

    state: str = READY
    now: bool = False                 # MAINT: remove at once instead of after the drain
    weight: int | None = None         # absolute override
    percent: int | None = None        # override as a percentage of the configured weight
    by: str = ""
    since: float = 0.0

    @property
    def is_default(self) -> bool:
        """READY without an override: nothing to keep."""
        return self.state == READY and self.weight is None and self.percent is None

    def describe(self) -> str:
        """READY, DRAIN, MAINT, MAINT now, WEIGHT 5 or WEIGHT 50%."""
        if self.state == MAINT:
            return "MAINT now" if self.now else "MAINT"
        if self.state == DRAIN:
            return "DRAIN"
        if self.weight is not None:
            return f"WEIGHT {self.weight}"
        if self.percent is not None:
            return f"WEIGHT {self.percent}%"
        return "READY"

    def weight_for(self, configured: int) -> int:
        """The kernel weight READY with this override gives a server configured at ``configured``."""
        if self.weight is not None:
            return self.weight
        if self.percent is not None:
            return min(MAX_WEIGHT, (configured * self.percent + 50) // 100)
        return configured

    def to_dict(self) -> dict[str, Any]:
        """JSON form (persisted, sent over the channel, shown in the status file)."""
        return {"state": self.state, "now": self.now, "weight": self.weight, "percent": self.percent,
                "by": self.by, "since": self.since, "display": self.describe()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RuntimeState":
        """Inverse of :meth:`to_dict`; raises InvalidChange on anything malformed."""
        state = data.get("state", READY)
        if state not in STATES:
            raise InvalidChange("state", f"expected one of {', '.join(STATES)}")
        weight, percent = data.get("weight"), data.get("percent")
        if weight is not None:
            weight = _bounded("weight", weight, MAX_WEIGHT)
        if percent is not None:
            percent = _bounded("percent", percent, MAX_PERCENT)
        since = data.get("since", 0.0)
        return cls(state, data.get("now") is True, weight, percent, str(data.get("by") or "")[:64],
                   float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) else 0.0)


def _bounded(field: str, value: Any, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidChange(field, f"expected an integer 0..{high}")
    return value


def parse_weight(raw: Any) -> tuple[int | None, int | None]:
    """``5``/``"5"`` -> (5, None); ``"50%"`` -> (None, 50); else InvalidChange naming ``weight``."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _bounded("weight", raw, MAX_WEIGHT), None
    if isinstance(raw, str):
        text = raw.strip()
        percent = text.endswith("%")
        digits = text[:-1].strip() if percent else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 6:
            if percent:
                return None, _bounded("weight", int(digits), MAX_PERCENT)
            return _bounded("weight", int(digits), MAX_WEIGHT), None
    raise InvalidChange("weight", f"expected an integer 0..{MAX_WEIGHT} or a percentage like 50%")


def check_name(field: str, value: Any) -> str:
    """A virtual or real server name as lvs.cf spells it (non-empty, printable, bounded)."""
    if not isinstance(value, str) or not value or len(value) > NAME_MAX or not value.isprintable() \
            or any(c.isspace() for c in value):
        raise InvalidChange(field, "expected a virtual/real server name from lvs.cf")
    return value


def apply_change(current: RuntimeState, change: Mapping[str, Any], by: str, when: float) -> RuntimeState:
    """The state after a request ``{"state": ..., "now": ..., "weight": ...}``.

    ``ready`` clears everything (back to the configuration); ``drain`` and
    ``maint`` keep an override for later; ``weight`` alone keeps the state.
    Unknown keys are refused so a typo never passes as a no-op.
    """
    unknown = set(change) - {"state", "now", "weight"}
    if unknown:
        raise InvalidChange(sorted(unknown)[0], "unknown key (use state, now, weight)")
    if "state" not in change and "weight" not in change:
        raise InvalidChange("state", "give a state (drain, maint, ready) or a weight")
    now = change.get("now", False)
    if not isinstance(now, bool):
        raise InvalidChange("now", "expected true or false")
    new = current
    if "state" in change:
        state = change["state"]
        if state not in STATES:
            raise InvalidChange("state", f"expected one of {', '.join(STATES)}")
        if now and state != MAINT:
            raise InvalidChange("now", "only maint takes now")
        new = RuntimeState() if state == READY else replace(new, state=state, now=now)
    if "weight" in change:
        weight, percent = parse_weight(change["weight"])
        new = replace(new, weight=weight, percent=percent)
    return replace(new, by=by[:64], since=when)


def adjust_table(table: Table, cfg: LvsConfig, states: Mapping[Key, RuntimeState], actual: Table) -> None:
    """Apply runtime states to a desired table in place (before planning).

    Only destinations health put in the table are touched: a DOWN server
    stays out whatever its runtime state.  A quiesced (weight 0) server keeps
    weight 0 under an override.  MAINT without ``now`` keeps weight 0 until
    the kernel (``actual``) holds it at weight 0 with no active connection.
    """
    if not states:
        return
    virtuals = {vs.name: vs for vs in cfg.active_virtuals()}
    for (vname, rname), st in states.items():
        vs = virtuals.get(vname)
        rs = next((r for r in vs.servers if r.name == rname and r.active), None) if vs else None
        if vs is None or rs is None:
            continue
        key, dk = service_key(vs), server_dest_key(vs, rs)
        entry = table.get(key)
        dest = entry.dests.get(dk) if entry is not None else None
        if entry is None or dest is None:
            continue
        if st.state == MAINT and (st.now or drained(actual, key, dk)):
            del entry.dests[dk]
        elif st.state in (DRAIN, MAINT):
            entry.dests[dk] = Dest(0, dest.fwd)
        elif dest.weight > 0:
            entry.dests[dk] = Dest(st.weight_for(rs.weight), dest.fwd)


def drained(actual: Table, key: ServiceKey, dk: DestKey) -> bool:
    """May a MAINT server leave the table: the kernel holds it at weight 0 with no active connection?

    Removal waits for a pass that has seen weight 0 in the kernel, so a
    connection accepted just before MAINT is counted by a later dump, never
    missed by a stale one.  A destination the kernel does not hold is not added.
    """
    entry = actual.get(key)
    dest = entry.dests.get(dk) if entry is not None else None
    return dest is None or (dest.weight == 0 and not dest.stats.get("active_conns", 0))


def maint_pending(cfg: LvsConfig, states: Mapping[Key, RuntimeState], actual: Table) -> set[ServiceKey]:
    """Services holding a MAINT server that :func:`drained` would now remove (by ``actual``'s counts)."""
    maint = {key for key, st in states.items() if st.state == MAINT and not st.now}
    if not maint:
        return set()
    pending: set[ServiceKey] = set()
    for vs in cfg.active_virtuals():
        key = service_key(vs)
        entry = actual.get(key)
        if entry is None:
            continue
        for rs in vs.servers:
            if (vs.name, rs.name) not in maint:
                continue
            dk = server_dest_key(vs, rs)
            if dk in entry.dests and drained(actual, key, dk):
                pending.add(key)
    return pending


def maint_due(cfg: LvsConfig, states: Mapping[Key, RuntimeState], actual: Table) -> bool:
    """Is a MAINT server still in the kernel, drained (so a pass would remove it)?"""
    return bool(maint_pending(cfg, states, actual))

"""The daemon's runtime tier: states, the channel, the sampler, and the hooks the daemon calls.

The daemon creates one :class:`RuntimeControl`, lets the reconciler call
:meth:`adjust` on every desired table, starts/stops the channel with
itself, calls :meth:`sample` every loop pass (it samples when due, on its
own clock, so a large table's slower status writes do not thin the charts)
and :meth:`status` when it builds the status document, which reads the
counters the last sample refreshed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ...lvscf.model import LvsConfig
from ..reconcile import DestKey, ServiceKey, Table, server_dest_key, service_key
from ..options import Options
from ..jsonchunks import LazyMap, grouped
from ..reconciler import Reconciler
from .channel import SOCKET_NAME, Channel, Handler, Reply, console_uid
from .sampler import Column, Sampler
from .states import (
    InvalidChange, Key, RuntimeState, adjust_table, apply_change, check_name, maint_due, maint_pending,
)
from .store import RUNTIME_NAME, load_states, save_states

log = logging.getLogger("pulse")

MAX_CHARTED = 20      # virtual servers one "series" answer covers (the console charts these)
SAMPLE_DUTY = 20      # a sample is followed by at least 20 times its own cost without one


class RuntimeControl:
    """Runtime states kept by pulse, with the socket that changes them and the traffic ring."""

    def __init__(self, opts: Options, reconciler: Reconciler, config: Callable[[], LvsConfig],
                 wake: Callable[[], None]) -> None:
        runtime_dir, sample_interval = opts.runtime_dir, opts.sample_interval
        self.path = runtime_dir / RUNTIME_NAME
        self.states = load_states(self.path)
        self.reconciler = reconciler
        self.config = config
        self.wake = wake
        reconciler.adjust = self.adjust
        self.ops: dict[str, Handler] = {}      # more ops, answered by other parts of the daemon
        uid = console_uid(opts.console_user)
        self.channel = Channel(runtime_dir / SOCKET_NAME, {uid} if uid is not None else set(), self.handle)
        self.sample_interval = sample_interval
        self.sampler = Sampler()
        self._next_sample = 0.0
        self._columns: tuple[LvsConfig, dict[Key, Column]] | None = None
        for (vs, rs), st in sorted(self.states.items()):
            log.info("runtime state %s/%s %s (kept since %s)", vs, rs, st.describe(), st.by or "?")

    # ---- reconciler hook ------------------------------------------------------------
    def adjust(self, table: Table, cfg: LvsConfig, actual: Table) -> None:
        """Apply the states to the desired table (the reconciler calls this before planning).

        A MAINT server is removed on the kernel's counts read now, not on a
        cached dump that may predate a connection it just accepted.
        """
        for key in maint_pending(cfg, self.states, actual):
            self.reconciler.refresh_dests(key)
        adjust_table(table, cfg, self.states, actual)

    # ---- the channel ----------------------------------------------------------------
    def handle(self, request: dict[str, Any], uid: int) -> Reply:
        """Answer one channel request: ``get``, ``set``, ``series`` or one of :attr:`ops`."""
        op = request.get("op")
        if isinstance(op, str) and op in self.ops:
            return self.ops[op](request, uid)
        try:
            if op == "get":
                return {"ok": True, "servers": self.listing()}
            if op == "set":
                return self._set(request, uid)
            if op == "series":
                hour = request.get("range") == "hour"
                if request.get("virtual") is None:
                    return {"ok": True, "virtuals": self.all_series(hour)}
                return {"ok": True, **self.series(check_name("virtual", request.get("virtual")), hour)}
        except InvalidChange as exc:
            return {"ok": False, "status": 422, "error": exc.message, "field": exc.field}
        except LookupError as exc:
            return {"ok": False, "status": 404, "error": str(exc.args[0])}
        return {"ok": False, "status": 400, "error": "op must be get, set or series"}

    def _set(self, request: dict[str, Any], uid: int) -> dict[str, Any]:
        key = (check_name("virtual", request.get("virtual")), check_name("real", request.get("real")))
        self._known(key)
        change = request.get("change")
        if not isinstance(change, dict):
            raise InvalidChange("change", "expected an object")
        by = str(request.get("by") or f"uid {uid}")
        new = apply_change(self.states.get(key, RuntimeState()), change, by, time.time())
        before = self.states.get(key, RuntimeState())
        if new.is_default:
            self.states.pop(key, None)
        else:
            self.states[key] = new
        save_states(self.path, self.states)
        log.info("runtime %s/%s %s -> %s (by %s)", key[0], key[1], before.describe(), new.describe(), by)
        self.reconciler.dirty = True
        self.wake()
        return {"ok": True, "server": self.entry(key), "before": before.to_dict()}

    def _known(self, key: Key) -> None:
        """LookupError unless the running configuration has this real server."""
        for vs in self.config().virtuals:
            if vs.name == key[0]:
                if any(rs.name == key[1] for rs in vs.servers):
                    return
                raise LookupError(f"virtual server {key[0]!r} has no real server {key[1]!r}")
        raise LookupError(f"no virtual server {key[0]!r} in the running configuration")

    def entry(self, key: Key) -> dict[str, Any]:
        """One server's state with what the kernel has now."""
        st = self.states.get(key, RuntimeState())
        col = self.columns().get(key)
        latest = self.sampler.latest(col) if col else None
        return {"virtual": key[0], "real": key[1], **st.to_dict(),
                "cps": latest[0] if latest else None, "bps": latest[1] if latest else None,
                "active": latest[2] if latest else None}

    def listing(self) -> list[dict[str, Any]]:
        """Every configured real server with its state (READY ones too)."""
        return [self.entry(key) for key in self.columns()]

    # ---- sampling -------------------------------------------------------------------
    def columns(self) -> dict[Key, Column]:
        """(virtual, real) -> (service, destination), computed once per configuration."""
        cfg = self.config()
        if self._columns is None or self._columns[0] is not cfg:
            cols: dict[Key, tuple[ServiceKey, DestKey]] = {}
            for vs in cfg.virtuals:
                key = service_key(vs)
                for rs in vs.servers:
                    cols[(vs.name, rs.name)] = (key, server_dest_key(vs, rs))
            self._columns = (cfg, cols)
        return self._columns[1]

    def sample_due(self) -> bool:
        """Time for a sample (sampling is off with an interval of 0)."""
        return self.sample_interval > 0 and time.monotonic() >= self._next_sample

    def sample(self) -> None:
        """Refresh the counters that moved and add them to the rings; the status document reuses them.

        A MAINT server whose connections are gone is removed by the pass this
        triggers.  A sample is followed by at least ``SAMPLE_DUTY`` times its
        own cost without one: reading 1,000 services' counters takes about a
        second on a slow emulated machine, and checks and reloads come first.
        """
        if not self.sample_due():
            return
        started = time.monotonic()
        self._next_sample = started + self.sample_interval * 0.9
        try:
            table = self.reconciler.refresh_counters()
        except Exception as exc:  # noqa: BLE001 - a failed dump only costs one sample
            log.error("traffic sample failed: %s", exc)
            self.reconciler.forget_table()
            return
        self.sampler.add(table)
        if maint_due(self.config(), self.states, table):
            self.reconciler.dirty = True
        cost = time.monotonic() - started
        self._next_sample = max(self._next_sample, started + cost * (1 + SAMPLE_DUTY))

    def series(self, virtual: str, hour: bool = False) -> dict[str, Any]:
        """Rates of one virtual server and of each of its real servers."""
        cols = {rs: col for (vs, rs), col in self.columns().items() if vs == virtual}
        if not cols:
            raise LookupError(f"no virtual server {virtual!r} in the running configuration")
        ring = self.sampler.coarse if hour else self.sampler.fine
        return {"virtual": virtual, "step": self.sampler.step if hour else self.sample_interval,
                "total": ring.series(cols.values()),
                "reals": {rs: ring.series([col]) for rs, col in sorted(cols.items())}}

    def all_series(self, hour: bool = False) -> list[dict[str, Any]]:
        """:meth:`series` of the first ``MAX_CHARTED`` virtual servers (by name)."""
        names = sorted({vs for vs, _ in self.columns()})[:MAX_CHARTED]
        return [self.series(name, hour) for name in names]

    def status(self, table: Table) -> dict[str, Any]:
        """The status document's ``runtime`` part (``statusfile.RuntimeDoc``), its maps lazy.

        States, and counters by name for the exporters; one virtual server at
        a time (see ``pulse.jsonchunks``).
        """
        states = ((key, st.to_dict()) for key, st in sorted(self.states.items()))
        return {"states": LazyMap(grouped(states)), "traffic": LazyMap(grouped(self._traffic(table))),
                "sample_interval": self.sample_interval, "samples": self.sampler.samples}

    def _traffic(self, table: Table) -> Iterator[tuple[Key, dict[str, Any]]]:
        """Each configured real server's weight, counters and rates, as the kernel table has them."""
        for (vs, rs), (key, dk) in self.columns().items():
            entry = table.get(key)
            dest = entry.dests.get(dk) if entry is not None else None
            if dest is None:
                continue
            s = dest.stats
            latest = self.sampler.latest((key, dk))
            yield (vs, rs), {
                "weight": dest.weight, "conns": s.get("conns", 0), "active": s.get("active_conns", 0),
                "bytes": s.get("inbytes", 0) + s.get("outbytes", 0),
                "packets": s.get("inpkts", 0) + s.get("outpkts", 0),
                "cps": round(latest[0], 3) if latest else 0.0, "bps": round(latest[1], 3) if latest else 0.0}

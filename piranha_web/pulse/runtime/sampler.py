"""Traffic samples of the IPVS counters: per-second rates in two bounded rings.

Every sample (each status write, 2 s by default) turns the kernel's
counters into rates since the previous sample and appends them to the
*fine* ring (``FINE_POINTS`` samples); every ``COARSE_STEP`` seconds the
rates over that whole step go to the *coarse* ring (an hour at 10 s).  A
point stores one ``array('f')`` per series with a column per destination,
so 1,000 services x 10 real servers cost about 43 MB for the hour, not a
Python object per number.  Columns are keyed by (service, destination);
points share the key tuple while the table keeps its shape.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..reconcile import DestKey, ServiceKey, Table

FINE_POINTS = 90            # 3 minutes at 2 s
COARSE_STEP = 10.0
COARSE_POINTS = 360         # one hour at 10 s
SERIES = ("cps", "bps", "active")

Column = tuple[ServiceKey, DestKey]


@dataclass
class Point:
    """Rates of every destination at one time."""

    t: float
    keys: tuple[Column, ...]
    cps: array            # connections per second
    bps: array            # bytes (in + out) per second
    active: array         # active connections


class Ring:
    """A bounded sequence of points with a column index per distinct key tuple."""

    def __init__(self, size: int) -> None:
        self.points: deque[Point] = deque(maxlen=size)
        self._index: dict[int, dict[Column, int]] = {}

    def push(self, point: Point) -> None:
        self.points.append(point)
        live = {id(p.keys) for p in self.points}
        self._index = {k: v for k, v in self._index.items() if k in live}

    def series(self, columns: Iterable[Column]) -> dict[str, object]:
        """Times and, per series, the sum over ``columns`` (absent columns count 0)."""
        wanted = list(columns)
        out: dict[str, list[float]] = {name: [] for name in SERIES}
        times = []
        for p in self.points:
            index = self._index.get(id(p.keys))
            if index is None:
                index = self._index[id(p.keys)] = {k: i for i, k in enumerate(p.keys)}
            cols = [index[c] for c in wanted if c in index]
            times.append(round(p.t, 3))
            for name in SERIES:
                values = getattr(p, name)
                out[name].append(round(sum(values[i] for i in cols), 3))
        return {"t": times, **out}


class Sampler:
    """Turns successive kernel tables into rate points."""

    def __init__(self, fine: int = FINE_POINTS, coarse: int = COARSE_POINTS,
                 step: float = COARSE_STEP) -> None:
        self.fine = Ring(fine)
        self.coarse = Ring(coarse)
        self.step = step
        self._keys: tuple[Column, ...] = ()
        self._prev: tuple[float, dict[Column, tuple[int, int]]] | None = None
        self._coarse_prev: tuple[float, dict[Column, tuple[int, int]]] | None = None
        self.latest: dict[Column, tuple[float, float, int]] = {}
        self.samples = 0

    def add(self, table: Table, now: float | None = None) -> None:
        """One sample of the whole table."""
        now = time.time() if now is None else now
        counters: dict[Column, tuple[int, int]] = {}
        active: dict[Column, int] = {}
        for key, entry in table.items():
            for dk, dest in entry.dests.items():
                s = dest.stats
                counters[(key, dk)] = (s.get("conns", 0), s.get("inbytes", 0) + s.get("outbytes", 0))
                active[(key, dk)] = s.get("active_conns", 0)
        keys = tuple(counters)
        if keys != self._keys:
            self._keys = keys
        self.samples += 1
        if self._prev is not None:
            point = self._point(now, self._prev, counters, active)
            self.fine.push(point)
            self.latest = {k: (point.cps[i], point.bps[i], active[k]) for i, k in enumerate(self._keys)}
        self._prev = (now, counters)
        if self._coarse_prev is None:
            self._coarse_prev = (now, counters)
        elif now - self._coarse_prev[0] >= self.step:
            self.coarse.push(self._point(now, self._coarse_prev, counters, active))
            self._coarse_prev = (now, counters)

    def _point(self, now: float, prev: tuple[float, dict[Column, tuple[int, int]]],
               counters: dict[Column, tuple[int, int]], active: dict[Column, int]) -> Point:
        """Rates since ``prev``; a counter that went down (destination re-added) restarts from 0."""
        then, old = prev
        dt = max(now - then, 1e-3)
        cps, bps, act = array("f"), array("f"), array("f")
        for k in self._keys:
            conns, nbytes = counters[k]
            oc, ob = old.get(k, (conns, nbytes))
            cps.append((conns - oc) / dt if conns >= oc else conns / dt)
            bps.append((nbytes - ob) / dt if nbytes >= ob else nbytes / dt)
            act.append(active[k])
        return Point(now, self._keys, cps, bps, act)

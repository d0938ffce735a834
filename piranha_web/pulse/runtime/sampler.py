"""Traffic samples of the IPVS counters: per-second rates in two bounded rings.

Every sample (2 s by default) turns the kernel's counters into rates
since the previous sample and appends them to the *fine* ring
(``FINE_POINTS`` samples); every ``COARSE_STEP`` seconds the rates over
that whole step go to the *coarse* ring (an hour at 10 s).  A
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

from ..reconcile import Dest, DestKey, ServiceEntry, ServiceKey, Table

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
    """Turns successive kernel tables into rate points.

    The columns' counters live in arrays; a service whose destinations were
    not re-read since the last sample (the same ``dests`` mapping, the same
    destinations) saw no traffic, so a sample costs Python work only for the
    services that moved: at 10,000 idle destinations it is a few array copies.
    """

    def __init__(self, fine: int = FINE_POINTS, coarse: int = COARSE_POINTS,
                 step: float = COARSE_STEP) -> None:
        self.fine = Ring(fine)
        self.coarse = Ring(coarse)
        self.step = step
        self.samples = 0
        self._keys: tuple[Column, ...] = ()
        self._index: dict[Column, int] = {}
        self._layout: dict[ServiceKey, _Layout] = {}
        self._conns, self._bytes = array("d"), array("d")      # each column's counters at the last sample
        self._active = array("f")
        self._coarse_conns, self._coarse_bytes = array("d"), array("d")   # growth since the coarse step began
        self._t: float | None = None
        self._coarse_t: float | None = None
        self._last: Point | None = None

    def latest(self, column: Column) -> tuple[float, float, int] | None:
        """(connections/s, bytes/s, active connections) of ``column`` in the last point (None: none yet)."""
        i = self._index.get(column)
        if self._last is None or i is None:
            return None
        return (self._last.cps[i], self._last.bps[i], int(self._last.active[i]))

    def add(self, table: Table, now: float | None = None) -> None:
        """One sample of the whole table."""
        now = time.time() if now is None else now
        self.samples += 1
        moved = self._moved(table)
        if moved is None:
            self._relayout(table)
            moved = list(table.items())
        n = len(self._keys)
        cps, bps = array("f", bytes(4 * n)), array("f", bytes(4 * n))
        dt = max(now - self._t, 1e-3) if self._t is not None else 1.0
        for key, entry in moved:
            layout = self._layout[key] = _Layout(self._layout[key].offset, entry.dests)
            self._read(layout, cps, bps, dt)
        if self._t is not None:
            self._last = Point(now, self._keys, cps, bps, array("f", self._active))
            self.fine.push(self._last)
        self._t = now
        if self._coarse_t is None:
            self._coarse_t = now
            self._coarse_conns, self._coarse_bytes = array("d", bytes(8 * n)), array("d", bytes(8 * n))
        elif now - self._coarse_t >= self.step:
            span = max(now - self._coarse_t, 1e-3)
            self.coarse.push(Point(now, self._keys,
                                   array("f", (c / span for c in self._coarse_conns)),
                                   array("f", (b / span for b in self._coarse_bytes)),
                                   array("f", self._active)))
            self._coarse_t = now
            self._coarse_conns, self._coarse_bytes = array("d", bytes(8 * n)), array("d", bytes(8 * n))

    def _read(self, layout: _Layout, cps: array, bps: array, dt: float) -> None:
        """A moved service's counters into the arrays, its rates into ``cps``/``bps``.

        A counter that went down (destination re-added) restarts from 0.
        """
        i = layout.offset
        for dest in layout.dests.values():
            s = dest.stats
            conns, nbytes = s.get("conns", 0), s.get("inbytes", 0) + s.get("outbytes", 0)
            grew_c = conns - self._conns[i] if conns >= self._conns[i] else conns
            grew_b = nbytes - self._bytes[i] if nbytes >= self._bytes[i] else nbytes
            cps[i], bps[i] = grew_c / dt, grew_b / dt
            self._coarse_conns[i] += grew_c
            self._coarse_bytes[i] += grew_b
            self._conns[i], self._bytes[i], self._active[i] = conns, nbytes, s.get("active_conns", 0)
            i += 1

    def _moved(self, table: Table) -> list[tuple[ServiceKey, ServiceEntry]] | None:
        """The services re-read since the last sample, or None when the table changed shape."""
        if len(table) != len(self._layout):
            return None
        moved = []
        for key, entry in table.items():
            layout = self._layout.get(key)
            if layout is None or len(entry.dests) != len(layout.keys) or tuple(entry.dests) != layout.keys:
                return None
            if entry.dests is not layout.dests:
                moved.append((key, entry))
        return moved

    def _relayout(self, table: Table) -> None:
        """New columns for a table of another shape; a column that stays keeps its counters."""
        keys = tuple((key, dk) for key, entry in table.items() for dk in entry.dests)
        old = self._index
        self._index = {col: i for i, col in enumerate(keys)}

        def carried(values: array, typecode: str) -> array:
            return array(typecode, (values[old[c]] if c in old else 0 for c in keys))

        missing = [c for c in keys if c not in old]
        self._conns, self._bytes = carried(self._conns, "d"), carried(self._bytes, "d")
        self._active = carried(self._active, "f")
        self._coarse_conns = carried(self._coarse_conns, "d")
        self._coarse_bytes = carried(self._coarse_bytes, "d")
        for col in missing:                 # a new column starts from its own counters: no burst of history
            dest = table[col[0]].dests[col[1]]
            i = self._index[col]
            self._conns[i] = dest.stats.get("conns", 0)
            self._bytes[i] = dest.stats.get("inbytes", 0) + dest.stats.get("outbytes", 0)
        self._keys = keys
        self._layout = {}
        offset = 0
        for key, entry in table.items():
            self._layout[key] = _Layout(offset, _UNREAD)
            offset += len(entry.dests)


_UNREAD: dict[DestKey, Dest] = {}


class _Layout:
    """Where a service's columns start, and the destinations mapping they were last read from."""

    __slots__ = ("offset", "dests", "keys")

    def __init__(self, offset: int, dests: dict[DestKey, Dest]) -> None:
        self.offset = offset
        self.dests = dests
        self.keys = tuple(dests)

"""The counter ring: rates from successive tables, the coarse step, sums per virtual server."""

from __future__ import annotations

from piranha_web.pulse.reconcile import Dest, DestKey, Service, ServiceEntry, ServiceKey, Table
from piranha_web.pulse.runtime.sampler import Sampler

WWW = ServiceKey.tcp("203.0.113.10", 80)
RS1, RS2 = DestKey("192.0.2.1", 80), DestKey("192.0.2.2", 80)


def _table(c1: int, c2: int, active: int = 0) -> Table:
    entry = ServiceEntry(Service())
    entry.dests[RS1] = Dest(1, "nat", {"conns": c1, "inbytes": c1 * 100, "outbytes": c1 * 900,
                                       "active_conns": active})
    entry.dests[RS2] = Dest(1, "nat", {"conns": c2, "inbytes": 0, "outbytes": 0})
    return {WWW: entry}


def test_rates_fine_and_coarse() -> None:
    s = Sampler(fine=3, coarse=4, step=10.0)
    for i in range(7):
        s.add(_table(i * 20, i * 2, active=i), now=1000.0 + 2 * i)
    fine = s.fine.series([(WWW, RS1)])
    assert len(fine["t"]) == 3 and fine["cps"] == [10.0, 10.0, 10.0]
    assert fine["bps"] == [10000.0] * 3 and fine["active"] == [4.0, 5.0, 6.0]
    both = s.fine.series([(WWW, RS1), (WWW, RS2)])
    assert both["cps"] == [11.0, 11.0, 11.0]
    coarse = s.coarse.series([(WWW, RS2)])
    assert coarse["t"] == [1010.0] and coarse["cps"] == [1.0]
    assert s.latest((WWW, RS1)) == (10.0, 10000.0, 6)


def test_a_reset_counter_and_a_new_destination() -> None:
    s = Sampler()
    s.add(_table(100, 0), now=0.0)
    s.add(_table(4, 0), now=2.0)              # destination re-added: counts restart
    assert s.fine.series([(WWW, RS1)])["cps"] == [2.0]
    table = _table(10, 0)
    table[WWW].dests[DestKey("192.0.2.3", 80)] = Dest(1, "nat", {"conns": 6})
    s.add(table, now=4.0)
    assert s.fine.series([(WWW, DestKey("192.0.2.3", 80))])["cps"] == [0.0, 0.0]
    assert s.fine.series([(WWW, DestKey("198.51.100.1", 80))])["cps"] == [0.0, 0.0]


def test_only_re_read_services_cost_a_sample_and_the_others_keep_their_active_count() -> None:
    """The reconciler replaces a service's ``dests`` on a re-read; an untouched one saw no traffic."""
    other = ServiceKey.tcp("203.0.113.11", 80)
    table = _table(10, 0, active=3)
    table[other] = _table(50, 0, active=7)[WWW]
    s = Sampler()
    s.add(table, now=0.0)
    table[WWW] = _table(30, 0, active=3)[WWW]                 # WWW re-read: 20 more connections
    table[other].dests[RS1] = Dest(5, "nat", dict(table[other].dests[RS1].stats))   # a weight change only
    s.add(table, now=2.0)
    assert s.latest((WWW, RS1)) == (10.0, 10000.0, 3)
    assert s.latest((other, RS1)) == (0.0, 0.0, 7)
    table[other].dests[DestKey("192.0.2.9", 80)] = Dest(1, "nat", {"conns": 99})   # a new column
    s.add(table, now=4.0)
    assert s.latest((other, DestKey("192.0.2.9", 80))) == (0.0, 0.0, 0)
    assert s.latest((WWW, RS1)) == (0.0, 0.0, 3) and s.fine.series([(WWW, RS1)])["cps"] == [10.0, 0.0]

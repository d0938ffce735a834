"""Runtime states: request parsing and their effect on the desired table (pure)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.pulse.reconcile import Dest, DestKey, ServiceKey, all_up, copy_table, desired_table
from piranha_web.pulse.runtime.states import (
    DRAIN, MAINT, READY, InvalidChange, RuntimeState, adjust_table, apply_change, maint_due, maint_pending,
    parse_weight,
)

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import lvs_cf  # noqa: E402

WWW = ServiceKey.tcp("203.0.113.10", 80)
RS1, RS2 = DestKey("192.0.2.1", 80), DestKey("192.0.2.2", 80)
CFG = lvscf.load(lvs_cf({"rs1": ("192.0.2.1", 80, 4), "rs2": ("192.0.2.2", 80, 1)}))


def _adjusted(states: dict[tuple[str, str], RuntimeState], actual: dict | None = None,
              health: dict | None = None) -> dict[DestKey, int]:
    table = desired_table(CFG, all_up(CFG) if health is None else health)
    adjust_table(table, CFG, states, actual if actual is not None else copy_table(table))
    return {dk: d.weight for dk, d in table[WWW].dests.items()}


def test_ready_clears_and_weight_keeps_the_state() -> None:
    drained = apply_change(RuntimeState(), {"state": "drain"}, "alice", 1.0)
    assert drained.state == DRAIN and drained.by == "alice" and drained.describe() == "DRAIN"
    reweighted = apply_change(drained, {"weight": "50%"}, "bob", 2.0)
    assert reweighted.state == DRAIN and reweighted.percent == 50 and reweighted.weight is None
    assert apply_change(reweighted, {"state": "ready"}, "c", 3.0).is_default
    now = apply_change(RuntimeState(), {"state": "maint", "now": True}, "d", 4.0)
    assert now.describe() == "MAINT now"
    assert RuntimeState.from_dict(now.to_dict()) == now


@pytest.mark.parametrize("change, field", [
    ({}, "state"), ({"state": "up"}, "state"), ({"state": "drain", "now": True}, "now"),
    ({"state": "maint", "now": "yes"}, "now"), ({"weight": -1}, "weight"), ({"weight": "x%"}, "weight"),
    ({"weight": 65536}, "weight"), ({"weight": True}, "weight"), ({"weight": "1001%"}, "weight"),
    ({"colour": "red"}, "colour"),
])
def test_bad_changes_name_their_field(change: dict, field: str) -> None:
    with pytest.raises(InvalidChange) as err:
        apply_change(RuntimeState(), change, "x", 0.0)
    assert err.value.field == field


def test_weights_absolute_and_percent() -> None:
    assert parse_weight(5) == (5, None) and parse_weight("7") == (7, None)
    assert parse_weight("50%") == (None, 50)
    assert RuntimeState(percent=50).weight_for(4) == 2 and RuntimeState(percent=50).weight_for(1) == 1
    assert RuntimeState(weight=9).weight_for(4) == 9 and RuntimeState().weight_for(4) == 4


def test_drain_is_weight_zero_and_overrides_apply_to_ready_servers() -> None:
    assert _adjusted({}) == {RS1: 4, RS2: 1}
    assert _adjusted({("www", "rs1"): RuntimeState(DRAIN)}) == {RS1: 0, RS2: 1}
    assert _adjusted({("www", "rs1"): RuntimeState(weight=9), ("www", "rs2"): RuntimeState(percent=300)}) \
        == {RS1: 9, RS2: 3}
    assert _adjusted({("nope", "rs1"): RuntimeState(DRAIN), ("www", "nope"): RuntimeState(DRAIN)}) \
        == {RS1: 4, RS2: 1}


def test_maint_waits_for_active_connections_unless_now() -> None:
    table = desired_table(CFG, all_up(CFG))
    busy = copy_table(table)
    busy[WWW].dests[RS1] = Dest(4, "nat", {"active_conns": 3})
    maint = {("www", "rs1"): RuntimeState(MAINT)}
    assert _adjusted(maint, busy) == {RS1: 0, RS2: 1}
    assert maint_due(CFG, maint, busy) is False
    serving = copy_table(table)                # idle, but the kernel has not seen weight 0 yet
    assert maint_due(CFG, maint, serving) is False
    assert _adjusted(maint, serving) == {RS1: 0, RS2: 1}
    drained = copy_table(table)
    drained[WWW].dests[RS1] = Dest(0, "nat", {"active_conns": 0})
    assert maint_due(CFG, maint, drained) is True
    assert maint_pending(CFG, maint, drained) == {WWW}
    assert _adjusted(maint, drained) == {RS2: 1}
    absent = copy_table(table)
    del absent[WWW].dests[RS1]
    assert _adjusted(maint, absent) == {RS2: 1}          # never added back
    assert _adjusted({("www", "rs1"): RuntimeState(MAINT, now=True)}, busy) == {RS2: 1}


def test_a_down_server_stays_out_whatever_its_state() -> None:
    health = dict(all_up(CFG))
    health[("www", "rs2")] = "down"
    assert _adjusted({("www", "rs2"): RuntimeState(weight=5)}, health=health) == {RS1: 4}
    assert READY == "ready"

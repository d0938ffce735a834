"""plan(): the minimal, pure diff between the wanted and the actual IPVS table."""

from __future__ import annotations

from piranha_web.pulse.reconcile import (
    ADD_ADDRESS, ADD_DEST, ADD_MARK, ADD_SERVICE, DEL_ADDRESS, DEL_DEST, DEL_MARK, DEL_SERVICE,
    DRAIN_DEST, SET_DEST, SET_SERVICE, Address, Dest, DestKey, MarkRule, Op, Service, ServiceEntry,
    ServiceKey, apply_op, copy_table, plan, plan_addresses, plan_marks,
)

WEB = ServiceKey.tcp("203.0.113.10", 80)
DNS = ServiceKey.udp("203.0.113.10", 53)
MARK = ServiceKey.mark(80)
RS1, RS2, RS3 = DestKey("192.0.2.1", 80), DestKey("192.0.2.2", 80), DestKey("192.0.2.3", 80)


def table(**entries: ServiceEntry) -> dict[ServiceKey, ServiceEntry]:
    keys = {"web": WEB, "dns": DNS, "mark": MARK}
    return {keys[k]: v for k, v in entries.items()}


def web(*dests: tuple[DestKey, int], sched: str = "rr") -> ServiceEntry:
    return ServiceEntry(Service(sched), {dk: Dest(w, "nat") for dk, w in dests})


def actions(ops: list[Op]) -> list[str]:
    return [op.action for op in ops]


def test_identical_tables_need_nothing() -> None:
    t = table(web=web((RS1, 1), (RS2, 1)))
    assert plan(t, copy_table(t)) == []


def test_empty_kernel_gets_service_then_dests() -> None:
    ops = plan(table(web=web((RS1, 1), (RS2, 2))), {})
    assert actions(ops) == [ADD_SERVICE, ADD_DEST, ADD_DEST]
    assert [op.dest.weight for op in ops[1:]] == [1, 2]


def test_one_weight_change_is_exactly_one_set() -> None:
    ops = plan(table(web=web((RS1, 1), (RS2, 5))), table(web=web((RS1, 1), (RS2, 1))))
    assert len(ops) == 1
    assert ops[0].action == SET_DEST and ops[0].dest_key == RS2 and ops[0].dest.weight == 5


def test_forwarding_method_change_is_a_set() -> None:
    want = table(web=ServiceEntry(Service("rr"), {RS1: Dest(1, "direct")}))
    ops = plan(want, table(web=web((RS1, 1))))
    assert actions(ops) == [SET_DEST]


def test_scheduler_or_persistence_change_is_a_set_service() -> None:
    ops = plan(table(web=web((RS1, 1), sched="wlc")), table(web=web((RS1, 1))))
    assert actions(ops) == [SET_SERVICE]
    want = {WEB: ServiceEntry(Service("rr", 300, "255.255.255.0"), {RS1: Dest(1, "nat")})}
    assert actions(plan(want, table(web=web((RS1, 1))))) == [SET_SERVICE]


def test_removed_dest_is_deleted_others_untouched() -> None:
    ops = plan(table(web=web((RS1, 1))), table(web=web((RS1, 1), (RS2, 1))))
    assert actions(ops) == [DEL_DEST] and ops[0].dest_key == RS2


def test_draining_dest_is_labelled_drain() -> None:
    ops = plan(table(web=web((RS1, 1), (RS2, 0))), table(web=web((RS1, 1), (RS2, 3))),
               draining=[(WEB, RS2)])
    assert actions(ops) == [DRAIN_DEST]


def test_unmanaged_services_are_left_alone() -> None:
    actual = table(web=web((RS1, 1)), dns=web((RS3, 1)))
    assert plan(table(web=web((RS1, 1))), actual) == []
    ops = plan(table(web=web((RS1, 1))), actual, managed=[DNS])
    assert actions(ops) == [DEL_SERVICE] and ops[0].key == DNS


def test_fwmark_services_are_keyed_by_mark() -> None:
    want = {MARK: web((RS1, 1))}
    ops = plan(want, table(web=web((RS1, 1))), managed=[WEB])
    assert actions(ops) == [ADD_SERVICE, ADD_DEST, DEL_SERVICE]
    assert str(ops[0].key) == "FWM 80"


def test_order_adds_then_sets_then_deletes() -> None:
    want = table(web=web((RS1, 2), (RS3, 1)))
    have = table(web=web((RS1, 1), (RS2, 1)), dns=web())
    ops = plan(want, have, managed=[DNS])
    assert actions(ops) == [ADD_DEST, SET_DEST, DEL_DEST, DEL_SERVICE]


def test_plan_is_pure() -> None:
    want, have = table(web=web((RS1, 2))), table(web=web((RS1, 1), (RS2, 1)))
    before = (copy_table(want), copy_table(have))
    plan(want, have)
    assert (want, have) == before


def test_applying_the_plan_converges() -> None:
    want = table(web=web((RS1, 2), (RS3, 1), sched="wlc"), mark=web((RS2, 4)))
    have = table(web=web((RS1, 1), (RS2, 1)), dns=web((RS1, 1)))
    for op in plan(want, have, managed=[DNS]):
        apply_op(have, op)
    assert have == want
    assert plan(want, have) == []


def test_apply_keeps_counters_across_weight_change() -> None:
    have = {WEB: ServiceEntry(Service("rr"), {RS1: Dest(1, "nat", {"active_conns": 3})})}
    apply_op(have, Op(SET_DEST, WEB, None, RS1, Dest(7, "nat")))
    assert have[WEB].dests[RS1].weight == 7
    assert have[WEB].dests[RS1].stats == {"active_conns": 3}


def test_addresses_and_marks() -> None:
    a = Address("203.0.113.10", 24, "eth0", "eth0:1")
    b = Address("192.0.2.254", 32, "eth1", "eth1:1")
    assert actions(plan_addresses([a, b], [b])) == [ADD_ADDRESS]
    assert actions(plan_addresses([], [a])) == [DEL_ADDRESS]
    m = MarkRule("tcp", "203.0.113.10", 80, 80)
    assert actions(plan_marks([m], [])) == [ADD_MARK]
    assert actions(plan_marks([], [m])) == [DEL_MARK]
    assert plan_marks([m], [m]) == []


def test_op_text_is_readable() -> None:
    op = Op(SET_DEST, WEB, None, RS2, Dest(5, "nat"))
    assert str(op) == "set-dest TCP 203.0.113.10:80 -> 192.0.2.2:80 nat weight 5"
    assert str(Op(ADD_SERVICE, MARK, Service("wlc", 300, "255.255.255.0"))) == \
        "add-service FWM 80 wlc persistent 300 mask 255.255.255.0"
    assert op.to_dict()["action"] == SET_DEST

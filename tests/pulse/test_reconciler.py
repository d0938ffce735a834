"""The Reconciler on its own, against the dry-run backends: no daemon, no event loop, no checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.pulse.kernel import dry_run_backends
from piranha_web.pulse.reconcile import DestKey, ServiceEntry, Service, ServiceKey, all_up
from piranha_web.pulse.reconciler import Reconciler

sys.path.insert(0, str(Path(__file__).parent))
from pulsekit import lvs_cf  # noqa: E402

WEB = ServiceKey.tcp("203.0.113.10", 80)
FOREIGN = ServiceKey.tcp("198.51.100.7", 25)
RS1, RS2 = DestKey("192.0.2.1", 80), DestKey("192.0.2.2", 80)


def _cfg(servers: dict[str, tuple[str, int, int]]) -> lvscf.LvsConfig:
    return lvscf.load(lvs_cf(servers))


def test_programs_drains_then_deletes_and_tears_down_only_its_own(tmp_path: Path) -> None:
    kernel = dry_run_backends()
    rec = Reconciler(kernel, tmp_path, drain_seconds=60)
    both = _cfg({"rs1": ("192.0.2.1", 80, 1), "rs2": ("192.0.2.2", 80, 1)})
    ops = rec.reconcile(both, all_up(both), programs=True, announce=False)
    assert {str(op).split()[0] for op in ops} >= {"add-service", "add-dest", "add-address"}
    assert set(kernel.ipvs.dump()[WEB].dests) == {RS1, RS2}

    # someone else's service is never touched
    kernel.ipvs.table[FOREIGN] = ServiceEntry(Service("wlc"))  # type: ignore[attr-defined]  # dry run only
    one = _cfg({"rs1": ("192.0.2.1", 80, 1)})
    rec.reconcile(one, all_up(one), programs=True, announce=False)
    assert kernel.ipvs.dump()[WEB].dests[RS2].weight == 0          # draining, not gone
    assert [f"{k} -> {dk}" for k, dk in rec.drains] == [f"{WEB} -> {RS2}"]

    rec.teardown()
    assert set(kernel.ipvs.dump()) == {FOREIGN}
    assert not rec.managed.services and not rec.managed.addresses


def test_a_node_that_does_not_program_holds_nothing(tmp_path: Path) -> None:
    kernel = dry_run_backends()
    rec = Reconciler(kernel, tmp_path)
    cfg = _cfg({"rs1": ("192.0.2.1", 80, 1)})
    rec.reconcile(cfg, all_up(cfg), programs=True, announce=False)
    rec.reconcile(cfg, all_up(cfg), programs=False, announce=False)
    assert kernel.ipvs.dump() == {} and not rec.managed.addresses


def test_nat_family_with_forwarding_off_is_a_warning(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    kernel = dry_run_backends()
    off = {4: True, 6: False}
    kernel.forwarding = off.get
    rec = Reconciler(kernel, tmp_path)
    v4 = _cfg({"rs1": ("192.0.2.1", 80, 1)})
    rec.reconcile(v4, all_up(v4), programs=True, announce=False)
    assert rec.warnings == []
    v6 = lvscf.load(lvs_cf({"rs1": ("2001:db8:1::1", 80, 1)}).replace("203.0.113.10", "2001:db8:10::10"))
    rec.reconcile(v6, all_up(v6), programs=True, announce=False)
    assert len(rec.warnings) == 1 and "net.ipv6.conf.all.forwarding = 0" in rec.warnings[0]
    assert "net.ipv6.conf.all.forwarding = 0" in caplog.text
    assert DestKey("2001:db8:1::1", 80) in kernel.ipvs.dump()[ServiceKey.tcp("2001:db8:10::10", 80)].dests
    off[6] = True
    rec.reconcile(v4, all_up(v4), programs=True, announce=False)
    assert rec.warnings == []


def test_counters_are_re_read_only_for_services_that_saw_traffic(tmp_path: Path) -> None:
    kernel = dry_run_backends()
    rec = Reconciler(kernel, tmp_path)
    mail_vs = ("virtual mail {\n    active = 1\n    address = 203.0.113.11 eth0:2\n    port = 80\n"
               "    protocol = tcp\n    server rs1 {\n        address = 192.0.2.1\n"
               "        active = 1\n    }\n}\n")
    cfg = lvscf.load(lvs_cf({"rs1": ("192.0.2.1", 80, 1)}, tail=mail_vs))
    rec.reconcile(cfg, all_up(cfg), programs=True, announce=False)
    mail = ServiceKey.tcp("203.0.113.11", 80)
    read: list[ServiceKey] = []
    dump_dests = kernel.ipvs.dump_dests
    kernel.ipvs.dump_dests = lambda key: read.append(key) or dump_dests(key)  # type: ignore[method-assign]
    rec.refresh_counters()
    read.clear()
    kernel_table = kernel.ipvs.table  # type: ignore[attr-defined]  # dry run only
    kernel_table[WEB].dests[RS1].stats.update(conns=3, inpkts=9, active_conns=2)
    table = rec.refresh_counters()
    assert read == [WEB] and table[WEB].dests[RS1].stats["active_conns"] == 2
    assert mail in table
    read.clear()
    rec.refresh_counters()
    assert read == []                                  # nothing moved: one request, no destination re-read


def test_a_batch_of_ops_is_one_record_with_a_line_per_op(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """10,000 add-dest at start cost one log record per batch, not one each; the text is unchanged."""
    cfg = _cfg({"rs1": ("192.0.2.1", 80, 1), "rs2": ("192.0.2.2", 80, 1)})
    with caplog.at_level("INFO", logger="pulse"):
        rec = Reconciler(dry_run_backends(), tmp_path)
        ops = rec.reconcile(cfg, all_up(cfg), programs=True, announce=False)
    ipvs = [str(op) for op in ops if op.key is not None]
    batches = [r.getMessage() for r in caplog.records if r.getMessage().startswith("add-service")]
    assert batches == ["\n".join(ipvs)] and len(ipvs) == 3

"""The pure preview: a status document plus a new configuration give exactly the reconciler's ops."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from piranha_web import lvscf
from piranha_web.pulse.kernel import dry_run_backends
from piranha_web.pulse.reconcile import DestKey, ServiceKey, all_up
from piranha_web.pulse.reconciler import Reconciler
from piranha_web.pulse.runtime.preview import preview_ops, table_of

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import lvs_cf  # noqa: E402

WWW = ServiceKey.tcp("203.0.113.10", 80)


def _status(rec: Reconciler, cfg: lvscf.LvsConfig, **extra: Any) -> dict[str, Any]:
    """A status document as statusdoc builds it (only the parts the preview reads)."""
    from piranha_web.pulse.statusdoc import service_dict

    table = rec.actual_table()
    health = {vs: {rs: {"state": st, "weight": None, "configured_weight": None}}
              for (vs, rs), st in all_up(cfg).items()}
    merged: dict[str, dict[str, Any]] = {}
    for vs, servers in health.items():
        merged.setdefault(vs, {}).update(servers)
    return {"state": "running", "programs_kernel": True, "role": "standalone", "drain_seconds": 5.0,
            "table": [service_dict(k, e, k in rec.managed.services) for k, e in sorted(table.items())],
            "health": merged, "addresses": [str(a) for a in sorted(rec.managed.addresses)],
            "marks": [str(m) for m in sorted(rec.managed.marks)], **extra}


def test_preview_equals_what_the_reconciler_then_applies(tmp_path: Path) -> None:
    kernel = dry_run_backends()
    rec = Reconciler(kernel, tmp_path, drain_seconds=5)
    old = lvscf.load(lvs_cf({"rs1": ("192.0.2.1", 80, 1), "rs2": ("192.0.2.2", 80, 1)}))
    rec.reconcile(old, all_up(old), programs=True, announce=False)
    kernel.ipvs.table[WWW].dests[DestKey("192.0.2.2", 80)].stats["active_conns"] = 3  # type: ignore
    doc = _status(rec, old)
    new = lvscf.load(lvs_cf({"rs1": ("192.0.2.1", 80, 5), "rs3": ("192.0.2.3", 80, 1)}, serial=2))
    ops, warnings = preview_ops(new, doc)
    applied = rec.reconcile(new, all_up(new), programs=True, announce=False)
    assert ops == [str(op) for op in applied]
    assert "drain-dest TCP 203.0.113.10:80 -> 192.0.2.2:80 nat weight 0" in ops
    assert warnings == ["drains TCP 203.0.113.10:80 -> 192.0.2.2:80 which has 3 active connections"]


def test_a_vip_going_away_warns_and_a_runtime_drain_is_kept(tmp_path: Path) -> None:
    kernel = dry_run_backends()
    rec = Reconciler(kernel, tmp_path)
    old = lvscf.load(lvs_cf({"rs1": ("192.0.2.1", 80, 1)}))
    rec.reconcile(old, all_up(old), programs=True, announce=False)
    doc = _status(rec, old, runtime={"states": {"www": {"rs1": {"state": "drain"}}}})
    ops, _ = preview_ops(old, doc)
    assert ops == ["set-dest TCP 203.0.113.10:80 -> 192.0.2.1:80 nat weight 0"]
    gone = lvscf.load("serial_no = 3\nprimary = 203.0.113.1\nservice = lvs\nnetwork = nat\n"
                      "nat_router = 192.0.2.254 eth1:1\n")
    ops, warnings = preview_ops(gone, doc)
    assert "del-service TCP 203.0.113.10:80 rr" in ops
    assert any(w.startswith("removes address 203.0.113.10/32") for w in warnings)
    assert any(w.startswith("removes virtual service TCP 203.0.113.10:80") for w in warnings)
    assert table_of(doc)[1] == {WWW}
    assert preview_ops(gone, {**doc, "programs_kernel": False, "role": "backup"})[0] == []

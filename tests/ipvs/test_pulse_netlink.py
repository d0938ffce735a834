"""The IPVS backend against the real kernel: every attribute survives add, set and dump.

No traffic: one private namespace (``lo`` up so the kernel has a local
table, see pulse/kernel/ipvs.py) and the dump compared with what was asked.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.ipvs
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import subprocess, sys
    sys.path.insert(0, sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    from piranha_web.pulse.kernel.ipvs import NetlinkIpvs
    from piranha_web.pulse.reconcile import *
    from piranha_web.lvscf.model import SCHEDULERS
    b = NetlinkIpvs()
    want = {}
    for i, sched in enumerate(SCHEDULERS):
        key = ServiceKey.tcp("203.0.113.10", 1000 + i)
        want[key] = ServiceEntry(Service(sched), {DestKey("192.0.2.1", 80): Dest(i + 1, "nat")})
    want[ServiceKey.udp("203.0.113.10", 53)] = ServiceEntry(Service("sh", 60), {
        DestKey("192.0.2.2", 53): Dest(3, "direct"), DestKey("192.0.2.3", 53): Dest(0, "tunnel")})
    want[ServiceKey.mark(80)] = ServiceEntry(Service("wlc", 300, "255.255.255.0"), {
        DestKey("192.0.2.1", 80): Dest(100, "nat"), DestKey("192.0.2.2", 8080): Dest(200, "nat")})
    for op in plan(want, b.dump()):
        b.apply(op)
    assert b.dump() == want, (b.dump(), want)        # the encoder wrote it, the decoder read it
    # an independent reader agrees: ipvsadm -Sn sees what the raw writer sent
    saved = subprocess.run(["ipvsadm", "-Sn"], capture_output=True, text=True).stdout
    assert "-A -f 80 -s wlc -p 300 -M 255.255.255.0" in saved, saved
    assert "-a -f 80 -r 192.0.2.2:8080 -m -w 200" in saved, saved
    assert "-a -u 203.0.113.10:53 -r 192.0.2.3:53 -i -w 0" in saved, saved
    # a batch: the one refused request fails alone, the rest apply in order
    ghost = ServiceKey.tcp("203.0.113.99", 9)
    batch = [Op(ADD_SERVICE, ghost, Service("rr"))]
    batch += [Op(ADD_DEST, ghost, dest_key=DestKey("192.0.2.9", p), dest=Dest(1, "nat"))
              for p in range(1, 300)]
    batch.insert(5, Op(ADD_DEST, ServiceKey.tcp("203.0.113.98", 9), dest_key=DestKey("192.0.2.9", 1),
                       dest=Dest(1, "nat")))
    verdicts = b.apply_many(batch)
    assert [i for i, v in enumerate(verdicts) if v is not None] == [5], verdicts[:8]
    assert len(b.dump_dests(ghost)) == 299 and b.dump_services()[ghost] == Service("rr")
    b.apply(Op(DEL_SERVICE, ghost))
    assert b.dump_dests(ghost) == {}
    # changes through "set": weight, fwd, scheduler, persistence
    new = copy_table(want)
    new[ServiceKey.mark(80)].dests[DestKey("192.0.2.2", 8080)] = Dest(7, "nat")
    new[ServiceKey.udp("203.0.113.10", 53)].dests[DestKey("192.0.2.3", 53)] = Dest(4, "direct")
    first = ServiceKey.tcp("203.0.113.10", 1000)
    new[first] = ServiceEntry(Service("wrr", 30), new[first].dests)
    ops = plan(new, b.dump())
    assert sorted(o.action for o in ops) == ["set-dest", "set-dest", "set-service"], [str(o) for o in ops]
    for op in ops:
        b.apply(op)
    assert b.dump() == new
    assert plan(new, b.dump()) == []
    for op in plan({}, b.dump(), managed=new):
        b.apply(op)
    assert b.dump() == {}
    b.set_timeouts(600, 0, 30)                         # ipvsadm --set 600 0 30
    assert b.get_timeouts() == (600, 120, 30), b.get_timeouts()
    out = subprocess.run(["ipvsadm", "-L", "--timeout"], capture_output=True, text=True).stdout
    assert "Timeout (tcp tcpfin udp): 600 120 30" in out, out
    b.set_timeouts(900, 120, 300)
    print("ok", len(want))
""")


def test_netlink_backend_round_trip() -> None:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT, str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok 13"

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
    counters = b.dump_service_counters()             # each service's own counters, one request
    assert counters == {key: (0, 0, 0, 0, 0) for key in want}, counters
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


SCRIPT6 = textwrap.dedent("""
    import subprocess, sys
    sys.path.insert(0, sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "link", "add", "eth0", "type", "dummy"], check=True)
    subprocess.run(["ip", "link", "set", "eth0", "up"], check=True)
    from piranha_web.pulse.kernel.ipvs import NetlinkIpvs
    from piranha_web.pulse.kernel.addresses import NetlinkAddresses
    from piranha_web.pulse.reconcile import *
    b = NetlinkIpvs()
    web6, mark6, mark4 = ServiceKey.tcp("2001:db8:10::10", 80), ServiceKey.mark(80, True), ServiceKey.mark(80)
    want = {
        web6: ServiceEntry(Service("rr", 0, "128"), {DestKey("2001:db8:1::1", 80): Dest(1, "nat"),
                                           DestKey("2001:db8:1::2", 8080): Dest(2, "nat")}),
        ServiceKey.udp("2001:db8:10::10", 53): ServiceEntry(Service("sh", 60, "64"), {
            DestKey("2001:db8:1::3", 53): Dest(3, "direct")}),
        mark6: ServiceEntry(Service("wlc", 0, "128"), {DestKey("2001:db8:1::1", 80): Dest(5, "nat")}),
        mark4: ServiceEntry(Service("wlc"), {DestKey("192.0.2.1", 80): Dest(5, "nat")}),
    }
    for op in plan(want, b.dump()):
        b.apply(op)
    assert b.dump() == want, (b.dump(), want)
    listing = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True).stdout
    assert "TCP  [2001:db8:10::10]:80 rr" in listing, listing
    assert "-> [2001:db8:1::2]:8080" in listing and "FWM  80 IPv6 wlc" in listing, listing
    assert "persistent 60 mask 64" in listing, listing
    new = copy_table(want)
    new[web6].dests[DestKey("2001:db8:1::2", 8080)] = Dest(0, "nat")
    new[web6] = ServiceEntry(Service("wrr", 30, "48"), new[web6].dests)
    ops = plan(new, b.dump())
    assert sorted(o.action for o in ops) == ["set-dest", "set-service"], [str(o) for o in ops]
    for op in ops:
        b.apply(op)
    assert b.dump() == new and plan(new, b.dump()) == []
    for op in plan({}, b.dump(), managed=new):
        b.apply(op)
    assert b.dump() == {}
    a = NetlinkAddresses()
    vip = make_address("2001:db8:10::10", "eth0:1", "64")
    a.add(vip)
    assert a.present_of({vip}) == {vip}
    shown = subprocess.run(["ip", "-6", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout
    line = next(l for l in shown.splitlines() if "2001:db8:10::10/64" in l)
    assert "nodad" in line and "tentative" not in line, shown
    a.remove(vip)
    assert a.present_of({vip}) == set()
    print("ok", len(want))
""")


def test_netlink_backend_round_trip_ipv6() -> None:
    """AF_INET6 services (address, fwmark beside the IPv4 mark of the same number), persistence
    prefix, destinations; a nodad VIP with its prefix."""
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT6, str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok 4"

"""The rtnetlink address backend: its messages byte for byte, and a round trip in a private namespace.

The namespace test runs ``unshare -n`` (root, as everywhere on these
machines and in CI), so nothing touches the host's own addresses.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

from piranha_web.pulse.kernel.addresses import (
    IFA_ADDRESS, IFA_F_NODAD, IFA_LABEL, IFA_LOCAL, address_request, parse_address, parse_link,
)
from piranha_web.pulse.kernel.netlink import attr, attrs
from piranha_web.pulse.reconcile import Address

ROOT = Path(__file__).resolve().parents[3]


def test_ipv4_add_request_carries_local_address_and_label() -> None:
    msg = address_request(7, Address("203.0.113.10", 24, "eth0", "eth0:1"), add=True)
    assert struct.unpack_from("=BBBBI", msg) == (socket.AF_INET, 24, 0, 0, 7)
    found = dict(attrs(msg[8:]))
    assert found[IFA_LOCAL] == found[IFA_ADDRESS] == bytes([203, 0, 113, 10])
    assert found[IFA_LABEL] == b"eth0:1\0"


def test_a_label_too_long_for_the_kernel_falls_back_to_the_device() -> None:
    msg = address_request(7, Address("203.0.113.10", 24, "eth0", "eth0:123456789012"), add=True)
    assert dict(attrs(msg[8:]))[IFA_LABEL] == b"eth0\0"


def test_ipv6_add_request_has_nodad_and_no_label() -> None:
    msg = address_request(3, Address("2001:db8::10", 64, "eth0", "eth0"), add=True)
    assert struct.unpack_from("=BBBBI", msg) == (socket.AF_INET6, 64, IFA_F_NODAD, 0, 3)
    assert dict(attrs(msg[8:])) == {IFA_ADDRESS: socket.inet_pton(socket.AF_INET6, "2001:db8::10")}


def test_delete_request_names_the_address_only() -> None:
    msg = address_request(7, Address("203.0.113.10", 24, "eth0", "eth0:1"), add=False)
    assert set(dict(attrs(msg[8:]))) == {IFA_LOCAL, IFA_ADDRESS}


def test_replies_decode_to_index_name_and_address() -> None:
    link = struct.pack("=BxHiII", 0, 1, 2, 0, 0) + attr(3, b"eth0\0")
    assert parse_link(link) == (2, "eth0")
    v4 = (struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 2) + attr(IFA_ADDRESS, bytes([198, 51, 100, 9]))
          + attr(IFA_LOCAL, bytes([203, 0, 113, 10])))
    assert parse_address(v4) == (2, "203.0.113.10", 24)          # the local address, not a peer
    v6 = struct.pack("=BBBBI", socket.AF_INET6, 64, 0, 0, 2) + attr(
        IFA_ADDRESS, socket.inet_pton(socket.AF_INET6, "2001:db8::10"))
    assert parse_address(v6) == (2, "2001:db8::10", 64)


SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    from piranha_web.pulse.kernel.addresses import NetlinkAddresses
    from piranha_web.pulse.reconcile import Address
    for cmd in (["link", "set", "lo", "up"], ["link", "add", "eth0", "type", "veth", "peer", "name", "p0"],
                ["link", "set", "eth0", "up"], ["addr", "add", "198.51.100.1/24", "dev", "eth0"]):
        subprocess.run(["ip", *cmd], check=True)
    a = NetlinkAddresses()
    vip = Address("203.0.113.10", 24, "eth0", "eth0:1")
    vip6 = Address("2001:DB8:0::10", 64, "eth0", "eth0")
    other = Address("198.51.100.1", 24, "eth0", "eth0")
    out = {"before": sorted(map(str, a.present_of({vip, vip6, other})))}
    a.add(vip); a.add(vip6); a.add(vip)                       # twice: already there is fine
    out["after_add"] = sorted(map(str, a.present_of({vip, vip6, other})))
    out["shown"] = subprocess.run(["ip", "addr", "show", "eth0"], capture_output=True, text=True).stdout
    a.remove(vip); a.remove(vip6); a.remove(vip)              # twice: already gone is fine
    a.remove(Address("203.0.113.10", 24, "eth9", "eth9"))    # no such device: nothing to remove
    out["after_remove"] = sorted(map(str, a.present_of({vip, vip6, other})))
    try:
        a.add(Address("203.0.113.11", 24, "eth9", "eth9"))
    except LookupError as exc:
        out["missing"] = str(exc)
    a.close()
    print(json.dumps(out))
""")


def test_round_trip_in_a_private_namespace() -> None:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT, str(ROOT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    other = "198.51.100.1/24 dev eth0 label eth0"
    assert out["before"] == [other]
    assert out["after_add"] == sorted([other, "203.0.113.10/24 dev eth0 label eth0:1",
                                       "2001:DB8:0::10/64 dev eth0 label eth0"])
    line = next(ln for ln in out["shown"].splitlines() if "2001:db8::10/64" in ln)
    assert "nodad" in line and "tentative" not in line, out["shown"]
    assert "inet 203.0.113.10/24 scope global eth0:1" in out["shown"], out["shown"]
    assert out["after_remove"] == [other]
    assert out["missing"] == "no such device: eth9"

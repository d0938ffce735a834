"""CPU cost of encoding one IPVS change request: pulse's struct codec vs pyroute2's message classes.

    .venv/bin/python benchmarks/ipvs_codec_bench.py [--ops 3000]

Both sides build the same complete netlink message (header, generic header,
nested service and destination attributes) for the same ops: add-service,
add-dest and set-dest, IPv4 and IPv6.  pyroute2's side uses its own
``pyroute2.netlink.generic.ipvs.ipvsmsg`` class directly (attribute lists by
name, ``encode()``), which is cheaper than its ``IPVSService``/``IPVSDest``
request filters.  Nothing is sent; the kernel's share is the same for both.
Prints microseconds of process CPU time per op, and checks that pulse's own
decoder reads both encodings as the same destination.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST  # noqa: E402
from pyroute2.netlink.generic.ipvs import ipvsmsg  # noqa: E402

from piranha_web.pulse.kernel.netlink import HDR as _HDR  # noqa: E402
from piranha_web.pulse.kernel.ipvs import (  # noqa: E402
    _GENL, ATTR_DEST, COMMANDS, FWD_CODES, PROTO_CODES, attrs, encode_op, family, parse_dest,
)
from piranha_web.pulse.reconcile import (  # noqa: E402
    ADD_DEST, ADD_SERVICE, SET_DEST, Dest, DestKey, Op, Service, ServiceKey,
)

FAMILY_ID = 30     # any generic-netlink id: nothing is sent


def pulse_codec(op: Op, seq: int) -> bytes:
    """The message pulse sends (kernel/ipvs.py)."""
    cmd, payload = encode_op(op)
    body = _GENL.pack(cmd, 1, 0) + payload
    return _HDR.pack(_HDR.size + len(body), FAMILY_ID, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def pyroute2_codec(op: Op, seq: int) -> bytes:
    """The same message through pyroute2's ipvsmsg."""
    assert op.key is not None
    key, af = op.key, family(op.key)
    svc = [("IPVS_SVC_ATTR_AF", af), ("IPVS_SVC_ATTR_PROTOCOL", PROTO_CODES[key.protocol]),
           ("IPVS_SVC_ATTR_ADDR", key.addr), ("IPVS_SVC_ATTR_PORT", key.port)]
    if op.service is not None and op.dest_key is None:
        svc += [("IPVS_SVC_ATTR_SCHED_NAME", op.service.scheduler),
                ("IPVS_SVC_ATTR_FLAGS", {"flags": 0, "mask": 1}),
                ("IPVS_SVC_ATTR_TIMEOUT", op.service.persistent),
                ("IPVS_SVC_ATTR_NETMASK", op.service.netmask if af == socket.AF_INET else "255.255.255.255")]
    msg = ipvsmsg()
    msg["cmd"] = COMMANDS[op.action]
    msg["version"] = 1
    msg["attrs"] = [("IPVS_CMD_ATTR_SERVICE", {"attrs": svc})]
    if op.dest_key is not None:
        dest = op.dest or Dest()
        dest_af = socket.AF_INET6 if ":" in op.dest_key.addr else socket.AF_INET
        msg["attrs"].append(("IPVS_CMD_ATTR_DEST", {"attrs": [
            ("IPVS_DEST_ATTR_ADDR_FAMILY", dest_af), ("IPVS_DEST_ATTR_ADDR", op.dest_key.addr),
            ("IPVS_DEST_ATTR_PORT", op.dest_key.port), ("IPVS_DEST_ATTR_FWD_METHOD", FWD_CODES[dest.fwd]),
            ("IPVS_DEST_ATTR_WEIGHT", dest.weight), ("IPVS_DEST_ATTR_U_THRESH", 0),
            ("IPVS_DEST_ATTR_L_THRESH", 0)]}))
    msg["header"]["type"] = FAMILY_ID
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


def workloads(n: int) -> dict[str, list[Op]]:
    """n ops of each kind, IPv4 and IPv6 (documentation addresses only)."""
    v4, v6 = ServiceKey.tcp("203.0.113.10", 80), ServiceKey.tcp("2001:db8:10::10", 80)
    return {
        "add-service v4": [Op(ADD_SERVICE, ServiceKey.tcp("203.0.113.10", 1 + i), Service("wlc"))
                           for i in range(n)],
        "add-dest v4": [Op(ADD_DEST, v4, dest_key=DestKey(f"192.0.2.{i % 250 + 1}", 1024 + i),
                           dest=Dest(1, "nat")) for i in range(n)],
        "set-dest v4": [Op(SET_DEST, v4, dest_key=DestKey(f"198.51.100.{i % 250 + 1}", 80), dest=Dest(i % 9))
                        for i in range(n)],
        "add-dest v6": [Op(ADD_DEST, v6, dest_key=DestKey(f"2001:db8:1::{i:x}", 80), dest=Dest(1, "nat"))
                        for i in range(1, n + 1)],
    }


def per_op(codec: Callable[[Op, int], bytes], ops: list[Op]) -> float:
    """Microseconds of CPU per op (best of three runs)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for seq, op in enumerate(ops):
            codec(op, seq)
        best = min(best, time.process_time() - t0)
    return best / len(ops) * 1e6


def same_dest(op: Op) -> bool:
    """pulse's decoder reads both encodings of a destination op as the same destination."""
    found = [dict(attrs(codec(op, 1)[_HDR.size + _GENL.size:]))[ATTR_DEST]
             for codec in (pulse_codec, pyroute2_codec)]
    assert op.key is not None
    return parse_dest(found[0], family(op.key)) == parse_dest(found[1], family(op.key))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=3000)
    args = parser.parse_args()
    print(f"{'op':<16} {'struct codec':>14} {'pyroute2 ipvsmsg':>18} {'ratio':>7}   (us CPU per op)")
    for name, ops in workloads(args.ops).items():
        mine, theirs = per_op(pulse_codec, ops), per_op(pyroute2_codec, ops)
        agree = same_dest(ops[0]) if ops[0].dest_key is not None else True
        print(f"{name:<16} {mine:>14.1f} {theirs:>18.1f} {theirs / mine:>6.1f}x"
              + ("" if agree else "   DECODES DIFFERENTLY"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the lvs.cf model on a large file: 1,000 virtual servers x 10 real servers.

Times parse, validate and dump (best of 5 each) and the tracemalloc peak of a
parse, and compares against two references measured in the same run:

* a naive tokenizer (``re.split`` per line) over the same text: the floor a
  regex-based reader would start from before doing any real work;
* ``json.loads``/``json.dumps`` of the same data: C-speed serialisation, as a ratio.

Run:  .venv/bin/python benchmarks/lvscf_bench.py [--virtuals N] [--servers M]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from piranha_web.lvscf import LvsConfig, RealServer, VirtualServer, dumps, parse, validate  # noqa: E402


def build_config(virtuals: int, servers: int) -> LvsConfig:
    """A valid NAT config with ``virtuals`` x ``servers`` (distinct VIP:port services)."""
    cfg = LvsConfig(serial_no=1, primary="192.0.2.1", nat_router="192.0.2.254",
                    nat_router_device="eth1:1", nat_nmask="255.255.255.0",
                    keepalive=6, deadtime=18, heartbeat=True)
    for i in range(virtuals):
        vs = VirtualServer(
            # TEST-NET only: VIPs repeat every 250 servers, their ports tell them apart
            name=f"vs{i}", active=True, address=f"203.0.113.{i % 250 + 1}",
            device="eth0:1", vip_nmask="255.255.255.0", port=80 + i // 250, scheduler="wlc",
            send="GET / HTTP/1.0\\r\\n\\r\\n", expect="HTTP", load_monitor="none",
            timeout=6, reentry=15)
        for j in range(servers):
            vs.servers.append(RealServer(name=f"rs{j}", address=f"198.51.100.{j + 1}",
                                         active=True, weight=1 + j))
        cfg.virtuals.append(vs)
    return cfg


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


_SPLIT = re.compile(r"[ \t]+")


def naive_tokenize(text: str) -> int:
    """Reference: what a regex tokenizer costs before any semantics."""
    count = 0
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            count += len(_SPLIT.split(line))
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--virtuals", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=10)
    args = ap.parse_args(argv)

    cfg = build_config(args.virtuals, args.servers)
    text = dumps(cfg)
    parsed = parse(text)
    assert parsed == cfg
    validate(parsed)
    as_json = json.dumps(dataclasses.asdict(cfg))

    rows = [
        ("parse", best_of(lambda: parse(text))),
        ("validate", best_of(lambda: validate(parsed))),
        ("dump", best_of(lambda: dumps(parsed))),
    ]
    total = sum(t for _, t in rows)
    refs = [
        ("naive re.split tokenize", best_of(lambda: naive_tokenize(text))),
        ("json.loads (same data)", best_of(lambda: json.loads(as_json))),
        ("json.dumps (same data)", best_of(lambda: json.dumps(dataclasses.asdict(cfg)))),
    ]
    tracemalloc.start()
    parse(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    lines = text.count("\n")
    print(f"lvs.cf: {args.virtuals} virtual x {args.servers} real servers, "
          f"{lines} lines, {len(text) / 1e6:.2f} MB")
    print(f"{'operation':28} {'best of 5':>10} {'per line':>10}")
    for name, t in rows + [("parse+validate+dump", total)] + refs:
        print(f"{name:28} {t * 1000:8.1f}ms {t / lines * 1e6:8.2f}us")
    print(f"tracemalloc peak during parse: {peak / 1e6:.1f} MB")
    print(f"parse / naive-tokenize ratio: {rows[0][1] / refs[0][1]:.2f}x; "
          f"parse / json.loads ratio: {rows[0][1] / refs[1][1]:.1f}x")
    budget = 0.5
    print(f"budget parse+validate+dump < {budget}s: {'OK' if total < budget else 'OVER'}")
    return 0 if total < budget else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The sampled IPVS counters as Prometheus families, labelled by lvs.cf names.

Read from the status document's ``runtime.traffic`` (virtual -> real ->
counters), so pulse's metrics port and the console's ``/metrics`` export
the very same numbers from the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# (traffic key, metric name without _total, help)
COUNTERS = (
    ("conns", "piranha_ipvs_connections", "Connections the kernel scheduled to the real server"),
    ("bytes", "piranha_ipvs_bytes", "Bytes in and out through the real server"),
    ("packets", "piranha_ipvs_packets", "Packets in and out through the real server"),
)
LABELS = ["virtual", "real"]


def traffic_families(status: Mapping[str, Any] | None) -> Iterable[Any]:
    """piranha_ipvs_{connections,bytes,packets}_total and the active connections / rates gauges."""
    traffic = ((status or {}).get("runtime") or {}).get("traffic") or {}
    rows = [(str(vs), str(rs), data) for vs, servers in sorted(traffic.items()) if isinstance(servers, dict)
            for rs, data in sorted(servers.items()) if isinstance(data, dict)]
    for key, name, doc in COUNTERS:
        family = CounterMetricFamily(name, doc, labels=LABELS)
        for vs, rs, data in rows:
            family.add_metric([vs, rs], float(data.get(key) or 0))
        yield family
    for key, name, doc in (("active", "piranha_ipvs_active_connections", "Active connections now"),
                           ("cps", "piranha_ipvs_connections_per_second", "New connections per second"),
                           ("bps", "piranha_ipvs_bytes_per_second", "Bytes per second, in and out")):
        gauge = GaugeMetricFamily(name, doc, labels=LABELS)
        for vs, rs, data in rows:
            gauge.add_metric([vs, rs], float(data.get(key) or 0))
        yield gauge

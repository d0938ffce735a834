"""The sampled counters as Prometheus text, from a status document's runtime part."""

from __future__ import annotations

from piranha_web.pulse.metrics import render


def test_counters_by_virtual_and_real() -> None:
    doc = {"runtime": {"traffic": {"www": {"real": {"conns": 12, "bytes": 3400, "packets": 56, "active": 2,
                                                    "cps": 1.5, "bps": 300.0, "weight": 0}}}}}
    text = render(doc).decode()  # type: ignore[arg-type]
    assert 'piranha_ipvs_connections_total{real="real",virtual="www"} 12.0' in text
    assert 'piranha_ipvs_bytes_total{real="real",virtual="www"} 3400.0' in text
    assert 'piranha_ipvs_packets_total{real="real",virtual="www"} 56.0' in text
    assert 'piranha_ipvs_active_connections{real="real",virtual="www"} 2.0' in text
    assert 'piranha_ipvs_connections_per_second{real="real",virtual="www"} 1.5' in text
    assert "piranha_ipvs_connections_total" in render(None).decode()   # no pulse: empty families

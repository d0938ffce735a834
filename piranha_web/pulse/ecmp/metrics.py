"""Prometheus families for an ECMP director: BGP sessions, announcements, drain, BIRD (from the status)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .announce import DrainState

SESSION_LABELS = ["session", "neighbor"]


def _f(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def cluster_families(cluster: dict[str, Any] | None) -> Iterable[Any]:
    """Nothing unless the status has a ``cluster`` part (cluster = ecmp)."""
    if not cluster:
        return
    up = GaugeMetricFamily("piranha_pulse_bgp_session_established", "1 while the BGP session is Established",
                           labels=SESSION_LABELS)
    state = GaugeMetricFamily("piranha_pulse_bgp_session_state", "1 for the BGP session's current state",
                              labels=SESSION_LABELS + ["state"])
    uptime = GaugeMetricFamily("piranha_pulse_bgp_session_uptime_seconds", "Seconds Established",
                               labels=SESSION_LABELS)
    exported = GaugeMetricFamily("piranha_pulse_bgp_prefixes_announced", "Prefixes announced to the peer",
                                 labels=SESSION_LABELS)
    for s in cluster.get("sessions") or []:
        labels = [str(s.get("name")), str(s.get("neighbor"))]
        up.add_metric(labels, 1.0 if s.get("state") == "Established" else 0.0)
        state.add_metric(labels + [str(s.get("state"))], 1.0)
        uptime.add_metric(labels, _f(s.get("uptime")))
        exported.add_metric(labels, _f(s.get("exported")))
    yield from (up, state, uptime, exported)
    drain = GaugeMetricFamily("piranha_pulse_drain_state", "1 for this director's drain state",
                              labels=["state"])
    current = (cluster.get("drain") or {}).get("state")
    for name in DrainState:
        drain.add_metric([name.value], 1.0 if name.value == current else 0.0)
    yield drain
    yield GaugeMetricFamily("piranha_pulse_announced_vips", "VIPs this director announces",
                            value=float(len(cluster.get("announced") or [])))
    bird = cluster.get("bird") or {}
    yield GaugeMetricFamily("piranha_pulse_bird_up", "1 while pulse's BIRD runs",
                            value=1.0 if bird.get("running") else 0.0)
    yield CounterMetricFamily("piranha_pulse_bird_restarts", "BIRD restarts after it died",
                              value=_f(bird.get("restarts")))

"""Prometheus metrics for pulse, rendered from its status document.

pulse already gathers everything worth exporting into the status dict it
writes for the console (``statusdoc.status_parts``); rendering from that
dict keeps the exporter free of daemon internals and testable with plain
data.  :func:`serve` exposes it on its own port (off by default, 127.0.0.1
when on) — ``pulse --metrics-port N``, or ``serve_status_file`` for a
separate process reading the status file.

Optional sections are exported when present: ``reloads`` (``total``,
``failed``, ``last_duration``) and per-server ``checks`` counts by result.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .ecmp.metrics import cluster_families
from .ha.role import Role
from .health.state import DURATION_BUCKETS
from .runtime.exposition import traffic_families
from .statusfile import ServiceDoc, StatusDoc, read_status

HEALTH_STATES = ("up", "down", "rising", "falling", "unknown")
ROLES = tuple(r.value for r in Role)
# (status key, metric suffix, help, counter?) for per-destination IPVS counters.
DEST_STATS = (
    ("active_conns", "active_connections", "Active connections (IPVS)", False),
    ("inactive_conns", "inactive_connections", "Inactive connections (IPVS)", False),
    ("conns", "connections_total", "Connections scheduled (IPVS)", True),
    ("inpkts", "in_packets_total", "Packets in (IPVS)", True),
    ("outpkts", "out_packets_total", "Packets out (IPVS)", True),
    ("inbytes", "in_bytes_total", "Bytes in (IPVS)", True),
    ("outbytes", "out_bytes_total", "Bytes out (IPVS)", True),
)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _family(name: str, doc: str, labels: list[str], counter: bool) -> Any:
    if counter:
        return CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
    return GaugeMetricFamily(name, doc, labels=labels)


def _service_label(svc: ServiceDoc) -> str:
    return str(svc.get("service") or f"{svc.get('protocol')}:{svc.get('addr')}:{svc.get('port')}")


def ipvs_families(status: StatusDoc) -> Iterable[Any]:
    """Per virtual service and per real server counters from the IPVS table."""
    table = [s for s in status.get("table") or [] if isinstance(s, dict)]
    labels = ["service", "server"]
    for key, suffix, doc, counter in DEST_STATS:
        per_dest = _family(f"piranha_pulse_ipvs_real_{suffix}", f"{doc} per real server", labels, counter)
        per_service = _family(f"piranha_pulse_ipvs_virtual_{suffix}", f"{doc} per virtual service",
                              ["service"], counter)
        for svc in table:
            name = _service_label(svc)
            total = 0.0
            for dest in svc.get("dests") or []:
                value = _num(dest.get(key))
                total += value
                per_dest.add_metric([name, f"{dest.get('addr')}:{dest.get('port')}"], value)
            per_service.add_metric([name], total)
        yield per_dest
        yield per_service
    weight = GaugeMetricFamily("piranha_pulse_ipvs_real_weight", "Current IPVS weight", labels=labels)
    for svc in table:
        for dest in svc.get("dests") or []:
            weight.add_metric([_service_label(svc), f"{dest.get('addr')}:{dest.get('port')}"],
                              _num(dest.get("weight")))
    yield weight


def health_families(status: StatusDoc) -> Iterable[Any]:
    """Health state (one-hot), last check duration and check counts per real server."""
    labels = ["virtual", "server", "address"]
    state = GaugeMetricFamily("piranha_pulse_health_state", "1 for the real server's current health state",
                              labels=labels + ["state"])
    up = GaugeMetricFamily("piranha_pulse_health_up", "1 when the real server passes its checks",
                           labels=labels)
    duration = GaugeMetricFamily("piranha_pulse_health_check_duration_seconds",
                                 "Duration of the last health check", labels=labels)
    last = GaugeMetricFamily("piranha_pulse_health_last_check_timestamp_seconds",
                             "When the last health check finished", labels=labels)
    checks = CounterMetricFamily("piranha_pulse_health_checks", "Health checks by result",
                                 labels=labels + ["result"])
    health = status.get("health") or {}
    for vname, servers in sorted(health.items() if isinstance(health, dict) else []):
        for sname, info in sorted((servers or {}).items()):
            if not isinstance(info, dict):
                continue
            values = [str(vname), str(sname), f"{info.get('address')}:{info.get('port')}"]
            current = str(info.get("state") or "unknown").lower()
            for s in sorted(set(HEALTH_STATES) | {current}):
                state.add_metric(values + [s], 1.0 if s == current else 0.0)
            up.add_metric(values, 1.0 if current == "up" else 0.0)
            duration.add_metric(values, _num(info.get("duration")))
            if info.get("last_check") is not None:
                last.add_metric(values, _num(info.get("last_check")))
            for result, count in sorted((info.get("checks") or {}).items()):
                checks.add_metric(values + [str(result)], _num(count))
    yield from (state, up, duration, last, checks)
    yield from real_server_families(health if isinstance(health, dict) else {})


def real_server_families(health: dict[str, Any]) -> Iterable[Any]:
    """piranha_real_server_up/_weight, the check-duration histogram and failures per real server."""
    labels = ["virtual", "server", "address"]
    up = GaugeMetricFamily("piranha_real_server_up", "1 when the real server is in service (UP)",
                           labels=labels)
    weight = GaugeMetricFamily("piranha_real_server_weight", "Current kernel weight of the real server",
                               labels=labels)
    hist = HistogramMetricFamily("piranha_check_duration_seconds", "Health check durations",
                                 labels=labels)
    failures = CounterMetricFamily("piranha_check_failures", "Failed health checks", labels=labels)
    bounds = [str(b) for b in DURATION_BUCKETS] + ["+Inf"]
    for vname, servers in sorted(health.items()):
        for sname, info in sorted((servers or {}).items()):
            if not isinstance(info, dict):
                continue
            values = [str(vname), str(sname), f"{info.get('address')}:{info.get('port')}"]
            display = str(info.get("display") or info.get("state") or "").upper()
            up.add_metric(values, 0.0 if display in ("DOWN", "UNKNOWN", "") else 1.0)
            weight.add_metric(values, _num(info.get("weight")))
            counts = info.get("duration_buckets")
            if isinstance(counts, list) and len(counts) == len(bounds):
                cumulative, running = [], 0.0
                for bound, count in zip(bounds, counts):
                    running += _num(count)
                    cumulative.append((bound, running))
                hist.add_metric(values, cumulative, _num(info.get("duration_sum")))
            failures.add_metric(values, _num((info.get("checks") or {}).get("fail")))
    yield from (up, weight, hist, failures)


def daemon_families(status: StatusDoc) -> Iterable[Any]:
    """Role, running revision, reloads, reconcile operations."""
    role = str(status.get("role") or "unknown").lower()
    roles = GaugeMetricFamily("piranha_pulse_role", "1 for pulse's current role", labels=["role"])
    for r in sorted(set(ROLES) | {role}):
        roles.add_metric([r], 1.0 if r == role else 0.0)
    yield roles
    yield GaugeMetricFamily("piranha_pulse_running_serial_no", "serial_no of the lvs.cf pulse runs",
                            value=_num(status.get("serial_no")))
    yield GaugeMetricFamily("piranha_pulse_up", "1 while pulse is running",
                            value=1.0 if status.get("state") == "running" else 0.0)
    if status.get("started") is not None:
        yield GaugeMetricFamily("piranha_pulse_start_time_seconds", "When pulse started",
                                value=_num(status.get("started")))
    last = status.get("last_reload") or {}
    yield GaugeMetricFamily("piranha_pulse_last_reload_success", "1 when the last reload was accepted",
                            value=1.0 if last.get("ok", True) else 0.0)
    if last.get("time") is not None:
        yield GaugeMetricFamily("piranha_pulse_last_reload_timestamp_seconds",
                                "When lvs.cf was last (re)loaded", value=_num(last.get("time")))
    reloads = status.get("reloads") or {}
    if reloads:
        yield CounterMetricFamily("piranha_pulse_reloads", "lvs.cf reloads", value=_num(reloads.get("total")))
        yield CounterMetricFamily("piranha_pulse_reload_failures", "lvs.cf reloads refused",
                                  value=_num(reloads.get("failed")))
        yield GaugeMetricFamily("piranha_pulse_reload_duration_seconds", "Duration of the last reload",
                                value=_num(reloads.get("last_duration")))
    yield CounterMetricFamily("piranha_pulse_reconcile_operations", "IPVS/address/mark operations applied",
                              value=_num(status.get("ops_applied")))


def redundancy_families(status: StatusDoc) -> Iterable[Any]:
    """Heartbeat packets by kind and seconds since the partner was last heard."""
    red = status.get("redundancy") or {}
    beats = CounterMetricFamily("piranha_pulse_heartbeat_packets", "Heartbeat packets by kind",
                                labels=["kind"])
    for kind, count in sorted((red.get("heartbeat") or {}).items()):
        beats.add_metric([str(kind)], _num(count))
    yield beats
    peer = red.get("peer") or {}
    if peer.get("last_heard") is not None:
        now = _num(status.get("updated")) or time.time()
        yield GaugeMetricFamily("piranha_pulse_heartbeat_silence_seconds",
                                "Seconds since the partner's last heartbeat (heartbeat loss)",
                                value=max(0.0, now - _num(peer.get("last_heard"))))
    if red:
        deadtime = _num(red.get("deadtime"))
        yield GaugeMetricFamily("piranha_pulse_heartbeat_deadtime_seconds", "deadtime from lvs.cf",
                                value=deadtime)


class StatusCollector:
    """A prometheus_client collector over a ``get_status()`` callable."""

    def __init__(self, get_status: Callable[[], StatusDoc | None]) -> None:
        self.get_status = get_status

    def collect(self) -> Iterable[Any]:
        status = self.get_status() or cast(StatusDoc, {})
        yield from daemon_families(status)
        yield from ipvs_families(status)
        yield from health_families(status)
        yield from redundancy_families(status)
        yield from cluster_families(status.get("cluster"))
        yield from traffic_families(status)


def render(status: StatusDoc | None) -> bytes:
    """The Prometheus text exposition of one status document."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(lambda: status))
    return generate_latest(registry)


def serve(port: int, get_status: Callable[[], StatusDoc | None],
          host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the server (``shutdown()``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render(get_status())
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # scrapes are not worth a log line
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="pulse-metrics", daemon=True).start()
    return server


def serve_status_file(port: int, path: str | Path, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Export a running pulse's status file (for a pulse started without --metrics-port)."""
    return serve(port, lambda: read_status(path), host)

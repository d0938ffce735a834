"""Console ``/metrics`` (Prometheus text format).

Who may scrape: anyone with an API bearer token (``Authorization: Bearer
pwt_...``; a read-only user's token is enough; Prometheus sends it with
``authorization: {credentials_file: ...}``).  Deny by default like every
other route; ``PIRANHA_METRICS_LOOPBACK=1`` additionally lets requests from
the loopback addresses scrape without a token (an agent on the director) —
behind a local reverse proxy only together with ``PIRANHA_BEHIND_PROXY=1``,
so the client address is the real one.

What: publish counts (from the revisions table, so every gunicorn worker
reports the same number), publish durations (per worker process, from the
service layer's ``changes.run``), revisions and audit entries, the serial
pulse runs against the serial last published, and pulse's own status.
"""

from __future__ import annotations

import ipaddress
import time
from datetime import timezone
from functools import wraps
from typing import Any, Iterable

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from .config import flag
from .pulse.runtime.exposition import traffic_families
from .extensions import db

bp = Blueprint("metrics", __name__)

# One registry per process for the histogram; the DB-backed numbers are collected per scrape.
PROCESS_REGISTRY = CollectorRegistry(auto_describe=False)
PUBLISH_SECONDS = Histogram("piranha_console_change_duration_seconds",
                            "Time to validate, write and publish one accepted change (this worker)",
                            ["outcome"], registry=PROCESS_REGISTRY,
                            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def instrument_changes() -> None:
    """Time every ``services.changes.run`` (panels and API alike), once per process."""
    from .services import changes

    if getattr(changes.run, "_piranha_timed", False):
        return
    original = changes.run

    @wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        outcome_label = "error"
        try:
            outcome = original(*args, **kwargs)
            outcome_label = ("published" if outcome.published else
                             "saved" if outcome.changed else "unchanged")
            return outcome
        except Exception as exc:  # refusals (validation, conflict) are outcomes too
            outcome_label = type(exc).__name__.lower()
            raise
        finally:
            PUBLISH_SECONDS.labels(outcome_label).observe(time.perf_counter() - start)

    timed._piranha_timed = True  # type: ignore[attr-defined]
    changes.run = timed  # type: ignore[assignment]


class ConsoleCollector:
    """Numbers read from the database and pulse's status file at scrape time."""

    def collect(self) -> Iterable[Any]:
        from .models import ApiToken
        from .models import AuditEntry, Revision
        from .services import pulse_status

        revisions = db.session.scalar(select(func.count(Revision.id))) or 0
        last = db.session.execute(select(Revision.serial_no, Revision.created_at)
                                  .order_by(Revision.id.desc()).limit(1)).first()
        yield CounterMetricFamily("piranha_console_publishes", "lvs.cf publishes (revisions written)",
                                  value=revisions)
        if last is not None:
            yield GaugeMetricFamily("piranha_console_published_serial_no", "serial_no of the last publish",
                                    value=last.serial_no)
            ts = last.created_at if last.created_at.tzinfo else last.created_at.replace(tzinfo=timezone.utc)
            yield GaugeMetricFamily("piranha_console_last_publish_timestamp_seconds",
                                    "When lvs.cf was last written", value=ts.timestamp())
        yield CounterMetricFamily("piranha_console_audit_entries", "Audit log entries",
                                  value=db.session.scalar(select(func.count(AuditEntry.id))) or 0)
        yield GaugeMetricFamily("piranha_console_api_tokens", "Live API tokens",
                                value=db.session.scalar(select(func.count(ApiToken.id))
                                                        .where(ApiToken.revoked_at.is_(None))) or 0)
        cfg = current_app.config
        summary = pulse_status.summary(cfg["PULSE_PID_FILE"], cfg["PULSE_STATUS_FILE"])
        yield GaugeMetricFamily("piranha_console_pulse_running",
                                "1 when pulse's pid file names a live process",
                                value=1.0 if summary["running"] else 0.0)
        if isinstance(summary.get("serial_no"), int):
            yield GaugeMetricFamily("piranha_console_pulse_serial_no", "serial_no pulse reports running",
                                    value=summary["serial_no"])
        yield from traffic_families(summary["status"])


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def _loopback_allowed() -> bool:
    return flag(current_app.config.get("METRICS_ALLOW_LOOPBACK"))


@bp.before_request
def _allowed() -> Any:
    """A live API token, or (when allowed) a loopback client."""
    if _loopback_allowed() and _loopback(request.remote_addr):
        return None
    from .api.auth import bearer_token
    from .services.tokens import verify

    secret = bearer_token()
    if secret and verify(secret) is not None:
        return None
    return Response("metrics: send an API bearer token\n", status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="piranha-web"'}, mimetype="text/plain")


@bp.get("/metrics")
def metrics() -> Response:
    """The exposition: this process's histogram plus the scrape-time numbers."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    body = generate_latest(registry) + generate_latest(PROCESS_REGISTRY)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Any) -> None:
    """Register /metrics and start timing changes."""
    instrument_changes()
    app.register_blueprint(bp)

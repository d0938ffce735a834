"""Runtime states of real servers (drain, maint, ready, weight overrides): the one service behind
the CONTROL/MONITORING buttons, the REST API and ``piranha-config runtime``.

pulse keeps the states (it persists them in its runtime directory); the
console only asks it, over pulse's Unix socket, never by writing lvs.cf.
Requests are validated here with the same pure rules pulse applies
(``pulse.runtime.states``), so a bad request is refused with the field it
names before pulse is asked.  Every accepted change is an audit entry
(who, what, when) with the state before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from ..extensions import db
from ..pulse.runtime.channel import ChannelError, request
from ..pulse.runtime.states import READY, STATES, InvalidChange, check_name, parse_weight
from . import audit

ACTION = "runtime"
OBJECT_TYPE = "real server"


class Refused(Exception):
    """A refused runtime request: ``status`` is the HTTP status it maps to, ``field`` what was wrong."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Change:
    """A validated request: the keys pulse's ``set`` takes."""

    state: str | None = None
    now: bool = False
    weight: int | str | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.state is not None:
            out["state"] = self.state
            if self.now:
                out["now"] = True
        if self.weight is not None:
            out["weight"] = self.weight
        return out

    def describe(self) -> str:
        parts = [f"{self.state}{' now' if self.now else ''}"] if self.state else []
        if self.weight is not None:
            parts.append(f"weight={self.weight}")
        return " ".join(parts)


def parse_change(data: Any) -> Change:
    """A JSON body ``{"state": "drain"|"maint"|"ready", "now": bool, "weight": N|"N%"}`` -> Change."""
    if not isinstance(data, dict):
        raise InvalidChange("", "expected a JSON object")
    unknown = sorted(set(data) - {"state", "now", "weight"})
    if unknown:
        raise InvalidChange(unknown[0], "unknown key (use state, now, weight)")
    state = data.get("state")
    if state is not None and state not in STATES:
        raise InvalidChange("state", f"expected one of {', '.join(STATES)}")
    now = data.get("now", False)
    if not isinstance(now, bool):
        raise InvalidChange("now", "expected true or false")
    if now and state != "maint":
        raise InvalidChange("now", "only maint takes now")
    weight = data.get("weight")
    if weight is not None:
        number, percent = parse_weight(weight)
        weight = f"{percent}%" if percent is not None else number
    if state is None and weight is None:
        raise InvalidChange("state", "give a state (drain, maint, ready) or a weight")
    return Change(state, now, weight)


def parse_word(word: str) -> Change:
    """The command line's ``drain``, ``maint``, ``maint-now``, ``ready``, ``weight=N`` or ``weight=N%``."""
    if word.startswith("weight="):
        return parse_change({"weight": word.removeprefix("weight=")})
    if word in ("maint-now", "maint=now"):
        return parse_change({"state": "maint", "now": True})
    return parse_change({"state": word})


def _socket() -> str:
    return str(current_app.config["PULSE_RUNTIME_SOCKET"])


def ask(payload: dict[str, Any]) -> dict[str, Any]:
    """pulse's answer, or Refused with the status it maps to."""
    try:
        reply = request(_socket(), payload)
    except ChannelError as exc:
        raise Refused(409, str(exc)) from None
    if not reply.get("ok"):
        status = reply.get("status")
        code = status if isinstance(status, int) and 400 <= status < 500 else 409
        raise Refused(code, str(reply.get("error") or "pulse refused the request"), reply.get("field"))
    return reply


def names(virtual: Any, real: Any) -> tuple[str, str]:
    """Both names checked (422 naming the bad one)."""
    try:
        return check_name("virtual", virtual), check_name("real", real)
    except InvalidChange as exc:
        raise Refused(422, exc.message, exc.field) from None


def set_state(virtual: str, real: str, change: Change, actor: str, client_addr: str | None = None
              ) -> dict[str, Any]:
    """Ask pulse to apply ``change``; audit it; return the server's new runtime entry."""
    virtual, real = names(virtual, real)
    reply = ask({"op": "set", "virtual": virtual, "real": real, "change": change.payload(), "by": actor})
    server = dict(reply.get("server") or {})
    before = reply.get("before") or {}
    audit.record(actor, ACTION, OBJECT_TYPE, f"{virtual}/{real}", client_addr=client_addr,
                 session=db.session, detail={"request": change.describe(),
                                             "state": [before.get("display", READY.upper()),
                                                       server.get("display")]})
    db.session.commit()
    return server


def listing() -> list[dict[str, Any]]:
    """Every real server of pulse's running configuration with its runtime state."""
    servers = ask({"op": "get"}).get("servers")
    return [s for s in servers if isinstance(s, dict)] if isinstance(servers, list) else []


def get_state(virtual: str, real: str) -> dict[str, Any]:
    """One real server's runtime state (404 when pulse does not run it)."""
    virtual, real = names(virtual, real)
    for server in listing():
        if server.get("virtual") == virtual and server.get("real") == real:
            return server
    raise Refused(404, f"pulse runs no real server {real!r} in virtual server {virtual!r}")


def series(hour: bool = False) -> list[dict[str, Any]] | None:
    """Traffic rates of the (first 20) virtual servers and their real servers; None when pulse cannot say."""
    try:
        reply = ask({"op": "series", "range": "hour" if hour else "recent"})
    except Refused:
        return None
    virtuals = reply.get("virtuals")
    return [v for v in virtuals if isinstance(v, dict)] if isinstance(virtuals, list) else None

"""One accepted change = one locked transaction: mutate -> validate whole config -> publish -> audit.

The blueprint hands a ``mutate`` callable that applies the user's edit to the
session and describes it (:class:`Change`).  Here the resulting configuration
is validated as a whole by ``lvscf``; problems about the edited object come
back as field errors, a change that breaks something elsewhere is refused,
and only a valid configuration is ever written.  While a configuration is
still incomplete (say a fresh install without a primary address) an edit
that adds no new problem is saved but not published, and the user is told
what still keeps it from being written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .. import lvscf
from ..extensions import db
from . import cluster, lvsconfig, pulse_status
from .lvsconfig import Built, ObjectRef


class NotFound(LookupError):
    """The row the user acted on no longer exists."""


class Conflict(Exception):
    """The row changed since the form was loaded; ``current`` holds its values now."""

    def __init__(self, current: dict[str, Any] | None, message: str | None = None) -> None:
        self.current = current
        super().__init__(message or "Someone else changed this entry since you opened it. "
                                    "Its current values are shown; review them and ACCEPT again.")


class Rejected(Exception):
    """Validation failed: ``fields`` maps lvs.cf key -> messages; ``general`` the rest."""

    def __init__(self, fields: dict[str, list[str]] | None = None, general: list[str] | None = None) -> None:
        self.fields = fields or {}
        self.general = general or []
        first = next(iter(self.fields.items()), None)
        summary = f"{first[0]}: {first[1][0]}" if first else (self.general[0] if self.general else "invalid")
        super().__init__(summary)


@dataclass
class Change:
    """What a mutation did, for validation targeting, the audit log and the flash."""

    action: str
    object_type: str
    object_name: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    target: ObjectRef | None = None
    comment: str = ""

    @property
    def is_noop(self) -> bool:
        """True when nothing changed (ACCEPT without edits publishes nothing)."""
        return self.before == self.after and self.action in ("update", "edit")


@dataclass
class Outcome:
    """What happened, and how to tell the user."""

    changed: bool
    published: bool = False
    revision: int | None = None
    serial_no: int | None = None
    pending: list[str] = field(default_factory=list)
    pulse: pulse_status.ReloadOutcome | None = None
    target: ObjectRef | None = None
    write_error: str | None = None      # stored as ``revision`` but lvs.cf could not be written

    def flash(self) -> tuple[str, str]:
        """(category, message) for ``flask.flash``."""
        if not self.changed:
            return "info", "No changes."
        if self.write_error:
            return "error", (f"saved as revision {self.revision}, but lvs.cf was not written: "
                             f"{self.write_error}")
        if not self.published:
            return "warning", ("Saved, but lvs.cf was not written: the configuration is not complete yet: "
                               + "; ".join(self.pending))
        state = self.pulse.state if self.pulse else "not-running"
        directors = cluster.describe(self.pulse.directors if self.pulse else None)
        if directors:
            everywhere = all(d["result"] == "applied" for d in self.pulse.directors or [])
            return ("success" if everywhere else "warning"), f"revision {self.revision}: {directors}"
        if state == "applied":
            return "success", f"applied, revision {self.revision}"
        if state == "failed":
            return "error", f"written, revision {self.revision}; pulse rejected it: {self.pulse.error}"
        if state == "pending":
            return "warning", f"written, revision {self.revision}; pulse has not reloaded it yet"
        return "warning", f"written, revision {self.revision}; pulse not running"


Mutation = Callable[[], Change]


def run(mutate: Mutation, actor: str, client_addr: str | None) -> Outcome:
    """Apply ``mutate`` under the publish lock and publish the result (or refuse it)."""
    session = db.session
    with lvsconfig.publish_lock():
        session.rollback()  # fresh snapshot: another worker may have committed while we waited
        change = _mutate(mutate)
        if change.is_noop:
            session.rollback()
            return Outcome(changed=False, target=change.target)
        with lvsconfig.gc_paused():
            built = lvsconfig.build(serial_no=lvsconfig.next_serial())
            problems, text = lvsconfig.check(built.cfg)
        if problems:
            return _save_draft(mutate, change, built, problems, actor, client_addr)
        rev = lvsconfig.record_revision(built, actor, change.comment or _comment(change), text)
        lvsconfig._audit(actor, change.action, change.object_type, change.object_name,
                         change.before, change.after, rev.id, client_addr)
        _commit()
        # Commit first, then write (still under the lock): a crash in between leaves lvs.cf at
        # the previous stored revision, never at a text the database does not know.
        try:
            lvsconfig.write_atomic(lvsconfig.lvs_cf_path(), rev.text)
        except OSError as err:  # nothing is lost: the revision holds it, the banner offers a rewrite
            current_app.logger.error("cannot write %s: %s", lvsconfig.lvs_cf_path(), err)
            return Outcome(changed=True, published=False, revision=rev.id, serial_no=rev.serial_no,
                           target=change.target, write_error=f"{lvsconfig.lvs_cf_path()}: {err}")
        outcome = Outcome(changed=True, published=True, revision=rev.id, serial_no=rev.serial_no,
                          target=change.target)
    outcome.pulse = notify_pulse(rev.serial_no)
    _record_pulse_result(rev.id, outcome)
    return outcome


def dry_run(mutate: Mutation) -> tuple[lvscf.LvsConfig, str | None, list[str]]:
    """What ``mutate`` would publish (config, lvs.cf text, problems in words); the session is rolled
    back whatever happens, so nothing is stored (PREVIEW)."""
    session = db.session
    session.rollback()
    try:
        change = _mutate(mutate)
        built = lvsconfig.build(serial_no=lvsconfig.next_serial())
        problems, text = lvsconfig.check(built.cfg)
        mine, others = split_problems(built, problems, change.target)
        if mine:    # what ACCEPT would refuse with field errors
            raise Rejected(mine, [describe(built, p) for p in others])
        return built.cfg, text, [describe(built, p) for p in others]
    finally:
        session.rollback()


def publish(actor: str, comment: str) -> Outcome:
    """Publish the stored definitions as they are: ACCEPT's path without an edit.

    The command line uses this after an import (or on its own): the
    definitions become the next revision, lvs.cf is written and pulse is
    told, with the same validation, lock, audit entry and pulse answer as a
    change made in the console.
    """
    return run(lambda: Change("publish", "lvs.cf", None, None, None, comment=comment), actor, None)


def _mutate(mutate: Mutation) -> Change:
    """Run the mutation and flush, turning DB-level refusals into user-facing errors."""
    try:
        change = mutate()
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(None) from None
    except IntegrityError as err:
        db.session.rollback()
        if "UNIQUE" in str(err.orig).upper():
            raise Rejected({"name": ["this name is already used"]}) from None
        raise
    except (Conflict, NotFound, Rejected):
        db.session.rollback()
        raise
    return change


def _save_draft(mutate: Mutation, change: Change, built: Built, problems: list[lvscf.Problem],
                actor: str, client_addr: str | None) -> Outcome:
    """Refuse the change if it caused a problem; else keep it in the DB without writing lvs.cf."""
    session = db.session
    mine, others = split_problems(built, problems, change.target)
    if mine:
        session.rollback()
        raise Rejected(mine, [describe(built, p) for p in others])
    session.rollback()
    before = lvsconfig.build()
    before_keys = {problem_key(before, p) for p in lvsconfig.problems_of(before.cfg)}
    new = [p for p in others if problem_key(built, p) not in before_keys]
    if new:
        raise Rejected({}, [describe(built, p) for p in new])
    change = _mutate(mutate)
    lvsconfig._audit(actor, change.action, change.object_type, change.object_name,
                     change.before, change.after, None, client_addr)
    _commit()
    return Outcome(changed=True, published=False, pending=[describe(built, p) for p in others],
                   target=change.target)


def split_problems(built: Built, problems: list[lvscf.Problem],
                   target: ObjectRef | None) -> tuple[dict[str, list[str]], list[lvscf.Problem]]:
    """Problems about ``target`` keyed by lvs.cf key (``_form`` if none), and all the others."""
    mine: dict[str, list[str]] = {}
    others: list[lvscf.Problem] = []
    for p in problems:
        if target is not None and built.ref_of(p) == target:
            mine.setdefault(p.key or "_form", []).append(p.message)
        else:
            others.append(p)
    return mine, others


def problem_key(built: Built, p: lvscf.Problem) -> tuple[Any, ...]:
    """Identity of a problem independent of line markers (for before/after comparison)."""
    return (built.ref_of(p), p.key, p.message)


def describe(built: Built, p: lvscf.Problem) -> str:
    """A problem in words that name the object: ``virtual www: address: ...``."""
    kind, _ = ref = built.ref_of(p)
    where = "global settings" if kind == "global" else f"{kind} {built.names.get(ref, '?')}"
    key = f"{p.key}: " if p.key else ""
    return f"{where}: {key}{p.message}"


def _comment(change: Change) -> str:
    name = f" {change.object_name}" if change.object_name else ""
    return f"{change.action} {change.object_type}{name}"


def _commit() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(None) from None


def notify_pulse(serial_no: int) -> pulse_status.ReloadOutcome:
    """SIGHUP pulse and wait (≤ PULSE_WAIT_SECONDS) for its status to show ``serial_no``.

    cluster = ecmp: then wait as long again for every director's result (our pulse pushes the
    revision to the others).
    """
    cfg = current_app.config
    since, wait = time.time(), float(cfg.get("PULSE_WAIT_SECONDS", 2.0))
    outcome = pulse_status.wait_for_serial(cfg["PULSE_PID_FILE"], cfg["PULSE_STATUS_FILE"], serial_no,
                                           timeout=wait)
    outcome.directors = cluster.publish_results(serial_no, outcome.state, since,
                                                wait if outcome.state == "applied" else 0.0)
    return outcome


def _record_pulse_result(revision_id: int, outcome: Outcome) -> None:
    """Keep what pulse said on the revision row (shown on the revisions page)."""
    from ..models import Revision

    rev = db.session.get(Revision, revision_id)
    if rev is None or outcome.pulse is None:
        return
    rev.pulse_result = outcome.pulse.state + (f": {outcome.pulse.error}" if outcome.pulse.error else "")
    if outcome.pulse.directors:
        rev.pulse_result += f" ({cluster.describe(outcome.pulse.directors)})"
    from . import audit  # pulse's answer to a publish is part of the audit trail (when it answered)

    if outcome.pulse.state != "not-running":
        audit.record(rev.username, "publish.pulse", "revision", str(rev.id), revision=rev.id,
                     detail={"pulse": outcome.pulse.state,
                             **({"directors": {d["director"]: d["result"] for d in outcome.pulse.directors}}
                                if outcome.pulse.directors else {}),
                             **({"error": outcome.pulse.error} if outcome.pulse.error else {})},
                     session=db.session)
    db.session.commit()

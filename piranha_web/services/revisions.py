"""Revision history: diff, rollback, and the two answers to a hand-edited lvs.cf."""

from __future__ import annotations

import difflib
from typing import Any

from .. import lvscf
from ..extensions import db
from ..models import Revision
from . import changes, lvsconfig
from .changes import Change, Mutation, NotFound, Outcome, Rejected


def get(revision_id: int) -> Revision:
    """A revision by number, or NotFound."""
    rev = db.session.get(Revision, revision_id)
    if rev is None:
        raise NotFound(f"There is no revision {revision_id}.")
    return rev


def current_text(serial_no: int | None = None) -> str:
    """What the DB would publish now, rendered with ``serial_no`` (default: the last revision's).

    Rendering with the compared revision's own serial number keeps the
    counter out of the diff, so only real changes show.
    """
    if serial_no is None:
        last = lvsconfig.last_revision()
        serial_no = last.serial_no if last else 0
    built = lvsconfig.build(serial_no=serial_no)
    try:
        return lvscf.dumps(built.cfg)
    except lvscf.LvsCfError as err:
        return f"# the current definitions cannot be rendered: {err}\n"


def diff(revision_id: int, against: str | None = None) -> list[str]:
    """Unified diff from revision ``revision_id`` to the current definitions (or ``against``)."""
    rev = get(revision_id)
    target = current_text(rev.serial_no) if against is None else against
    return list(difflib.unified_diff(rev.text.splitlines(), target.splitlines(),
                                     f"revision {rev.id}", "current", lineterm=""))


def _load(text: str, what: str) -> lvscf.LvsConfig:
    try:
        return lvscf.load(text)
    except lvscf.LvsCfError as err:
        raise Rejected(general=[f"{what}: {p}" for p in err.problems]) from None


def rollback(revision_id: int) -> Mutation:
    """Make the definitions what revision ``revision_id`` said; publishing makes a new revision."""
    def mutate() -> Change:
        rev = get(revision_id)
        cfg = _load(rev.text, f"revision {rev.id}")
        lvsconfig.replace_definitions(cfg)
        return Change("rollback", "revision", str(rev.id), None, {"restored": rev.id},
                      comment=f"rollback to revision {rev.id}")
    return mutate


def overwrite_disk() -> Mutation:
    """Replace a hand-edited lvs.cf with what the DB says (a new revision)."""
    def mutate() -> Change:
        return Change("overwrite", "lvs.cf", str(lvsconfig.lvs_cf_path()), None, None,
                      comment="overwrote hand-edited lvs.cf with the console's version")
    return mutate


def import_disk(actor: str, client_addr: str | None) -> Outcome:
    """Take a hand-edited lvs.cf into the DB as a new revision (the file is kept as it is)."""
    with lvsconfig.publish_lock():
        db.session.rollback()
        text = lvsconfig.read_disk()
        if text is None:
            raise NotFound(f"{lvsconfig.lvs_cf_path()} does not exist.")
        try:
            rev = lvsconfig.import_text(text, actor, "imported hand-edited lvs.cf")
        except lvscf.LvsCfError as err:
            db.session.rollback()
            raise Rejected(general=[f"{lvsconfig.lvs_cf_path()}: {p}" for p in err.problems]) from None
        lvsconfig._audit(actor, "import", "lvs.cf", str(lvsconfig.lvs_cf_path()), None,
                         {"serial_no": rev.serial_no, "sha256": rev.sha256}, rev.id, client_addr)
        db.session.commit()
        outcome = Outcome(changed=True, published=True, revision=rev.id, serial_no=rev.serial_no)
    outcome.pulse = changes.notify_pulse(rev.serial_no)
    return outcome


def listing(limit: int = 200) -> list[dict[str, Any]]:
    """Revisions newest first, without their texts."""
    rows = db.session.execute(
        db.session.query(Revision.id, Revision.serial_no, Revision.created_at, Revision.username,
                         Revision.comment, Revision.pulse_result, Revision.sha256)
        .order_by(Revision.id.desc()).limit(limit).statement
    ).all()
    return [dict(r._mapping) for r in rows]

"""Revisions: history of published lvs.cf files, diff, rollback, and hand-edit handling."""

from __future__ import annotations

import difflib
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from ..services import lvsconfig, revisions
from ..services.changes import NotFound, Rejected
from ..viewkit import actor, perform
from . import bp


@bp.get("/")
def index() -> Any:
    """Every revision, newest first."""
    last = lvsconfig.last_revision()
    return render_template("revisions/index.html", rows=revisions.listing(), last=last)


@bp.get("/<int:number>")
def show(number: int) -> Any:
    """One revision's text and its diff against what the console would publish now."""
    try:
        rev = revisions.get(number)
    except NotFound as err:
        abort(404, str(err))
    return render_template("revisions/show.html", rev=rev, diff=revisions.diff(number))


@bp.post("/<int:number>/rollback")
def rollback(number: int) -> Any:
    """Restore revision ``number`` into the definitions and publish it as a new revision."""
    outcome = perform(revisions.rollback(number))
    return redirect(url_for(".index") if outcome else url_for(".show", number=number))


@bp.get("/disk")
def disk() -> Any:
    """lvs.cf on disk against the last published revision (what the banner is about)."""
    text = lvsconfig.read_disk()
    last = lvsconfig.last_revision()
    diff = list(difflib.unified_diff((last.text if last else "").splitlines(), (text or "").splitlines(),
                                     f"revision {last.id}" if last else "nothing published",
                                     str(lvsconfig.lvs_cf_path()), lineterm=""))
    return render_template("revisions/disk.html", text=text, last=last, diff=diff,
                           path=str(lvsconfig.lvs_cf_path()))


@bp.post("/import")
def import_disk() -> Any:
    """Banner button: take lvs.cf from disk into the console (it must be valid)."""
    try:
        outcome = revisions.import_disk(actor(), request.remote_addr)
    except (Rejected, NotFound) as err:
        for message in getattr(err, "general", None) or [str(err)]:
            flash(f"Not imported: {message}", "error")
        return redirect(url_for(".disk"))
    flash(f"imported {lvsconfig.lvs_cf_path()} as revision {outcome.revision}", "success")
    return redirect(url_for("virtual.index"))


@bp.post("/overwrite")
def overwrite_disk() -> Any:
    """Banner button: write the console's version over the hand-edited file."""
    perform(revisions.overwrite_disk())
    return redirect(request.referrer if _local(request.referrer) else url_for(".index"))


def _local(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)

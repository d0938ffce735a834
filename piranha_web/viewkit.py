"""What every console view does with a change: run it, flash the result, or explain the refusal.

The panels differ only in their form, template and mutation; the flow
around them (the list buttons, the edit panel's GET / CANCEL / PREVIEW / ACCEPT /
422, the "or 404" lookups) is written once here.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from flask import abort, flash, redirect, render_template, request
from werkzeug.wrappers import Response
from flask_login import current_user

from .extensions import db
from .formkit import ConsoleForm, row_data
from .models import FailoverService, RealServer, VirtualServer, row_id
from .services import changes, preview
from .services.changes import Conflict, Mutation, NotFound, Outcome, Rejected

FormT = TypeVar("FormT", bound=ConsoleForm)


def actor() -> str:
    """The logged-in user's name, for the audit log and revisions."""
    return getattr(current_user, "username", None) or "?"


def perform(mutation: Mutation, form: ConsoleForm | None = None) -> Outcome | None:
    """Run ``mutation``; on success flash what happened and return the outcome, else None.

    Refusals go onto ``form`` (field errors, conflict values) when there is
    one, otherwise they are flashed.
    """
    try:
        outcome = changes.run(mutation, actor(), request.remote_addr)
    except (Rejected, Conflict, NotFound) as err:
        refused(err, form)
        return None
    category, message = outcome.flash()
    flash(message, category)
    return outcome


def refused(err: Exception, form: ConsoleForm | None) -> None:
    """Show why a change was refused: on the form when there is one, else as flashes."""
    if isinstance(err, Rejected):
        if form is not None:
            form.attach(err.fields, err.general)
            return
        for key, messages in err.fields.items():
            for m in messages:
                flash(f"{key}: {m}" if key != "_form" else m, "error")
        for m in err.general:
            flash(m, "error")
    elif isinstance(err, Conflict):
        if form is None:
            flash(f"{err} (the list has been reloaded)", "error")
            return
        form.conflict = err.current or {}
        form.general_errors.append(str(err))
        if err.current and "version" in err.current:
            form.version.data = str(err.current["version"])
    else:
        flash(str(err), "error")


def preview_of(mutation: Mutation, form: ConsoleForm) -> preview.Preview | None:
    """PREVIEW: what ACCEPT would publish and what pulse would do; refusals shown as ACCEPT shows them."""
    try:
        return preview.of_mutation(mutation)
    except (Rejected, Conflict, NotFound) as err:
        refused(err, form)
        return None


def parse_selection(value: str | None) -> tuple[int, int | None] | None:
    """A list radio value ``"<id>:<version>"`` -> (id, version)."""
    ident, _, version = (value or "").partition(":")
    number = row_id(ident)
    return None if number is None else (number, row_id(version))


def list_action(noun: str, back: str, add: str, edit: Callable[[int], str],
                delete: Callable[[int, int | None], Mutation],
                toggle: Callable[[int, int | None], Mutation]) -> Response:
    """The buttons under a list panel (VIRTUAL SERVERS, REAL SERVER, FAILOVER).

    ADD goes to the ``add`` URL; EDIT, DELETE and (DE)ACTIVATE act on the
    selected row (``edit(id)`` is its edit URL, ``delete``/``toggle`` build
    the mutation from id and the version the list showed).  Every list
    behaves the same, so this is written once; the caller only says where
    to go back to.
    """
    action = request.form.get("action", "")
    if action == "add":
        return redirect(add)
    raw = request.form.get("selected") or ""
    selected = parse_selection(raw)
    if selected is None and raw.partition(":")[0].isdigit():
        abort(404, f"There is no such {noun}.")  # an id beyond the row-id range
    if selected is None:
        flash(f"Select a {noun} first.", "error")
        return redirect(back)
    ident, version = selected
    if action == "edit":
        return redirect(edit(ident))
    if action == "delete":
        perform(delete(ident, version))
    elif action == "toggle":
        perform(toggle(ident, version))
    else:
        abort(400)
    return redirect(back)


def page_number() -> int:
    """``?page=N`` (1-based, bad values mean 1)."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def read_form(form: ConsoleForm) -> tuple[dict[str, Any], bool]:
    """Validate (CSRF, choices) and convert; attach errors; (values, ok)."""
    ok = form.validate_on_submit()
    values, errors = form.values()
    if errors:
        form.attach(errors)
    if not ok:
        for name, messages in form.errors.items():
            if name == "csrf_token":
                form.general_errors.extend(messages)
    return values, ok and not errors


def panel_form(form_class: type[FormT], source: Any,
               initial: Callable[[Any], dict[str, Any]] | None = None) -> FormT:
    """The panel's form: on GET filled from ``source`` (a row or a defaults dict), else the posted values.

    ``initial`` turns ``source`` into form data when a plain copy of the
    form's fields (``row_data``) is not what the form shows.
    """
    if request.method == "POST":
        return form_class()
    data = initial(source) if initial else row_data(source, list(form_class.CONVERTERS))
    return form_class(data=data)


def edit_panel(form: ConsoleForm, template: str,
               change: Callable[[dict[str, Any], int | None], Mutation],
               done: str | Callable[[Outcome], str], *, cancel: str | None = None,
               context: dict[str, Any] | None = None) -> Any:
    """One edit panel: GET shows it; CANCEL goes to ``cancel``; ACCEPT runs ``change(values, version)``;
    PREVIEW shows what ACCEPT would publish and what pulse would do, and keeps the input for ACCEPT.

    An accepted change redirects to ``done`` (or ``done(outcome)``); a
    refused one (conversion, validation, conflict) shows the same panel
    again with its errors and status 422.
    """
    def show(status: int = 200, shown: preview.Preview | None = None) -> Any:
        return render_template(template, form=form, preview=shown, **(context or {})), status

    if request.method != "POST":
        return show()
    if cancel is not None and request.form.get("action") == "cancel":
        return redirect(cancel)
    values, ok = read_form(form)
    if request.form.get("action") == "preview":
        shown = preview_of(change(values, form.expected_version()), form) if ok else None
        return show(200 if shown is not None else 422, shown)
    outcome = perform(change(values, form.expected_version()), form) if ok else None
    if outcome is None:
        return show(422)
    return redirect(done(outcome) if callable(done) else done)


def virtual_or_404(vid: int) -> VirtualServer:
    """The virtual server ``vid``, or 404."""
    vs = db.session.get(VirtualServer, vid)
    if vs is None:
        abort(404, "This virtual server does not exist (any more).")
    return vs


def real_or_404(vid: int, rid: int) -> RealServer:
    """Real server ``rid`` of virtual server ``vid``, or 404 (also when it belongs to another one)."""
    rs = db.session.get(RealServer, rid)
    if rs is None or rs.virtual_id != vid:
        abort(404, "This real server does not exist (any more).")
    return rs


def failover_or_404(fid: int) -> FailoverService:
    """The failover service ``fid``, or 404."""
    row = db.session.get(FailoverService, fid)
    if row is None:
        abort(404, "This failover service does not exist (any more).")
    return row

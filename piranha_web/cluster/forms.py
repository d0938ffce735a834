"""CLUSTER's DRAIN / UNDRAIN buttons: one small CSRF-protected form per director."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField

ACTIONS = {"drain": True, "undrain": False}


class DrainForm(FlaskForm):
    """Which director; the button pressed (``action``) says drain or undrain."""

    director = HiddenField("director")
    action = HiddenField("action")

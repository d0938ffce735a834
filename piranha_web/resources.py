"""Where the console's data directories are: in the installed package or in the checkout.

A wheel carries ``templates/``, ``static/``, ``migrations/`` and ``deploy/``
as package data under ``piranha_web/_data`` (setup.py copies them there at
build time, so git holds each file once, at the top of the repository).  An
editable install or a bare checkout has no ``_data``: the same directories
are then read from the checkout beside the package.  Flask, Alembic and
``install-units`` want real directories, so a zipped install is not
supported: the package is always unpacked on disk by pip or dpkg.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .config import PROJECT_ROOT

# The top-level directories a wheel ships as package data.
DATA_DIRS = ("templates", "static", "migrations", "deploy")


def data_dir(name: str) -> Path:
    """The directory ``name`` (one of DATA_DIRS): packaged copy first, else the checkout's."""
    if name not in DATA_DIRS:
        raise ValueError(f"{name!r} is not package data (one of {', '.join(DATA_DIRS)})")
    packaged = files("piranha_web") / "_data" / name
    if packaged.is_dir():
        return Path(str(packaged))
    return PROJECT_ROOT / name

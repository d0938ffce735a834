"""Build hook: ship the top-level data directories inside the wheel.

git keeps ``templates/``, ``static/``, ``migrations/`` and ``deploy/`` at
the top of the repository; a wheel needs them inside the package.  The
build step copies them to ``piranha_web/_data/`` in the build tree only, so
nothing is duplicated in git.  Editable installs skip the copy and
``piranha_web.resources`` reads the checkout instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("templates", "static", "migrations", "deploy")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


class BuildPyWithData(build_py):
    """build_py, plus the data directories copied under piranha_web/_data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "piranha_web" / "_data"
        for name in DATA_DIRS:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(here / name, target / name, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithData})

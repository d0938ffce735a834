"""The lvs.cf model: the one place that knows Piranha's file grammar and rules.

Pure Python, no Flask/SQLAlchemy/pyroute2 imports: the console, pulse and the
command line all use it, so the form, the file and the daemon never disagree.

Public API::

    parse(text) -> LvsConfig        # syntax only; raises LvsCfError (line numbers)
    validate(cfg) -> None           # semantics; raises LvsCfError with every problem
    warnings(cfg) -> [Problem]      # harmless now, wrong if enabled (never refuses)
    load(text) -> LvsConfig         # parse + validate
    dumps(cfg) -> str               # canonical Piranha layout; parse(dumps(c)) == c
"""

from .errors import LvsCfError, Problem
from .model import (
    FailoverService,
    LvsConfig,
    RealServer,
    VirtualServer,
    SCHEDULERS,
    PROTOCOLS,
    NETWORKS,
    mask_prefix,
)
from .parser import parse
from .validate import validate, warnings
from .writer import dumps

dump = dumps


def load(text: str) -> LvsConfig:
    """Parse and validate ``text``; the form every consumer should use."""
    cfg = parse(text)
    validate(cfg)
    return cfg


__all__ = [
    "LvsCfError", "Problem", "LvsConfig", "VirtualServer", "RealServer", "FailoverService",
    "SCHEDULERS", "PROTOCOLS", "NETWORKS", "mask_prefix", "parse", "validate", "warnings", "load",
    "dumps", "dump",
]

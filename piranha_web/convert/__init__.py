"""Converters between lvs.cf's model and other formats (JSON, keepalived.conf).

Pure Python like ``lvscf``: the command line, the REST API and the console's
import all convert through here, so every entry point agrees on what a JSON
document or a keepalived ``virtual_server`` block means.

Public API::

    to_json(cfg) -> str / from_json(text) -> LvsConfig
    to_dict(cfg) -> dict / from_dict(data) -> LvsConfig
    to_keepalived(cfg) -> str / from_keepalived(text, lossy=False) -> LvsConfig
    read_keepalived(text) -> (LvsConfig, notes: what lvs.cf cannot carry, with lines)
    detect_format(text) -> "lvs.cf" | "json" | "keepalived"
    read_any(path) -> LvsConfig / loads_any(text, lossy=False) -> LvsConfig
    read_noted(text) -> (LvsConfig, notes)
    dumps_as(cfg, fmt) -> str
"""

from .detect import FORMATS, detect_format, dumps_as, loads_any, read_any, read_noted
from .jsonfmt import from_dict, from_json, to_dict, to_json
from .keepalived import from_keepalived, read_keepalived, to_keepalived

__all__ = [
    "FORMATS", "detect_format", "dumps_as", "loads_any", "read_any", "read_noted",
    "from_dict", "from_json", "to_dict", "to_json", "from_keepalived", "read_keepalived", "to_keepalived",
]

"""Reading lvs.cf again after a small edit: parse only the virtual server block that changed.

A whole parse and validation of 1,000 virtual servers with 10 real servers
each costs about half a second of CPU on a fast host, and far more on a small
or emulated one; a reload that changes one weight should cost one block.  The
new text is compared with the text of the configuration in force (string
comparisons run at C speed, no per-line Python work), and when

* the edit lies inside one ``virtual`` block and keeps the file's line count,
* the global settings before the first block are unchanged, but for ``serial_no``,

only that block is parsed (with its real line numbers) and validated; every
other object is the previous configuration's, which passed validation under
the same global settings.  Any other edit returns None: the caller parses the
file whole, so errors are always reported by the one full parser.
"""

from __future__ import annotations

import bisect
import copy
import re
from dataclasses import dataclass, fields

from .errors import LvsCfError
from .model import LvsConfig, VirtualServer
from .parser import parse
from .validate import validate

_BLOCK_START = re.compile(r"^[ \t]*(?:virtual|failover|director)[ \t]", re.M)
_BLOCKS = ("virtuals", "failovers", "directors")
_IGNORED = frozenset(("serial_no", "_lines", *_BLOCKS))   # what a header edit may change


@dataclass(frozen=True)
class Edit:
    """The configuration after an edit confined to one virtual server."""

    base: LvsConfig               # the configuration it edits
    cfg: LvsConfig
    old: VirtualServer | None     # the block as it was (None: only the header changed)
    new: VirtualServer | None     # the block as it is now

    def names(self) -> set[str]:
        """The virtual servers the edit touched (a renamed one under both names)."""
        return {vs.name for vs in (self.old, self.new) if vs is not None}


def reparse(old_text: str, old: LvsConfig, new_text: str) -> Edit | None:
    """``new_text`` as a small edit of ``old_text`` (which parsed to ``old``), or None to parse it whole."""
    if old_text.count("\n") != new_text.count("\n"):
        return None                                # lines moved: every later line number would change
    h_old, h_new = _header_end(old_text), _header_end(new_text)
    if h_old is None or h_new is None:
        return None
    base = old_text.count("\n", 0, h_old)           # lines before the first block
    if new_text.count("\n", 0, h_new) != base:
        return None
    cfg = copy.copy(old)
    if old_text[:h_old] != new_text[:h_new]:
        header = _parse_header(new_text[:h_new], old)
        if header is None:
            return None
        cfg.serial_no, cfg._lines = header.serial_no, header._lines
    body_old, body_new = old_text[h_old:], new_text[h_new:]
    if body_old == body_new:
        return Edit(old, cfg, None, None)
    found = _changed_block(body_old, body_new, base, old)
    if found is None:
        return None
    index, block_text = found
    before = old.virtuals[index]
    block = _parse_block(block_text, before)
    if block is None:
        return None
    cfg.virtuals = list(old.virtuals)
    cfg.virtuals[index] = block
    try:
        validate(cfg, only=(block,))
    except LvsCfError:
        return None                                # reported, with every other problem, by the full parse
    return Edit(old, cfg, before, block)


def _changed_block(body_old: str, body_new: str, base: int, old: LvsConfig) -> tuple[int, str] | None:
    """(index in ``old.virtuals``, new text) of the one virtual block holding every changed character.

    ``base``: the number of lines before the bodies.
    """
    start = _common_prefix(body_old, body_new)
    tail = _common_suffix(body_old[start:], body_new[start:])
    first = base + body_new.count("\n", 0, start) + 1
    last = first
    for body in (body_old, body_new):
        end = len(body) - tail
        if end > start:
            last = max(last, base + body.count("\n", 0, end - 1) + 1)
    index = _enclosing(old.virtuals, first, last)
    if index is None:
        return None
    vs = old.virtuals[index]
    begin = body_new.rfind("\n", 0, start) + 1    # the start of line ``first``
    for _ in range(first - vs.line):
        begin = body_new.rfind("\n", 0, begin - 1) + 1
    finish = begin
    for _ in range(vs._end - vs.line + 1):
        finish = body_new.find("\n", finish) + 1
        if finish == 0:
            finish = len(body_new)
            break
    return index, body_new[begin:finish]


def _enclosing(virtuals: list[VirtualServer], first: int, last: int) -> int | None:
    """Index of the virtual server whose block spans lines ``first``..``last`` (None: none does)."""
    index = bisect.bisect_right(virtuals, first, key=lambda vs: vs.line) - 1
    if index < 0:
        return None
    vs = virtuals[index]
    return index if vs.line <= first and last <= vs._end else None


def _parse_block(text: str, before: VirtualServer) -> VirtualServer | None:
    """The one virtual server ``text`` holds, on ``before``'s lines, or None when it is anything else."""
    try:
        parsed = parse(text, first_line=before.line)
    except LvsCfError:
        return None
    if (len(parsed.virtuals) != 1 or parsed.failovers or parsed.directors or parsed._lines
            or parsed.virtuals[0].line != before.line or parsed.virtuals[0]._end != before._end):
        return None
    return parsed.virtuals[0]


def _header_end(text: str) -> int | None:
    """Offset of the first block's line (None: no block)."""
    match = _BLOCK_START.search(text)
    return match.start() if match else None


def _parse_header(header: str, old: LvsConfig) -> LvsConfig | None:
    """The header's settings when they equal ``old``'s global settings but for serial_no (else None)."""
    try:
        parsed = parse(header)
    except LvsCfError:
        return None
    for f in fields(LvsConfig):
        if f.name not in _IGNORED and getattr(parsed, f.name) != getattr(old, f.name):
            return None
    return parsed


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by halving (each comparison is one C-speed slice compare)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: str, b: str) -> int:
    """Length of the common suffix."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid:len(a) - low] == b[len(b) - mid:len(b) - low]:
            low = mid
        else:
            high = mid - 1
    return low

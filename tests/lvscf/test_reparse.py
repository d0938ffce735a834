"""An edit inside one virtual block is re-read alone, and gives exactly what a whole parse gives."""

from __future__ import annotations

import random
from typing import Any

import pytest

from piranha_web.lvscf import LvsCfError, LvsConfig, load
from piranha_web.lvscf.reparse import reparse


def config(virtuals: int = 6, servers: int = 3) -> str:
    out = ["serial_no = 1", "primary = 192.0.2.1", "service = lvs", "network = direct", ""]
    for v in range(virtuals):
        out += [f"virtual vs{v} {{", "    active = 1", f"    address = 203.0.113.{v + 1} eth0:{v}",
                "    port = 80", "    scheduler = wlc"]
        for s in range(servers):
            out += [f"    server rs{s} {{", f"        address = 198.51.100.{s + 1}", "        active = 1",
                    "        weight = 1", "    }"]
        out += ["}", ""]
    return "\n".join(out)


BASE = config()
BASE_CFG = load(BASE)


def line_numbers(cfg: LvsConfig) -> list[Any]:
    """Every line number the validator may report, block by block."""
    out: list[Any] = [cfg._lines]
    for vs in cfg.virtuals:
        out.append((vs.name, vs.line, vs._lines, vs._end))
        out += [(rs.name, rs.line, rs._lines) for rs in vs.servers]
    return out


def replace_nth(text: str, old: str, new: str, n: int) -> str:
    """``text`` with the ``n``-th (1-based) occurrence of ``old`` replaced."""
    at = -1
    for _ in range(n):
        at = text.index(old, at + 1)
    return text[:at] + new + text[at + len(old):]


def same_as_whole_parse(text: str) -> None:
    edit = reparse(BASE, BASE_CFG, text)
    assert edit is not None
    whole = load(text)
    assert edit.cfg == whole
    assert line_numbers(edit.cfg) == line_numbers(whole)


def test_a_weight_edit_re_reads_its_block_only() -> None:
    text = replace_nth(BASE, "weight = 1", "weight = 7", 5)      # vs1/rs1
    edit = reparse(BASE, BASE_CFG, text)
    assert edit is not None and edit.old is not None and edit.new is not None
    assert edit.names() == {"vs1"}
    assert edit.new.servers[1].weight == 7 and edit.old.servers[1].weight == 1
    assert edit.cfg.virtuals[0] is BASE_CFG.virtuals[0]     # the other blocks are the same objects
    assert edit.base is BASE_CFG
    same_as_whole_parse(text)


def test_serial_no_and_a_block_edited_together() -> None:
    text = BASE.replace("serial_no = 1", "serial_no = 12345").replace("scheduler = wlc", "scheduler = rr", 1)
    edit = reparse(BASE, BASE_CFG, text)
    assert edit is not None and edit.cfg.serial_no == 12345 and edit.names() == {"vs0"}
    same_as_whole_parse(text)


def test_serial_no_alone_touches_no_virtual_server() -> None:
    edit = reparse(BASE, BASE_CFG, BASE.replace("serial_no = 1", "serial_no = 2"))
    assert edit is not None and edit.names() == set() and edit.cfg.serial_no == 2
    assert edit.cfg.virtuals == BASE_CFG.virtuals


@pytest.mark.parametrize(("what", "old", "new"), [
    ("another global setting", "network = direct", "network = tunnel"),
    ("a line added", "    scheduler = wlc\n", "    scheduler = wlc\n    persistent = 30\n"),
    ("an edit between blocks", "}\n\nvirtual vs1", "}\n# a note\nvirtual vs1"),
    ("two blocks", "weight = 1", "weight = 2"),
    ("a block left invalid", "    port = 80\n    scheduler = wlc\n    server rs0",
     "    port = 99999\n    scheduler = wlc\n    server rs0"),
    ("a clash with another block", "address = 203.0.113.2 eth0:1", "address = 203.0.113.1 eth0:1"),
    ("a closing brace moved",
     "        weight = 1\n    }\n    server rs1", "        weight = 1\n\n}   server rs1"),
])
def test_anything_else_is_parsed_whole(what: str, old: str, new: str) -> None:
    text = BASE.replace(old, new, 1) if what != "two blocks" else BASE.replace(old, new)
    assert text != BASE, what
    assert reparse(BASE, BASE_CFG, text) is None, what


def test_random_edits_match_the_whole_parse() -> None:
    """Whatever the reparse accepts is what a whole parse and validation accept, line numbers included."""
    rnd = random.Random(7)
    lines = BASE.split("\n")
    accepted = 0
    for _ in range(300):
        new = list(lines)
        k = rnd.randrange(len(new))
        new[k] = rnd.choice([
            "        weight = %d" % rnd.randrange(0, 50), new[k] + "  ", "# " + new[k], "}",
            "    port = %d" % rnd.randrange(0, 70000), new[k].replace("1", "2"), "    active = 0",
            "        active = 0", "    server rs0 {", "    check = http",
        ])
        if rnd.random() < 0.3:
            new[0] = f"serial_no = {rnd.randrange(1, 99)}"
        text = "\n".join(new)
        edit = reparse(BASE, BASE_CFG, text)
        if edit is None:
            continue
        accepted += 1
        try:
            whole = load(text)
        except LvsCfError as exc:                   # the reparse accepted what a whole parse refuses
            raise AssertionError(f"line {k + 1}: {new[k]!r}: {exc}") from None
        assert edit.cfg == whole and line_numbers(edit.cfg) == line_numbers(whole), new[k]
    assert accepted > 100

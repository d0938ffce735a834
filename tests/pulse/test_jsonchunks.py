"""Lazy JSON parts: the pieces join to the same text as one dump of the materialized value."""

from __future__ import annotations

import json
from typing import Any

from piranha_web.pulse.jsonchunks import LazyList, LazyMap, chunks, grouped, materialize


def document() -> dict[str, Any]:
    """Lazy parts at the top, nested in a plain dict, inside each other, and empty."""
    return {
        "pid": 1, "name": "é \"quoted\"",
        "table": LazyList({"service": f"s{i}", "dests": [i, i + 1]} for i in range(3)),
        "runtime": {"states": LazyMap(iter([("vs", {"rs": 1})])), "samples": 0,
                    "nested": LazyList([LazyMap(iter([("k", None)])), []])},
        "empty_list": LazyList(iter(())), "empty_map": LazyMap(iter(())),
    }


def test_pieces_join_to_the_dump_of_the_materialized_document() -> None:
    text = "".join(chunks(document()))
    plain = materialize(document())
    assert text == json.dumps(plain, separators=(",", ":"))
    assert json.loads(text) == plain
    assert plain["runtime"]["nested"] == [{"k": None}, []] and plain["empty_map"] == {}


def test_each_element_of_a_lazy_part_is_its_own_piece() -> None:
    pieces = list(chunks({"table": LazyList({"n": i} for i in range(100))}))
    assert len(pieces) >= 100


def test_grouped_makes_one_map_per_outer_key() -> None:
    pairs = [(("a", "1"), 1), (("a", "2"), 2), (("b", "1"), 3)]
    assert list(grouped(pairs)) == [("a", {"1": 1, "2": 2}), ("b", {"1": 3})]
    assert list(grouped([])) == []

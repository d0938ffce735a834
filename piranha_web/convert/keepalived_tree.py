"""keepalived.conf as a tree of statements, and the notes an import keeps about what it cannot carry.

keepalived.conf is ``keyword args... [{ ... }]`` with braces allowed anywhere
on a line; comments start with ``!`` or ``#``.  The exporter leaves
``! piranha: ...`` comments for what keepalived cannot say; the tree keeps
them on the block they sit in (``hints``) or on the statement below them
(``before``) so an export imports back whole.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from piranha_web.lvscf import LvsCfError, Problem
from piranha_web.lvscf.tokens import MAX_DIGITS

_HINT = "piranha:"


@dataclass
class Node:
    """One statement: ``keyword args...`` with an optional ``{ }`` body."""

    keyword: str
    args: list[str]
    line: int
    children: list["Node"] | None = None
    hints: list[str] = field(default_factory=list)   # "! piranha: ..." comments inside the block
    before: list[str] = field(default_factory=list)  # "! piranha: ..." comments just above


def fail(line: int, message: str, key: str | None = None) -> LvsCfError:
    """An error for a statement keepalived.conf itself would not accept (never a mere loss)."""
    return LvsCfError(Problem(line, message, key))


def _tokens(text: str, lineno: int) -> tuple[list[str], str | None]:
    """Split one line into tokens; also return a trailing ``! piranha:`` hint."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t":
            i += 1
        elif ch in "!#":
            comment = text[i + 1:].strip()
            return out, comment[len(_HINT):].strip() if comment.startswith(_HINT) else None
        elif ch in "{}":
            out.append(ch)
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise fail(lineno, "unterminated quoted string")
            out.append(text[i + 1:end])
            i = end + 1
        else:
            j = i
            while j < len(text) and text[j] not in ' \t{}"!#':
                j += 1
            out.append(text[i:j])
            i = j
    return out, None


def parse_tree(text: str) -> list[Node]:
    """keepalived.conf text -> statements, with blocks nested (braces may sit anywhere)."""
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node]]] = [(None, root)]
    pending_hints: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        toks, note = _tokens(raw, lineno)
        if toks and toks[0] in ("include", "$") or (toks and toks[0].startswith(("$", "@"))):
            raise fail(lineno, f"{toks[0]!r} is not supported: expand includes, parameters and "
                               "conditionals first (keepalived -t --config-test-file can help)")
        for tok in toks:
            siblings = stack[-1][1]
            if tok == "{":
                if not siblings or siblings[-1].children is not None:
                    raise fail(lineno, "'{' without a keyword before it")
                siblings[-1].children = []
                stack.append((siblings[-1], siblings[-1].children))
            elif tok == "}":
                if len(stack) == 1:
                    raise fail(lineno, "'}' without a matching '{'")
                stack.pop()
                pending_hints = []
            elif siblings and siblings[-1].line == lineno and siblings[-1].children is None:
                siblings[-1].args.append(tok)
            else:
                siblings.append(Node(tok, [], lineno, before=pending_hints))
                pending_hints = []
        if note is not None:
            owner = stack[-1][0]
            if owner is not None and not toks:
                owner.hints.append(note)
            pending_hints.append(note)
    if len(stack) > 1:
        node = stack[-1][0]
        raise fail(node.line if node else 0, f"block {node.keyword if node else ''!r} is never closed")
    return root


def args_of(node: Node, count: int = 1) -> list[str]:
    """``node``'s arguments; an error naming its line when it has fewer than ``count``."""
    if len(node.args) < count:
        raise fail(node.line, f"{node.keyword}: missing argument", node.keyword)
    return node.args


def number(node: Node, integer: bool = False) -> float:
    """``node``'s first argument as a non-negative number (bounded in digits, as lvs.cf's parser)."""
    text = args_of(node)[0]
    try:
        if len(text) > MAX_DIGITS:
            raise ValueError(text)
        value = int(text) if integer else float(text)
    except ValueError:
        raise fail(node.line, f"{node.keyword}: expected a number, got {text!r}", node.keyword) from None
    if value < 0:
        raise fail(node.line, f"{node.keyword}: must not be negative", node.keyword)
    return value


def ip(node: Node, text: str) -> str:
    """``text`` as a canonical IP address; an error naming ``node``'s line otherwise."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise fail(node.line, f"{node.keyword}: {text!r} is not an IP address", node.keyword) from None


def hint(hints: list[str], word: str) -> str | None:
    """The text after ``word`` in the first ``! piranha: word ...`` comment of ``hints``."""
    for text in hints:
        if text.startswith(word + " "):
            return text[len(word) + 1:].strip()
    return None


def whole(node: Node, text: str | None = None) -> int:
    """``node``'s first argument (or ``text``, read on ``node``'s line) as a non-negative integer."""
    target = node if text is None else Node(node.keyword, [text], node.line)
    return int(number(target, integer=True))


def find(nodes: list[Node] | None, keyword: str) -> Node | None:
    """The first statement ``keyword`` among ``nodes``."""
    return next((n for n in nodes or [] if n.keyword == keyword), None)


class Notes:
    """What an import could not carry into lvs.cf, one :class:`Problem` per keepalived.conf line.

    The import never drops a setting silently: whatever has no lvs.cf
    equivalent is noted here with its line and keyword, and the caller decides
    whether a lossy import is acceptable.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def warn(self, node: Node, message: str) -> None:
        """Note ``node`` (its line and keyword) with ``message``."""
        self.problems.append(Problem(node.line, message, node.keyword))

    def others(self, nodes: list[Node] | None, known: frozenset[str] | set[str], where: str) -> None:
        """Note every statement of ``nodes`` whose keyword is not in ``known``."""
        for n in nodes or []:
            if n.keyword not in known:
                self.warn(n, f"has no lvs.cf equivalent ({where}): not imported")

    def sorted(self) -> list[Problem]:
        """The notes in file order, each line and keyword once."""
        seen: set[tuple[int, str | None, str]] = set()
        out = []
        for p in sorted(self.problems, key=lambda p: p.line):
            if (p.line, p.key, p.message) not in seen:
                seen.add((p.line, p.key, p.message))
                out.append(p)
        return out

"""The single exception type of the lvs.cf model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (line, key) and what."""

    line: int
    message: str
    key: str | None = None

    def __str__(self) -> str:
        where = f"{self.key}: " if self.key else ""
        return f"line {self.line}: {where}{self.message}"


class LvsCfError(ValueError):
    """Raised for any bad lvs.cf input; carries every problem found, first one first."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems: list[Problem] = problems if isinstance(problems, list) else [problems]
        super().__init__(str(self.problems[0]) if self.problems else "invalid lvs.cf")

    @property
    def line(self) -> int:
        """Line of the first problem (0 when the problem has no line)."""
        return self.problems[0].line if self.problems else 0

    @property
    def message(self) -> str:
        """Message of the first problem."""
        return self.problems[0].message if self.problems else ""

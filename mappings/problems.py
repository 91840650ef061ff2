"""What is wrong with a mapping text, each problem with its line and the field it is in.

A mapping is checked as a whole: `load_mapping` collects every problem it finds (one typo
must not hide the next) and raises `MappingInvalid` carrying all of them, in line order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MappingProblem:
    """One problem. ``line`` is 1-based, 0 when the text itself could not be read (too large,
    not text); ``field`` is the dotted path of the key in the YAML (``inbound.fields.post_id``),
    "" for the document as a whole."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        # "line 7: inbound.fields.post_id: <message>"; a part that is not known is left out.
        parts = [f"line {self.line}"] if self.line else []
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class MappingInvalid(ValueError):
    """A mapping text that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[MappingProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line)
        super().__init__("\n".join(str(problem) for problem in self.problems))

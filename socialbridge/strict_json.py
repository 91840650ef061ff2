"""Strict JSON: `json.loads` made safe for bodies nobody vouches for yet.

    value = loads(raw)                  # the decoded JSON, or NotStrictJSON saying why not

Python's decoder accepts more than JSON defines (NaN, Infinity, numbers out of range), keeps
the last of a key given twice in one object (which value the sender meant would be a guess),
and recurses once per nesting level. `loads` refuses all of those, and checks the nesting
depth without recursion before the decoder runs. Each receiver turns the one exception into
its own answer (field errors for the CRM webhooks, a 400 for GHL's app webhooks), so the
wording of those answers stays theirs while the rules are written once, here.

    ValueError
     └── NotStrictJSON     `problem` (a Problem), `detail` in words, `repeated` key paths
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from itertools import accumulate, count
from operator import sub
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted by default; our events need 3."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted by default: more digits than any field could mean, and far
fewer than the 4,300 past which Python refuses to convert a string to an int."""

# A JSON string: quotes around anything but a quote or backslash, or an escape. Possessive
# quantifiers keep the match linear, so a long string cannot make it backtrack.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}\"]+")
# Opening brackets count +1 and closing ones -1; as bytes 2 and 0, less one per position.
_BRACKET_WEIGHTS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})

KeyPath = tuple[str, ...]
"""Where a value sits: the keys and (as text) list indexes from the top, outermost first."""


class Problem(StrEnum):
    """What kind of body `loads` refused; each caller words its answer by this."""

    NOT_UTF8 = "not_utf8"
    TOO_DEEP = "too_deep"
    INVALID = "invalid"  # not JSON, or a value Python's decoder allows and JSON does not
    REPEATED_KEYS = "repeated_keys"


class NotStrictJSON(ValueError):
    """A body refused by `loads`.

    `detail` says why in words safe to send back. Keys given twice are in `repeated`, by
    path, in the order the decoder closed their objects, for the caller to name as it shows
    names (a key may hold NUL or a lone surrogate).
    """

    def __init__(self, problem: Problem, detail: str, repeated: tuple[KeyPath, ...] = ()) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.repeated = repeated


class _Unacceptable(ValueError):
    """Raised from inside the decoder's hooks: a value JSON allows but we cannot keep."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, counted without recursion.

    Brackets inside strings do not count. Text after an unterminated string is not looked at:
    the decoder stops there with an error of its own.
    """
    outside = _STRING.sub("", text)
    outside = _NOT_BRACKET.sub("", outside).split('"', 1)[0]
    if not outside:
        return 0
    # The depth after the i-th bracket is (2 * openings so far) - i; C-level iterators keep
    # this fast on a body of a quarter of a million brackets.
    weights = outside.translate(_BRACKET_WEIGHTS).encode("ascii")
    deepest: int = max(map(sub, accumulate(weights), count(1)))
    return max(deepest, 0)


def loads(
    raw: bytes,
    *,
    max_depth: int | None = MAX_DEPTH,
    max_number_chars: int | None = MAX_NUMBER_CHARS,
) -> Any:
    """`raw` decoded as strict JSON in UTF-8; NotStrictJSON naming what is wrong.

    `max_depth` and `max_number_chars` bound the nesting and the length of a number literal;
    None leaves that bound to Python (its recursion limit, reported as TOO_DEEP, and its
    4,300-digit limit on ints). A key given twice is reported only once the whole body has
    decoded, with every such key, so a body that is also broken elsewhere is INVALID.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotStrictJSON(Problem.NOT_UTF8, str(exc)) from None
    if max_depth is not None and nesting_depth(text) > max_depth:
        raise NotStrictJSON(Problem.TOO_DEEP, f"nested deeper than {max_depth} levels")
    duplicates: list[_Object] = []
    try:
        value = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, duplicates),
            parse_int=_int_parser(max_number_chars),
            parse_float=_float_parser(max_number_chars),
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise NotStrictJSON(Problem.TOO_DEEP, "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, _Unacceptable, int() past its digit limit
        raise NotStrictJSON(Problem.INVALID, str(exc)) from None
    if duplicates:
        repeated = _repeated_paths(value, duplicates)
        raise NotStrictJSON(Problem.REPEATED_KEYS, "a key is given more than once", repeated)
    return value


class _Object(dict[str, Any]):
    """A decoded JSON object that had keys more than once (the last value was kept)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]], duplicates: list[_Object]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    marked = _Object(result)
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for key, _ in pairs:
        if key in seen:
            repeated[key] = None
        seen.add(key)
    marked.repeated = tuple(repeated)
    duplicates.append(marked)
    return marked


def _repeated_paths(value: Any, duplicates: list[_Object]) -> tuple[KeyPath, ...]:
    """The path of each repeated key, in the order the decoder closed their objects.

    Walks with an explicit stack: the value may be as deep as the caller allowed. An object
    that was itself the value of a repeated key, and so was dropped, has no path: only the
    key that dropped it is named.
    """
    where: dict[int, KeyPath] = {}
    stack: list[tuple[KeyPath, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Object):
            where[id(item)] = path
        if isinstance(item, Mapping):
            stack.extend(((*path, key), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend(((*path, str(index)), child) for index, child in enumerate(item))
    return tuple(
        (*where[id(marked)], key)
        for marked in duplicates
        if id(marked) in where
        for key in marked.repeated
    )


def _int_parser(max_chars: int | None) -> Callable[[str], int]:
    if max_chars is None:
        return int

    def parse_int(literal: str) -> int:
        if len(literal) > max_chars:
            raise _Unacceptable(f"a number has {len(literal)} digits; at most {max_chars}.")
        return int(literal)

    return parse_int


def _float_parser(max_chars: int | None) -> Callable[[str], float]:
    def parse_float(literal: str) -> float:
        if max_chars is not None and len(literal) > max_chars:
            raise _Unacceptable(f"a number has {len(literal)} characters; at most {max_chars}.")
        value = float(literal)
        if not math.isfinite(value):
            raise _Unacceptable(f"the number {_shown(literal)} is out of range.")
        return value

    return parse_float


def _parse_constant(name: str) -> Any:
    raise _Unacceptable(f"{name} is not a JSON value.")


def _shown(literal: str) -> str:
    # Without a bound on its length a literal could fill the message; a number is told
    # apart by its first digits.
    return literal if len(literal) <= MAX_NUMBER_CHARS else literal[:MAX_NUMBER_CHARS] + "…"

"""JSONPath selectors (jsonpath-ng, extended syntax), compiled once when a mapping is loaded.

What a selector gives:

- it matches nothing: the result is absent (`ABSENT`), and the field is left out;
- it is *singular* and matches once: the value itself (an object, a list, a string, …);
- it is not singular, or it matches several times: a list of every match, in document order.

A selector is singular when it is ``$`` followed only by names (``.post``, ``["a b"]``) and
single indices (``[0]``, ``[-1]``). Wildcards (``[*]``, ``.*``), slices (``[0:2]``),
several indices or names (``[0,1]``), descendants (``..id``) and filters (``[?(@.x > 1)]``)
make it non-singular, so ``$.post.tags[*].id`` is always a list, even of one id.

Only the parts above are allowed. jsonpath-ng's extensions that compute values (``len``,
``sub``, ``split``, ``str``, sorting, arithmetic), the regular-expression filter ``=~``,
``parent``, ``where`` and unions are refused at load time: a mapping selects, the
transforms shape.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterator
from typing import Any, Final

from jsonpath_ng import jsonpath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import filter as jsonpath_filter
from jsonpath_ng.ext.parser import parse


class Absent(enum.Enum):
    """The result of a field that has no value: its selector matched nothing."""

    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent.ABSENT

# Exact classes: jsonpath-ng's computing extensions subclass This (Sub, Split, Str, …).
_SELECTING = (
    jsonpath.Root,
    jsonpath.This,
    jsonpath.Child,
    jsonpath.Fields,
    jsonpath.Index,
    jsonpath.Slice,
    jsonpath.Wildcard,
    jsonpath.Descendants,
    jsonpath_filter.Filter,
    jsonpath_filter.Expression,
    jsonpath_filter.And,
    jsonpath_filter.Or,
)


class SelectorError(ValueError):
    """A selector that cannot be compiled or uses a part mappings do not allow."""


class Selector:
    """One compiled JSONPath; ``text`` is the selector as written in the mapping."""

    __slots__ = ("_path", "singular", "text")

    def __init__(self, text: str) -> None:
        if not text.startswith("$"):
            raise SelectorError("a JSONPath selector starts with $")
        # jsonpath-ng warns about syntax it will drop (`|`, a single `&`); a mapping that
        # stops working at the next upgrade is refused now instead.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                path = parse(text)
            except (JSONPathError, ValueError, TypeError) as exc:
                raise SelectorError(f"not a valid JSONPath: {exc}") from None
        if caught:
            raise SelectorError(f"not allowed: {caught[0].message}")
        for part in _parts(path):
            if type(part) not in _SELECTING:
                raise SelectorError(f"{_name_of(part)} is not allowed in a mapping's selector")
            if isinstance(part, jsonpath_filter.Expression) and part.op == "=~":
                raise SelectorError("regular expressions (=~) are not allowed in filters")
        self.text = text
        self.singular = _is_singular(path)
        self._path = path

    def find(self, document: Any) -> Any:
        """The value selected from ``document``, a list of them, or `ABSENT` (see above)."""
        try:
            found = [match.value for match in self._path.find(document)]
        except RecursionError:
            raise SelectorError(f"the document is nested too deeply for {self.text}") from None
        if not found:
            return ABSENT
        if self.singular and len(found) == 1:
            return found[0]
        return found

    def __repr__(self) -> str:
        return f"Selector({self.text!r})"


def _is_singular(path: Any) -> bool:
    while isinstance(path, jsonpath.Child):
        step = path.right
        if isinstance(step, jsonpath.Fields):
            if len(step.fields) != 1 or step.fields[0] == "*":
                return False
        elif isinstance(step, jsonpath.Index):
            if len(step.indices) != 1:
                return False
        else:
            return False
        path = path.left
    return type(path) is jsonpath.Root


def _parts(path: Any) -> Iterator[Any]:
    """Every node of a parsed path, filters' expressions included (no recursion)."""
    stack = [path]
    while stack:
        part = stack.pop()
        yield part
        if isinstance(part, jsonpath_filter.Filter):
            stack.extend(part.expressions)
        elif isinstance(part, jsonpath_filter.Expression):
            stack.append(part.target)
            if isinstance(part.value, jsonpath.JSONPath):
                stack.append(part.value)
        elif isinstance(part, jsonpath_filter.And | jsonpath_filter.Or):
            stack.extend(part.operands)
        else:
            for side in ("left", "right"):
                child = getattr(part, side, None)
                if isinstance(child, jsonpath.JSONPath):
                    stack.append(child)


def _name_of(part: Any) -> str:
    text = str(part)
    return f"{text!r} ({type(part).__name__.lower()})" if text else type(part).__name__.lower()

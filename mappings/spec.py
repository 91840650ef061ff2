"""`FieldSpec`: where one field's value comes from, and how it is shaped and checked.

A spec has exactly one source, then applies its transforms and checks in this fixed order,
whatever the order of the keys in the YAML:

    source     path (a JSONPath) | value (a constant) | template (sandboxed Jinja2)
    default    when the source gave nothing, null or "": this value instead
    map        a value found in the table is replaced; any other value passes unchanged
    strip, lower, upper    on text; other values pass unchanged
    date       read with `from`, write with `to` (strptime/strftime formats, or iso)
    join       a list becomes one text, items separated by the given separator
    truncate   text cut to at most N characters; after join, only whole items are kept
    type       converted when nothing is lost (string integer number boolean list date
               datetime), else an error
    max_len    text longer than N characters is an error
    required   no value (or null) is an error

On a list, map, strip, lower, upper, date, type (except ``list``) and max_len apply to each
item; default, join and truncate apply to the whole value. A field whose source gives
nothing and that has no default is *absent*: left out of what it is mapped into.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mappings.selectors import ABSENT, Selector, SelectorError
from mappings.templates import CompiledTemplate, TemplateProblem
from mappings.transforms import (
    DateFormat,
    FieldError,
    apply_map,
    convert,
    join_items,
    truncate_items,
)


@dataclass(frozen=True)
class Constant:
    """The ``value`` source: a scalar or a list of scalars, given in the mapping."""

    value: Any


Origin = Selector | Constant | CompiledTemplate


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One field of a mapping, compiled. Built by the loader; evaluated by `evaluate`."""

    origin: Origin
    default: Any = ABSENT
    # Keys as `transforms.map_key` gives them.
    map: Mapping[tuple[str, Any], Any] | None = None
    strip: bool = False
    lower: bool = False
    upper: bool = False
    date: DateFormat | None = None
    join: str | None = None
    truncate: int | None = None
    type: str | None = None
    max_len: int | None = None
    required: bool = False
    _item_steps: tuple[Callable[[Any], Any], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        steps: list[Callable[[Any], Any]] = []
        if self.map is not None:
            table = self.map
            steps.append(lambda value: apply_map(value, table))
        if self.strip:
            steps.append(lambda value: value.strip() if isinstance(value, str) else value)
        if self.lower:
            steps.append(lambda value: value.lower() if isinstance(value, str) else value)
        if self.upper:
            steps.append(lambda value: value.upper() if isinstance(value, str) else value)
        if self.date is not None:
            steps.append(self.date.apply)
        object.__setattr__(self, "_item_steps", tuple(steps))

    @property
    def source(self) -> str:
        """Where the value comes from, as written: the JSONPath, or "value", or "template"."""
        if isinstance(self.origin, Selector):
            return self.origin.text
        if isinstance(self.origin, Constant):
            return "value"
        return "template"

    def evaluate(self, document: Any) -> Any:
        """The field's value over ``document``, or `ABSENT`; FieldError when a step refuses."""
        value = self._produce(document)
        if self.default is not ABSENT and (value is ABSENT or value is None or value == ""):
            value = copy.deepcopy(self.default)
        if value is ABSENT:
            if self.required:
                raise FieldError("required, but nothing was found")
            return ABSENT
        value = _each(value, self._item_steps)
        texts: list[str] | None = None
        if self.join is not None and isinstance(value, list):
            texts = join_items(value, self.join)
            value = self.join.join(texts)
        if self.truncate is not None:
            value = self._truncated(value, texts)
        if self.type is not None:
            type_name = self.type
            if type_name == "list":
                value = convert(value, type_name)
            else:
                value = _each(value, (lambda item: convert(item, type_name),))
        if self.max_len is not None:
            _each(value, (self._check_length,))
        if self.required and value is None:
            raise FieldError("required, but the value is null")
        return value

    def _produce(self, document: Any) -> Any:
        origin = self.origin
        try:
            if isinstance(origin, Selector):
                return origin.find(document)
            if isinstance(origin, Constant):
                return copy.deepcopy(origin.value)
            return origin.render(document)
        except (SelectorError, TemplateProblem) as exc:
            raise FieldError(str(exc)) from None

    def _truncated(self, value: Any, texts: list[str] | None) -> Any:
        limit = self.truncate
        assert limit is not None
        if texts is not None and self.join is not None:
            return truncate_items(texts, self.join, limit)
        if isinstance(value, list):
            raise FieldError("truncate: got a list; join it first to cut at whole items")
        return value[:limit] if isinstance(value, str) else value

    def _check_length(self, value: Any) -> Any:
        limit = self.max_len
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise FieldError(f"max_len: {len(value)} characters, at most {limit} allowed")
        return value

    def __repr__(self) -> str:
        return f"FieldSpec({self.source!r})"


def _each(value: Any, steps: tuple[Callable[[Any], Any], ...]) -> Any:
    """``steps`` applied to ``value``, or to each item of it when it is a list."""
    if not steps:
        return value
    if isinstance(value, list):
        return [_apply(item, steps, index) for index, item in enumerate(value)]
    return _apply(value, steps, None)


def _apply(value: Any, steps: tuple[Callable[[Any], Any], ...], index: int | None) -> Any:
    try:
        for step in steps:
            value = step(value)
    except FieldError as exc:
        if index is None:
            raise
        raise FieldError(f"item {index}: {exc}") from None
    return value

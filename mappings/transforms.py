"""The transforms and checks of a field spec, one function each, on plain JSON values.

Each raises `FieldError` with a message meant for the person who wrote the mapping (or for
the CRM, in a 422); the caller adds which field and which selector it was. Values in
messages are shortened, so an error never echoes a whole CRM body.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

TYPES: Final = ("string", "integer", "number", "boolean", "list", "date", "datetime")
ISO: Final = "iso"

# strptime directives that read a time of day: without one, `date.from` reads a calendar day.
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%X", "%c", "%z", "%Z")
_INTEGER_TEXT = re.compile(r"[-+]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
_SAMPLE = dt.datetime(2001, 2, 3, 4, 5, 6, 7000, tzinfo=dt.UTC)


class FieldError(ValueError):
    """A transform or check refused the value; the message says why."""


def shown(value: Any, width: int = 40) -> str:
    """A value for an error message: its repr, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def kind_of(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def as_text(value: Any) -> str:
    """A scalar as text: numbers as JSON writes them, booleans as true/false."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise FieldError(f"{kind_of(value)} cannot be written as text")


# --- map --------------------------------------------------------------------------------------


def map_key(value: Any) -> tuple[str, Any] | None:
    """How ``value`` is looked up in a ``map``: by kind and value, so 1 and true differ
    (Python's ``1 == True`` must not make them the same key) and 1 and "1" differ too."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    return None


def apply_map(value: Any, table: Mapping[tuple[str, Any], Any]) -> Any:
    key = map_key(value)
    if key is not None and key in table:
        return table[key]
    return value


# --- date -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateFormat:
    """``date: {from, to}``: a strptime format or "iso" to read, a strftime format or "iso"
    to write."""

    source: str = ISO
    target: str = ISO

    def apply(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldError(f"date: expected text, got {kind_of(value)}")
        moment = self._read(value.strip())
        if self.target == ISO:
            return moment.isoformat()
        try:
            return moment.strftime(self.target)
        except (ValueError, OverflowError) as exc:
            raise FieldError(
                f"date: cannot write {shown(value)} as {self.target!r}: {exc}"
            ) from None

    def _read(self, text: str) -> dt.date | dt.datetime:
        if self.source == ISO:
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise FieldError(f"date: {shown(text)} is not an ISO 8601 date or time") from None
        try:
            moment = dt.datetime.strptime(text, self.source)
        except ValueError:
            raise FieldError(f"date: {shown(text)} does not match {self.source!r}") from None
        if not any(directive in self.source for directive in _TIME_DIRECTIVES):
            return moment.date()
        return moment


def check_date_format(text: str, *, reading: bool) -> str | None:
    """Why ``text`` is not usable as a ``date.from`` (reading) or ``date.to`` format, or None."""
    if text == ISO:
        return None
    if "%" not in text:
        return f"{text!r} has no % directive; write a strftime format such as %d/%m/%Y, or iso"
    try:
        written = _SAMPLE.strftime(text)
        if reading:
            dt.datetime.strptime(written, text)
    except ValueError as exc:
        return f"{text!r} is not a usable format: {exc}"
    return None


# --- join, truncate ---------------------------------------------------------------------------


def join_items(items: list[Any], separator: str) -> list[str]:
    """The texts ``join`` writes: nulls are left out, lists and objects refused."""
    texts = []
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, list | tuple | Mapping):
            raise FieldError(f"join: item {index} is {kind_of(item)}, not a plain value")
        texts.append(as_text(item))
    return texts


def truncate_items(texts: list[str], separator: str, limit: int) -> str:
    """As many leading items as fit in ``limit`` characters, joined: never half an item."""
    kept: list[str] = []
    size = 0
    for text in texts:
        grown = size + len(text) + (len(separator) if kept else 0)
        if grown > limit:
            break
        kept.append(text)
        size = grown
    return separator.join(kept)


# --- type -------------------------------------------------------------------------------------


def convert(value: Any, type_name: str) -> Any:
    """``value`` as ``type_name`` when that loses nothing, else FieldError. Null stays null."""
    if value is None:
        return None
    converter = _CONVERTERS[type_name]
    return converter(value)


def _to_string(value: Any) -> str:
    if isinstance(value, list | tuple | Mapping):
        raise FieldError(f"type string: got {kind_of(value)} (join it first)")
    return as_text(value)


def _to_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        try:
            return int(value.strip())
        except ValueError:  # more digits than Python converts
            pass
    raise FieldError(f"type integer: {shown(value)} is not a whole number")


def _to_number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            try:
                return int(text)
            except ValueError:
                pass
        number = float(text)
        if math.isfinite(number):
            return number
    raise FieldError(f"type number: {shown(value)} is not a number")


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise FieldError(f"type boolean: {shown(value)} is not true or false")


def _to_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _to_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise FieldError(
        f"type date: {shown(value)} is not an ISO date (YYYY-MM-DD); a date transform can "
        "convert other forms"
    )


def _to_datetime(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            pass
        else:
            raise FieldError(f"type datetime: {shown(value)} has no time of day")
        try:
            return dt.datetime.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise FieldError(f"type datetime: {shown(value)} is not an ISO 8601 date and time")


_CONVERTERS = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "list": _to_list,
    "date": _to_date,
    "datetime": _to_datetime,
}

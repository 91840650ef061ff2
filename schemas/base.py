"""What every schema of our own formats shares.

Text in our formats is checked as a whole, before any field sees it: ``json.loads`` accepts
``"\\ud800"`` (a lone surrogate) and ``"\\u0000"`` (NUL) escapes, but a lone surrogate cannot
be encoded as UTF-8 (it would crash whatever writes it later: a log, a request, a database)
and PostgreSQL refuses NUL in text and JSON. So `StrictSchema` refuses both wherever they
are: in any string value, in lists and nested objects, and in object keys, with an error at
the dotted path of the offending value (``data.title``, ``data.tag_ids.0``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

ID = validate.Length(min=1, max=200)
"""Ids of ours, the CRM's and GHL's: never empty, never longer than the store keeps."""

RECORD_MAX_KEYS = 20
RECORD_KEY = validate.Regexp(
    r"^[A-Za-z0-9_]{1,64}$", error="Record keys are 1 to 64 letters, digits or underscores."
)
RECORD_VALUE = validate.Length(max=512)


def record_field() -> fields.Dict:
    """``record``: the CRM record(s) a write-back goes to, e.g. ``{"contact_id": "Contact.1.31"}``.

    Strings only, at most 20 keys: it names records, it does not carry data.
    """
    return fields.Dict(
        keys=fields.String(validate=RECORD_KEY),
        values=fields.String(validate=RECORD_VALUE),
        load_default=None,
        validate=validate.Length(max=RECORD_MAX_KEYS, error="A record names at most {max} fields."),
    )


_UNSAFE = re.compile("[\x00\ud800-\udfff]")
"""NUL, and surrogate code points: after JSON decoding any surrogate left alone is lone."""


def unsafe_character(text: str) -> str | None:
    """The first character of `text` that cannot be kept as text, described; else None."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "U+0000 (NUL)"
    return f"U+{ord(char):04X} (a lone surrogate)"


def escape_unsafe(text: str) -> str:
    """`text` with NUL and surrogates written as ``\\uXXXX``, safe to show in an error."""
    return _UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04X}", text)


def text_errors(value: Any) -> dict[str, list[str]]:
    """Every string in `value` that holds an unsafe character, by dotted path.

    Walks with an explicit stack rather than recursion, so no input is deep enough to raise
    RecursionError. A refused key is reported at its path with the bad characters escaped,
    and what it holds is not looked into (its path could not be named).
    """
    errors: dict[str, list[str]] = {}
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = unsafe_character(item)
            if found is not None:
                message = f"Contains {found}, which is not allowed in text."
                errors.setdefault(path or "_schema", []).append(message)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                name = str(key)
                found = unsafe_character(name)
                if found is not None:
                    message = f"The field name contains {found}, which is not allowed in text."
                    errors.setdefault(_join(path, escape_unsafe(name)), []).append(message)
                else:
                    stack.append((_join(path, name), child))
        elif isinstance(item, list | tuple):
            stack.extend((_join(path, str(index)), child) for index, child in enumerate(item))
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class StrictSchema(Schema):
    """Our own formats refuse unknown fields, so a typo is an error that names the field.

    They also refuse text that is not safe to keep (NUL, lone surrogates) anywhere in their
    input; the errors are keyed by dotted path, the form `flatten_errors` gives.
    """

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unsafe_text(self, data: Any, **_: Any) -> Any:
        errors = text_errors(data)
        if errors:
            raise ValidationError(errors)
        return data

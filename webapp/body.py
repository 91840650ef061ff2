"""A webhook's body, read and decoded without trusting it.

    body = read_body(request, limit)     # bytes; 413 over the limit, 400 if it cannot be read
    payload = parse_json(body)           # the decoded JSON; BodyRefused with field errors

`read_body` reads at most ``limit + 1`` bytes, whether the size is declared (Content-Length)
or not (Transfer-Encoding: chunked), so a body is never cut to the limit and then judged by
what is left. `parse_json` is `json.loads` made safe for hostile input: it checks the nesting
depth before the (recursive) decoder runs, and refuses what Python's decoder would accept but
JSON does not define (NaN, Infinity, numbers out of range) and keys given twice in one object.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate, count
from operator import sub
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from schemas.base import escape_unsafe

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; our events need 3."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted: more digits than any field could mean, and far fewer
than the 4,300 past which Python refuses to convert a string to an int."""

_READ_SIZE = 64 * 1024

# A JSON string: quotes around anything but a quote or backslash, or an escape. Possessive
# quantifiers keep the match linear, so a long string cannot make it backtrack.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}\"]+")
# Opening brackets count +1 and closing ones -1; as bytes 2 and 0, less one per position.
_BRACKET_WEIGHTS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})


class BodyRefused(Exception):
    """The body is not JSON we accept; `errors` says why, by dotted path (`_body`: all of it)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class _Unacceptable(ValueError):
    """Raised from inside the decoder's hooks: a value JSON allows but we cannot keep."""


def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most `limit` bytes; RequestEntityTooLarge past it.

    A declared Content-Length over the limit is refused before anything is read. Otherwise
    at most ``limit + 1`` bytes are read: one more than allowed proves the body too large.
    A stream that breaks off or is malformed (bad chunk framing) is a 400, not a 500,
    whichever server parsed it.
    """
    try:
        # werkzeug bounds a declared body by its Content-Length and a streamed one by the
        # maximum given here; a stream the server does not terminate reads as empty.
        stream = get_input_stream(request.environ, max_content_length=limit + 1)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = stream.read(min(_READ_SIZE, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except HTTPException:
        raise
    except Exception as exc:  # each server raises its own errors for a broken stream
        raise BadRequest(f"The body could not be read: {exc}") from exc
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def is_json_media_type(mimetype: str) -> bool:
    """`application/json` or `application/*+json` (parameters such as charset already cut)."""
    kind = mimetype.lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


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


def parse_json(body: bytes) -> Any:
    """Decode `body` as strict JSON in UTF-8; BodyRefused naming what is wrong and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refused(f"Body is not UTF-8: {exc}") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise _refused(f"JSON is nested deeper than {MAX_DEPTH} levels.")
    duplicates: list[_Object] = []
    try:
        payload = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, duplicates),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except ValueError as exc:  # JSONDecodeError, or _Unacceptable from a hook
        raise _refused(f"Body is not valid JSON: {exc}") from None
    if duplicates:
        raise BodyRefused(_duplicate_errors(payload))
    return payload


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


def _duplicate_errors(payload: Any) -> dict[str, list[str]]:
    """`{path of key: ["Given more than once…"]}` for each key repeated in an object."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Object):
            for key in item.repeated:
                errors[_join(path, key)] = ["Given more than once in one object; give it once."]
        if isinstance(item, Mapping):
            stack.extend((_join(path, key), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((_join(path, str(index)), child) for index, child in enumerate(item))
    return errors


def _join(path: str, name: str) -> str:
    # Escaped so that a key holding NUL or a lone surrogate can be shown in the answer.
    name = escape_unsafe(name)
    return f"{path}.{name}" if path else name


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Unacceptable(f"a number has {len(literal)} digits; at most {MAX_NUMBER_CHARS}.")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Unacceptable(f"a number has {len(literal)} characters; at most {MAX_NUMBER_CHARS}.")
    value = float(literal)
    if not math.isfinite(value):
        raise _Unacceptable(f"the number {literal} is out of range.")
    return value


def _parse_constant(name: str) -> Any:
    raise _Unacceptable(f"{name} is not a JSON value.")


def _refused(message: str) -> BodyRefused:
    return BodyRefused({"_body": [message]})

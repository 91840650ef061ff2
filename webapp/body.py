"""A webhook's body, read and decoded without trusting it.

    body = read_body(request, limit)     # bytes; 413 over the limit, 400 if it cannot be read
    payload = parse_json(body)           # the decoded JSON; BodyRefused with field errors

`read_body` reads at most ``limit + 1`` bytes, whether the size is declared (Content-Length)
or not (Transfer-Encoding: chunked), so a body is never cut to the limit and then judged by
what is left. `parse_json` decodes with `socialbridge.strict_json` (bounded nesting and
numbers; no NaN, Infinity or key given twice) and words its refusals as our 422 answers do:
field errors by dotted path, `_body` for the body as a whole.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from schemas.base import escape_unsafe
from socialbridge import strict_json
from socialbridge.strict_json import KeyPath, NotStrictJSON, Problem

_READ_SIZE = 64 * 1024


class BodyRefused(Exception):
    """The body is not JSON we accept; `errors` says why, by dotted path (`_body`: all of it)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


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


def parse_json(body: bytes) -> Any:
    """Decode `body` as strict JSON in UTF-8; BodyRefused naming what is wrong and where."""
    try:
        return strict_json.loads(body)
    except NotStrictJSON as exc:
        raise BodyRefused(_errors(exc)) from None


def _errors(exc: NotStrictJSON) -> dict[str, list[str]]:
    """The field errors of a refused body: `_body` for all of it, a path per repeated key."""
    match exc.problem:
        case Problem.NOT_UTF8:
            return _body_error(f"Body is not UTF-8: {exc.detail}")
        case Problem.TOO_DEEP:
            return _body_error(f"JSON is {exc.detail}.")
        case Problem.INVALID:
            return _body_error(f"Body is not valid JSON: {exc.detail}")
        case Problem.REPEATED_KEYS:
            return {
                _dotted(path): ["Given more than once in one object; give it once."]
                for path in exc.repeated
            }


def _dotted(path: KeyPath) -> str:
    return reduce(_join, path, "")


def _join(path: str, name: str) -> str:
    # Escaped so that a key holding NUL or a lone surrogate can be shown in the answer.
    name = escape_unsafe(name)
    return f"{path}.{name}" if path else name


def _body_error(message: str) -> dict[str, list[str]]:
    return {"_body": [message]}

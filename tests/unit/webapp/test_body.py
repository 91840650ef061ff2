"""Reading and decoding a webhook body: size limits, media types, and strict JSON's refusals
worded as field errors (the rules themselves: tests/unit/socialbridge/test_strict_json.py)."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from socialbridge.strict_json import MAX_DEPTH, nesting_depth
from tests.unit.socialbridge.mangled import mangled
from webapp.body import BodyRefused, is_json_media_type, parse_json, read_body

LIMIT = 1024


def request_with(body: bytes, *, chunked: bool) -> Request:
    """A request as a WSGI server hands it on: with Content-Length, or de-chunked."""
    if chunked:
        builder = EnvironBuilder(
            method="POST",
            input_stream=io.BytesIO(body),
            headers={"transfer-encoding": "chunked"},
        )
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    else:
        environ = EnvironBuilder(method="POST", data=body).get_environ()
    return Request(environ)


class CountingStream(io.BytesIO):
    """Remembers how many bytes were read from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.taken += count
        return count


# --- read_body ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
def test_a_body_up_to_the_limit_is_read_whole(chunked: bool, size: int) -> None:
    body = bytes(random.Random(size).randrange(256) for _ in range(size))

    assert read_body(request_with(body, chunked=chunked), LIMIT) == body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT])
def test_a_body_over_the_limit_is_too_large(chunked: bool, size: int) -> None:
    with pytest.raises(RequestEntityTooLarge):
        read_body(request_with(b"x" * size, chunked=chunked), LIMIT)


def test_a_streamed_body_is_read_no_further_than_one_byte_past_the_limit() -> None:
    stream = CountingStream(b"x" * (100 * LIMIT))
    environ = EnvironBuilder(method="POST", input_stream=stream).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True

    with pytest.raises(RequestEntityTooLarge):
        read_body(Request(environ), LIMIT)

    assert stream.taken == LIMIT + 1


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    stream = CountingStream(b"x" * (2 * LIMIT))
    environ = EnvironBuilder(method="POST", input_stream=stream).get_environ()
    environ["CONTENT_LENGTH"] = str(2 * LIMIT)

    with pytest.raises(RequestEntityTooLarge):
        read_body(Request(environ), LIMIT)

    assert stream.taken == 0


def test_without_length_or_server_termination_nothing_is_read() -> None:
    # A stream the server does not end could block forever; werkzeug reads it as empty.
    environ = EnvironBuilder(method="POST", input_stream=io.BytesIO(b"{}")).get_environ()
    environ.pop("CONTENT_LENGTH", None)

    assert read_body(Request(environ), LIMIT) == b""


def test_a_stream_the_server_cannot_parse_is_a_bad_request() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise LookupError("No more data after: b'7\\r\\nabc'")

        def readinto(self, buffer: Any) -> int:
            raise LookupError("No more data after: b'7\\r\\nabc'")

    environ = EnvironBuilder(method="POST", input_stream=Broken()).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True

    with pytest.raises(BadRequest) as refused:
        read_body(Request(environ), LIMIT)

    assert refused.value.description == (
        "The body could not be read: No more data after: b'7\\r\\nabc'"
    )


# --- is_json_media_type ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mimetype", "accepted"),
    [
        ("application/json", True),
        ("APPLICATION/JSON", True),
        ("application/merge-patch+json", True),
        ("application/vnd.api+json", True),
        ("", False),
        ("text/plain", False),
        ("text/json", False),
        ("application/jsonp", False),
        ("application/json-seq", False),
        ("multipart/form-data", False),
        ("+json", False),
    ],
)
def test_json_media_types(mimetype: str, accepted: bool) -> None:
    assert is_json_media_type(mimetype) is accepted


# --- parse_json -----------------------------------------------------------------------------


def refusal(body: bytes) -> dict[str, list[str]]:
    with pytest.raises(BodyRefused) as refused:
        parse_json(body)
    return refused.value.errors


def test_ordinary_json_decodes_as_json_loads_does() -> None:
    body = b'{"type": "x", "data": {"ids": ["a", "b"], "n": 3, "f": -1.5e3, "ok": true}}'

    assert parse_json(body) == json.loads(body)


def test_exactly_the_deepest_nesting_allowed_decodes() -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH

    assert nesting_depth(body.decode()) == MAX_DEPTH
    assert isinstance(parse_json(body), list)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 33 + b"]" * 33, "JSON is nested deeper than 32 levels."),
        (b'{"a":' * 200_000, "JSON is nested deeper than 32 levels."),
        (
            b"\xff{}",
            "Body is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
        (
            b"{",
            "Body is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (b"[1e400]", "Body is not valid JSON: the number 1e400 is out of range."),
        (b"[-1e400]", "Body is not valid JSON: the number -1e400 is out of range."),
        (b"[NaN]", "Body is not valid JSON: NaN is not a JSON value."),
        (b"[Infinity]", "Body is not valid JSON: Infinity is not a JSON value."),
        (b"9" * 101, "Body is not valid JSON: a number has 101 digits; at most 100."),
        (b"0." + b"1" * 99, "Body is not valid JSON: a number has 101 characters; at most 100."),
    ],
)
def test_what_json_loads_would_choke_on_or_let_through_is_refused(
    body: bytes, message: str
) -> None:
    assert refusal(body) == {"_body": [message]}


def test_a_hundred_digit_number_is_still_a_number() -> None:
    assert parse_json(b"9" * 100) == int("9" * 100)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (b'{"a": 1, "a": 2}', {"a": ["Given more than once in one object; give it once."]}),
        (
            b'{"data": {"tag_ids": [{"x": 1, "y": 2, "x": 3, "y": 4}]}}',
            {
                "data.tag_ids.0.x": ["Given more than once in one object; give it once."],
                "data.tag_ids.0.y": ["Given more than once in one object; give it once."],
            },
        ),
        (
            b'[{"\\u0000": 1, "\\u0000": 2}]',
            {"0.\\u0000": ["Given more than once in one object; give it once."]},
        ),
    ],
)
def test_a_key_given_twice_is_named_by_its_path(body: bytes, errors: dict[str, Any]) -> None:
    assert refusal(body) == errors


def test_lone_surrogates_and_nul_decode_here_and_are_left_to_the_schemas() -> None:
    assert parse_json(b'["\\ud800", "\\u0000"]') == ["\ud800", "\x00"]


def test_any_mangled_body_is_decoded_or_refused_never_raises_otherwise() -> None:
    rng = random.Random(7)
    seed = json.dumps(
        {"type": "post.published", "timestamp": "2026-01-01T00:00:00Z", "data": {"a": [1, "b"]}}
    ).encode()
    decoded = 0
    refusals: list[dict[str, list[str]]] = []
    for body in mangled(seed, rng, 3000):
        try:
            parse_json(body)
        except BodyRefused as refused:
            refusals.append(refused.errors)
        else:
            decoded += 1
    # Both outcomes happen, and every refusal says something.
    assert decoded > 0
    assert refusals
    assert all(errors and all(errors.values()) for errors in refusals)

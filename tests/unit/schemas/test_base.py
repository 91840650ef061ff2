"""The strict base schema: unknown fields refused, and text that cannot be kept refused."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError, fields

from schemas.base import StrictSchema, escape_unsafe, text_errors, unsafe_character
from schemas.events import flatten_errors


class NoteSchema(StrictSchema):
    title = fields.String()
    tags = fields.List(fields.String())
    extra = fields.Dict()


def errors_of(payload: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        NoteSchema().load(payload)
    return flatten_errors(refused.value.messages)


NUL = "Contains U+0000 (NUL), which is not allowed in text."


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", None),
        ("plain", None),
        ("\u00e9\u4e2d\N{GRINNING FACE}\t\n\x01\x7f\ufffd\uffff", None),
        ("a\x00b", "U+0000 (NUL)"),
        ("\ud800", "U+D800 (a lone surrogate)"),
        ("x\udfff", "U+DFFF (a lone surrogate)"),
        ("\udbff\x00", "U+DBFF (a lone surrogate)"),
    ],
)
def test_unsafe_character_finds_the_first_nul_or_surrogate(text: str, found: str | None) -> None:
    assert unsafe_character(text) == found


def test_escape_unsafe_writes_only_the_unsafe_characters_as_escapes() -> None:
    assert escape_unsafe("t\u00e9\x00x\ud800") == "t\u00e9\\u0000x\\uD800"


def test_text_errors_walks_values_lists_and_keys_by_dotted_path() -> None:
    value = {
        "ok": "fine",
        "bad": "\x00",
        "list": ["a", ["b", "\ud801"]],
        "k\x00ey": {"ignored": "\x00"},
        "nested": {"deeper": {"deepest": "\udc00"}},
        "numbers": [1, 2.5, None, True],
    }

    assert text_errors(value) == {
        "bad": [NUL],
        "list.1.1": ["Contains U+D801 (a lone surrogate), which is not allowed in text."],
        "k\\u0000ey": ["The field name contains U+0000 (NUL), which is not allowed in text."],
        "nested.deeper.deepest": [
            "Contains U+DC00 (a lone surrogate), which is not allowed in text."
        ],
    }


def test_text_errors_of_clean_input_is_empty() -> None:
    assert text_errors({"a": ["b", {"c": "d"}], "e": 1}) == {}


def test_text_errors_does_not_recurse_so_no_depth_breaks_it() -> None:
    value: Any = "\x00"
    for _ in range(100_000):
        value = [value]

    assert text_errors(value) == {".".join(["0"] * 100_000): [NUL]}


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": "a\x00"}, {"title": [NUL]}),
        ({"tags": ["x", "\x00"]}, {"tags.1": [NUL]}),
        ({"extra": {"deep": ["\x00"]}}, {"extra.deep.0": [NUL]}),
        (
            {"ti\ud800tle": "t"},
            {
                "ti\\uD800tle": [
                    "The field name contains U+D800 (a lone surrogate), "
                    "which is not allowed in text."
                ]
            },
        ),
    ],
)
def test_every_strict_schema_refuses_unsafe_text_anywhere(
    payload: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    assert errors_of(payload) == errors


def test_a_strict_schema_still_refuses_unknown_fields() -> None:
    assert errors_of({"colour": "red"}) == {"colour": ["Unknown field."]}


def test_clean_text_loads() -> None:
    loaded = NoteSchema().load({"title": "caf\u00e9 \N{GRINNING FACE}", "tags": ["a"]})

    assert loaded == {"title": "caf\u00e9 \N{GRINNING FACE}", "tags": ["a"]}

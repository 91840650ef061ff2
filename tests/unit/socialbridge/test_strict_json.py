"""Strict JSON: what `loads` decodes, what it refuses and how it says so, and nesting depth."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from socialbridge.strict_json import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    NotStrictJSON,
    Problem,
    loads,
    nesting_depth,
)
from tests.unit.socialbridge.mangled import mangled


def refusal(raw: bytes, **limits: Any) -> NotStrictJSON:
    with pytest.raises(NotStrictJSON) as refused:
        loads(raw, **limits)
    return refused.value


# --- loads ----------------------------------------------------------------------------------


def test_ordinary_json_decodes_as_json_loads_does() -> None:
    raw = b'{"type": "x", "data": {"ids": ["a", "b"], "n": 3, "f": -1.5e3, "ok": [true, null]}}'

    assert loads(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "problem", "detail"),
    [
        (
            b"\xff{}",
            Problem.NOT_UTF8,
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        (b"[" * 33 + b"]" * 33, Problem.TOO_DEEP, "nested deeper than 32 levels"),
        (
            b"{",
            Problem.INVALID,
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (b"", Problem.INVALID, "Expecting value: line 1 column 1 (char 0)"),
        (b"[1e400]", Problem.INVALID, "the number 1e400 is out of range."),
        (b"[NaN]", Problem.INVALID, "NaN is not a JSON value."),
        (b"[-Infinity]", Problem.INVALID, "-Infinity is not a JSON value."),
        (b"9" * 101, Problem.INVALID, "a number has 101 digits; at most 100."),
        (b"0." + b"1" * 99, Problem.INVALID, "a number has 101 characters; at most 100."),
        (b'{"a": 1, "a": 2}', Problem.REPEATED_KEYS, "a key is given more than once"),
    ],
)
def test_what_json_loads_would_choke_on_or_let_through_is_refused(
    raw: bytes, problem: Problem, detail: str
) -> None:
    refused = refusal(raw)

    assert (refused.problem, refused.detail) == (problem, detail)


def test_the_limits_are_inclusive() -> None:
    assert isinstance(loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH), list)
    assert loads(b"9" * MAX_NUMBER_CHARS) == int("9" * MAX_NUMBER_CHARS)


def test_repeated_keys_are_named_by_path_in_the_order_their_objects_closed() -> None:
    raw = b'{"a": 1, "a": 2, "b": [{"x": 1, "y": 2, "x": 3, "y": 4}], "c": {"z": 0, "z": 0}}'

    assert refusal(raw).repeated == (("b", "0", "x"), ("b", "0", "y"), ("c", "z"), ("a",))


def test_an_object_dropped_by_a_repeated_key_is_not_named() -> None:
    # Its own repeated key has no path left: the key that dropped it is the one to fix.
    assert refusal(b'{"a": {"x": 1, "x": 2}, "a": 3}').repeated == (("a",),)


def test_keys_are_given_as_decoded() -> None:
    assert refusal(b'[{"\\u0000": 1, "\\u0000": 2}]').repeated == (("0", "\x00"),)


def test_a_body_broken_after_a_repeated_key_is_invalid() -> None:
    assert refusal(b'{"a": 1, "a": 2').problem is Problem.INVALID


def test_without_a_depth_bound_the_decoder_recursion_is_the_limit() -> None:
    deep = b"[" * 100 + b"]" * 100

    assert isinstance(loads(deep, max_depth=None), list)
    refused = refusal(b"[" * 100_000 + b"]" * 100_000, max_depth=None)
    assert (refused.problem, refused.detail) == (Problem.TOO_DEEP, "nested too deeply")


def test_without_a_number_bound_pythons_own_limits_hold() -> None:
    long_int = b"9" * (MAX_NUMBER_CHARS + 50)
    assert loads(long_int, max_number_chars=None) == int(long_int)

    huge_int = refusal(b"9" * 5000, max_number_chars=None)
    assert huge_int.problem is Problem.INVALID
    assert "4300" in huge_int.detail

    out_of_range = refusal(b"1" * 500 + b"e999", max_number_chars=None)
    assert out_of_range.problem is Problem.INVALID
    assert out_of_range.detail == f"the number {'1' * MAX_NUMBER_CHARS}… is out of range."


def test_any_mangled_body_is_decoded_or_refused_never_raises_otherwise() -> None:
    rng = random.Random(11)
    seed = json.dumps({"type": "INSTALL", "data": {"a": [1, "b", {"c": 2.5}]}}).encode()
    outcomes: dict[str, int] = {}
    refusals: list[NotStrictJSON] = []
    for raw in mangled(seed, rng, 2000):
        for limits in ({}, {"max_depth": None, "max_number_chars": None}):
            try:
                loads(raw, **limits)
            except NotStrictJSON as refused:
                refusals.append(refused)
                outcomes[refused.problem] = outcomes.get(refused.problem, 0) + 1
            else:
                outcomes["decoded"] = outcomes.get("decoded", 0) + 1
    # Every refusal says something, and names keys exactly when keys are its reason.
    assert all(refused.detail for refused in refusals)
    assert all(
        (refused.problem is Problem.REPEATED_KEYS) == bool(refused.repeated) for refused in refusals
    )
    assert outcomes.keys() >= {"decoded", Problem.INVALID, Problem.NOT_UTF8}


# --- nesting_depth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("12", 0),
        ('"[[["', 0),
        ("{}", 1),
        ("[[]]", 2),
        ('{"a": [{"b": {}}]}', 4),
        ('["]", "\\"[", [1]]', 2),
        ('{"a\\\\": [[]]}', 3),
        ("[]" * 1000, 1),
        ("[" * 5000, 5000),
        # After an unterminated string the decoder stops: nothing there counts.
        ('[["abc [[[[[[', 2),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def reference_depth(value: Any) -> int:
    """The nesting depth of a decoded value, the obvious (recursive) way."""
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


def random_json(rng: random.Random, depth: int) -> Any:
    """A JSON value whose strings are full of brackets, quotes and backslashes."""
    text = "".join(rng.choice('[]{}"\\ a\u00e9') for _ in range(rng.randrange(6)))
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([text, 1, 2.5, None, True])
    if rng.random() < 0.5:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {text + str(i): random_json(rng, depth - 1) for i in range(rng.randrange(4))}


def test_nesting_depth_agrees_with_the_decoded_structure() -> None:
    rng = random.Random(5)
    for _ in range(500):
        value = random_json(rng, 8)
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
            assert nesting_depth(text) == reference_depth(value), text

"""Each transform and check of a field spec, and the fixed order they run in."""

from __future__ import annotations

from typing import Any

import pytest

from mappings import ABSENT, FieldSpec
from mappings.transforms import FieldError
from tests.unit.mappings.conftest import spec_mapping


def spec(text: str) -> FieldSpec:
    return spec_mapping(text).outbound["post.tags_synced"]["F"]


def value_of(text: str, document: Any) -> Any:
    return spec(text).evaluate(document)


def error_of(text: str, document: Any) -> str:
    with pytest.raises(FieldError) as caught:
        spec(text).evaluate(document)
    return str(caught.value)


# --- sources ------------------------------------------------------------------------------


def test_a_plain_string_is_a_selector() -> None:
    assert value_of("$.a.b", {"a": {"b": 5}}) == 5


def test_nothing_matched_is_absent() -> None:
    assert value_of("$.missing", {"a": 1}) is ABSENT


def test_value_is_a_constant_and_a_list_constant_is_a_fresh_copy() -> None:
    assert value_of("{value: 42}", {}) == 42
    constant = spec("{value: [a, b]}")
    first = constant.evaluate({})
    first.append("changed")
    assert constant.evaluate({}) == ["a", "b"]


def test_template_renders_over_the_document() -> None:
    assert value_of("{template: '{{ a }}-{{ doc.b }}'}", {"a": 1, "b": "x"}) == "1-x"


# --- default ------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [{}, {"a": None}, {"a": ""}])
def test_default_replaces_nothing_null_and_empty_text(document: dict[str, Any]) -> None:
    assert value_of("{path: $.a, default: none}", document) == "none"


@pytest.mark.parametrize("found", [0, False, [], "x"])
def test_default_leaves_any_other_value(found: Any) -> None:
    assert value_of("{path: $.a, default: none}", {"a": found}) == found


def test_a_default_list_is_a_whole_value() -> None:
    assert value_of("{path: $.a, default: [x, y]}", {}) == ["x", "y"]


# --- map ----------------------------------------------------------------------------------


def test_map_replaces_known_values_and_passes_others_unchanged() -> None:
    text = "{path: $.a, map: {fb: facebook, ig: instagram}}"
    assert value_of(text, {"a": "fb"}) == "facebook"
    assert value_of(text, {"a": "tiktok"}) == "tiktok"


def test_map_applies_to_each_item_of_a_list() -> None:
    text = "{path: '$.a[*]', map: {fb: facebook}}"
    assert value_of(text, {"a": ["fb", "x", "fb"]}) == ["facebook", "x", "facebook"]


def test_map_keys_keep_their_yaml_kind() -> None:
    text = "{path: $.a, map: {1: one, true: yes, null: nothing, '2': two}}"
    assert value_of(text, {"a": 1}) == "one"
    assert value_of(text, {"a": True}) == "yes"  # not "one": true is not 1 here
    assert value_of(text, {"a": None}) == "nothing"
    assert value_of(text, {"a": "2"}) == "two"
    assert value_of(text, {"a": 2}) == 2  # the number 2 is not the text "2"
    assert value_of(text, {"a": "1"}) == "1"


def test_map_passes_objects_unchanged() -> None:
    assert value_of("{path: $.a, map: {x: y}}", {"a": {"x": 1}}) == {"x": 1}


# --- strip, lower, upper ------------------------------------------------------------------


def test_strip_lower_upper_change_text_only() -> None:
    assert value_of("{path: $.a, strip: true}", {"a": "  hi  "}) == "hi"
    assert value_of("{path: $.a, lower: true}", {"a": "HeLLo"}) == "hello"
    assert value_of("{path: $.a, upper: true}", {"a": "HeLLo"}) == "HELLO"
    assert value_of("{path: $.a, upper: true, strip: true}", {"a": 5}) == 5
    assert value_of("{path: $.a, strip: false}", {"a": " x "}) == " x "


def test_strip_and_lower_apply_to_each_item() -> None:
    text = "{path: '$.a[*]', strip: true, lower: true}"
    assert value_of(text, {"a": [" A ", "b ", 3]}) == ["a", "b", 3]


# --- date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "given", "expected"),
    [
        ("{}", "2026-11-23", "2026-11-23"),
        ("{}", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00+00:00"),
        ("{from: '%m/%d/%Y'}", "11/23/2026", "2026-11-23"),
        ("{from: '%m/%d/%Y', to: '%Y-%m-%d'}", " 11/23/2026 ", "2026-11-23"),
        ("{from: '%d.%m.%Y %H:%M'}", "23.11.2026 10:05", "2026-11-23T10:05:00"),
        ("{to: '%d/%m/%Y'}", "2026-11-23T10:00:00+01:00", "23/11/2026"),
        ("{from: iso, to: '%B %-d, %Y'}", "2026-11-23", "November 23, 2026"),
    ],
)
def test_date_reads_with_from_and_writes_with_to(date: str, given: str, expected: str) -> None:
    assert value_of(f"{{path: $.a, date: {date}}}", {"a": given}) == expected


def test_date_applies_to_each_item() -> None:
    text = "{path: '$.a[*]', date: {from: '%m/%d/%Y'}}"
    assert value_of(text, {"a": ["01/02/2026", "12/31/2026"]}) == ["2026-01-02", "2026-12-31"]


@pytest.mark.parametrize(
    ("date", "given", "message"),
    [
        ("{}", "23/11/2026", "date: '23/11/2026' is not an ISO 8601 date or time"),
        ("{from: '%m/%d/%Y'}", "2026-11-23", "date: '2026-11-23' does not match '%m/%d/%Y'"),
        ("{}", 20261123, "date: expected text, got a number"),
    ],
)
def test_date_errors(date: str, given: Any, message: str) -> None:
    assert error_of(f"{{path: $.a, date: {date}}}", {"a": given}) == message


def test_a_date_error_in_a_list_names_the_item() -> None:
    text = "{path: '$.a[*]', date: {}}"
    assert error_of(text, {"a": ["2026-01-02", "soon"]}) == (
        "item 1: date: 'soon' is not an ISO 8601 date or time"
    )


# --- join, truncate -----------------------------------------------------------------------


def test_join_makes_one_text_of_a_list() -> None:
    text = "{path: '$.a[*]', join: ', '}"
    assert value_of(text, {"a": ["x", 2, True, None, 1.5]}) == "x, 2, true, 1.5"


def test_join_leaves_a_single_value_as_it_is() -> None:
    assert value_of("{path: $.a, join: ', '}", {"a": "alone"}) == "alone"


def test_join_refuses_nested_values() -> None:
    assert error_of("{path: $.a, join: ','}", {"a": ["x", {"y": 1}]}) == (
        "join: item 1 is an object, not a plain value"
    )


def test_truncate_cuts_text() -> None:
    assert value_of("{path: $.a, truncate: 5}", {"a": "abcdefgh"}) == "abcde"
    assert value_of("{path: $.a, truncate: 5}", {"a": "abc"}) == "abc"
    assert value_of("{path: $.a, truncate: 5}", {"a": 123456789}) == 123456789


def test_truncate_after_join_keeps_whole_items_only() -> None:
    text = "{path: '$.a[*]', join: ', ', truncate: 12}"
    # "alpha, beta" is 11 characters; adding ", gamma" would cut gamma in half.
    assert value_of(text, {"a": ["alpha", "beta", "gamma"]}) == "alpha, beta"
    assert value_of(text, {"a": ["alpha", "beta!!"]}) == "alpha"  # "alpha, beta!!" is 13
    assert value_of(text, {"a": ["a-very-long-first-item"]}) == ""


def test_truncate_keeps_items_that_fit_exactly() -> None:
    text = "{path: '$.a[*]', join: ',', truncate: 5}"
    assert value_of(text, {"a": ["ab", "cd", "e"]}) == "ab,cd"


def test_truncate_refuses_a_list_that_was_not_joined() -> None:
    assert error_of("{path: $.a, truncate: 3}", {"a": ["x", "y"]}) == (
        "truncate: got a list; join it first to cut at whole items"
    )


# --- type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "given", "expected"),
    [
        ("string", "x", "x"),
        ("string", 31, "31"),
        ("string", 1.5, "1.5"),
        ("string", True, "true"),
        ("integer", 7, 7),
        ("integer", 7.0, 7),
        ("integer", " 42 ", 42),
        ("integer", "-3", -3),
        ("number", 2.5, 2.5),
        ("number", "2.5", 2.5),
        ("number", "10", 10),
        ("number", "1e3", 1000.0),
        ("boolean", True, True),
        ("boolean", "TRUE", True),
        ("boolean", "false", False),
        ("boolean", 0, False),
        ("boolean", 1, True),
        ("list", [1, 2], [1, 2]),
        ("list", "one", ["one"]),
        ("date", "2026-11-23", "2026-11-23"),
        ("datetime", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00+00:00"),
        ("datetime", "2026-11-23 10:00", "2026-11-23T10:00:00"),
        ("string", None, None),
    ],
)
def test_type_converts_when_nothing_is_lost(type_name: str, given: Any, expected: Any) -> None:
    result = value_of(f"{{path: $.a, type: {type_name}}}", {"a": given})
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "given", "message"),
    [
        ("string", [[1]], "item 0: type string: got a list (join it first)"),
        ("string", {"a": 1}, "type string: got an object (join it first)"),
        ("integer", 7.5, "type integer: 7.5 is not a whole number"),
        ("integer", "7.0", "type integer: '7.0' is not a whole number"),
        ("integer", True, "type integer: True is not a whole number"),
        ("number", "ten", "type number: 'ten' is not a number"),
        ("number", "nan", "type number: 'nan' is not a number"),
        ("number", False, "type number: False is not a number"),
        ("boolean", "yes", "type boolean: 'yes' is not true or false"),
        ("boolean", 2, "type boolean: 2 is not true or false"),
        (
            "date",
            "2026-11-23T10:00:00",
            "type date: '2026-11-23T10:00:00' is not an ISO date (YYYY-MM-DD); a date "
            "transform can convert other forms",
        ),
        ("datetime", "2026-11-23", "type datetime: '2026-11-23' has no time of day"),
        ("datetime", "soon", "type datetime: 'soon' is not an ISO 8601 date and time"),
    ],
)
def test_type_refuses_what_would_lose_something(type_name: str, given: Any, message: str) -> None:
    assert error_of(f"{{path: $.a, type: {type_name}}}", {"a": given}) == message


def test_type_applies_to_each_item_except_list() -> None:
    assert value_of("{path: '$.a[*]', type: string}", {"a": [1, "b", 2.5]}) == ["1", "b", "2.5"]
    assert error_of("{path: '$.a[*]', type: integer}", {"a": [1, "b"]}) == (
        "item 1: type integer: 'b' is not a whole number"
    )
    assert value_of("{path: '$.a[*]', type: list}", {"a": ["x"]}) == ["x"]


# --- max_len, required --------------------------------------------------------------------


def test_max_len_refuses_longer_text() -> None:
    assert value_of("{path: $.a, max_len: 3}", {"a": "abc"}) == "abc"
    assert error_of("{path: $.a, max_len: 3}", {"a": "abcd"}) == (
        "max_len: 4 characters, at most 3 allowed"
    )
    assert value_of("{path: $.a, max_len: 1}", {"a": 12345}) == 12345


def test_max_len_checks_each_item() -> None:
    assert error_of("{path: '$.a[*]', max_len: 2}", {"a": ["ok", "long"]}) == (
        "item 1: max_len: 4 characters, at most 2 allowed"
    )


def test_required_refuses_nothing_and_null() -> None:
    assert error_of("{path: $.a, required: true}", {}) == "required, but nothing was found"
    assert error_of("{path: $.a, required: true}", {"a": None}) == (
        "required, but the value is null"
    )
    assert value_of("{path: $.a, required: true}", {"a": ""}) == ""
    assert value_of("{path: $.a, required: false}", {}) is ABSENT


def test_a_default_satisfies_required() -> None:
    assert value_of("{path: $.a, default: x, required: true}", {}) == "x"


# --- the order ----------------------------------------------------------------------------


def test_the_order_is_fixed_whatever_the_order_of_the_keys() -> None:
    # Written backwards; run as default, map, strip, lower, join, truncate, type, max_len.
    text = (
        "{max_len: 9, type: string, truncate: 9, join: '|', lower: true, strip: true, "
        "map: {X: ' Mapped '}, default: [X, Y], path: $.missing}"
    )
    # default [X, Y] -> map [" Mapped ", "Y"] -> strip, lower ["mapped", "y"] -> join
    # "mapped|y" (8) -> truncate 9 keeps it -> type string -> max_len 9 passes.
    assert value_of(text, {}) == "mapped|y"


def test_default_runs_before_map() -> None:
    assert value_of("{path: $.a, default: fb, map: {fb: facebook}}", {}) == "facebook"


def test_map_runs_before_strip_and_case() -> None:
    text = "{path: $.a, map: {' A ': ' Bee '}, strip: true, upper: true}"
    assert value_of(text, {"a": " A "}) == "BEE"
    # strip runs after map, so a value the map only knows stripped is not found.
    assert value_of("{path: $.a, map: {A: b}, strip: true}", {"a": " A "}) == "A"


def test_date_runs_before_join() -> None:
    text = "{path: '$.a[*]', date: {from: '%d/%m/%Y'}, join: ' to '}"
    assert value_of(text, {"a": ["01/02/2026", "03/02/2026"]}) == "2026-02-01 to 2026-02-03"


def test_truncate_runs_before_type_and_max_len() -> None:
    assert value_of("{path: $.a, truncate: 3, max_len: 3}", {"a": "abcdef"}) == "abc"
    assert value_of("{path: $.a, truncate: 2, type: integer}", {"a": "1234"}) == 12


def test_a_map_to_null_then_required_is_an_error() -> None:
    assert error_of("{path: $.a, map: {gone: null}, required: true}", {"a": "gone"}) == (
        "required, but the value is null"
    )

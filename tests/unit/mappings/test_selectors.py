"""Selectors: which JSONPaths are singular, what a match gives, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from mappings import ABSENT
from mappings.selectors import Selector, SelectorError

BODY: dict[str, Any] = {
    "event": "social_post_published",
    "post": {
        "id": "P1",
        "tags": [{"id": "t1", "n": 1}, {"id": "t2", "n": 2}, {"id": "t3", "n": 3}],
        "empty": [],
        "nothing": None,
        "a b": "spaced",
    },
    "one": [{"id": "only"}],
}


@pytest.mark.parametrize(
    "text", ["$", "$.post", "$.post.id", "$.post.tags[0]", "$.post.tags[-1].id", '$.post["a b"]']
)
def test_names_and_single_indices_are_singular(text: str) -> None:
    assert Selector(text).singular


@pytest.mark.parametrize(
    "text",
    [
        "$.post.tags[*].id",
        "$.post.*",
        "$.post.tags[0:2]",
        "$.post.tags[0,1]",
        "$..id",
        "$.post.tags[?(@.n > 1)].id",
        "$.post.tags[?(@.n > 1 && @.n < 3)].id",
    ],
)
def test_wildcards_slices_several_indices_descendants_and_filters_are_not(text: str) -> None:
    assert not Selector(text).singular


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.post.id", "P1"),
        ("$.post.tags[1].id", "t2"),
        ("$.post.tags[-1].id", "t3"),
        ('$.post["a b"]', "spaced"),
        ("$.post.nothing", None),
        ("$.post.empty", []),
        ("$.post.tags[0]", {"id": "t1", "n": 1}),
    ],
)
def test_a_singular_match_is_the_value_itself(text: str, expected: Any) -> None:
    assert Selector(text).find(BODY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.post.tags[*].id", ["t1", "t2", "t3"]),
        ("$.post.tags[0:2].id", ["t1", "t2"]),
        ("$.post.tags[?(@.n > 1)].id", ["t2", "t3"]),
        ("$.post.tags[?(@.n == 2)].id", ["t2"]),
        ("$.one[*].id", ["only"]),
    ],
)
def test_a_non_singular_path_always_gives_a_list(text: str, expected: list[Any]) -> None:
    assert Selector(text).find(BODY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "$.missing",
        "$.post.missing.deeper",
        "$.post.tags[9]",
        "$.post.tags[*].missing",
        "$.post.id[0]",
    ],
)
def test_no_match_is_absent(text: str) -> None:
    assert Selector(text).find(BODY) is ABSENT


def test_a_body_that_is_not_an_object_matches_nothing() -> None:
    assert Selector("$.event").find(["a"]) is ABSENT
    assert Selector("$.event").find("text") is ABSENT
    assert Selector("$").find("text") == "text"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("post.id", "a JSONPath selector starts with $"),
        ("$.post[", "not a valid JSONPath: Parse error near the end of string!"),
        ("$.post.`len`", "'`len`' (len) is not allowed in a mapping's selector"),
        ("$.post.`parent`", "'`parent`' (parent) is not allowed in a mapping's selector"),
        ("$.a + $.b", "'$.a + $.b' (operation) is not allowed in a mapping's selector"),
        ("$.post.tags[/n]", "'[/n]' (sortedthis) is not allowed in a mapping's selector"),
        ('$.post.tags[?(@.id =~ "t.*")]', "regular expressions (=~) are not allowed in filters"),
    ],
)
def test_refused_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        Selector(text)
    assert str(caught.value) == message


def test_deprecated_syntax_is_refused_rather_than_warned_about() -> None:
    with pytest.raises(SelectorError, match=r"^not allowed: The `\|` \(union\) operator"):
        Selector("$.a | $.b")


def test_a_deep_body_is_searched_without_crashing() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    found = Selector("$..a").find(deep)
    assert len(found) == 5000
    assert found[-1] == "leaf"

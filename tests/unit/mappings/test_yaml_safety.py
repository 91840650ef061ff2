"""The YAML a mapping is read from: duplicate keys, anchors, aliases, tags, size, depth, syntax."""

from __future__ import annotations

import pytest

from mappings import MAX_TEXT_BYTES, MappingProblem, load_mapping
from mappings.yamltree import MAX_DEPTH, MapNode, Scalar, parse_tree, resolve_plain
from tests.unit.mappings.conftest import only_problem, problems_of, spec_mapping


def test_a_duplicate_key_is_refused_naming_both_lines() -> None:
    problems = problems_of(
        """
        version: 1
        inbound:
          type: $.event
          fields:
            post_id: $.post.id
            title: $.post.title
            post_id: $.post.other
        """
    )
    assert problems == [
        MappingProblem(7, "inbound.fields.post_id", "duplicate key (first on line 5)")
    ]


def test_duplicate_keys_are_found_at_every_level_and_all_reported() -> None:
    problems = problems_of(
        """
        version: 1
        version: 1
        outbound:
          post.tags_synced:
            Note: {path: $.a, path: $.b}
        """
    )
    assert problems == [
        MappingProblem(2, "version", "duplicate key (first on line 1)"),
        MappingProblem(5, "outbound.post.tags_synced.Note.path", "duplicate key (first on line 5)"),
    ]


def test_keys_that_only_look_alike_are_not_duplicates() -> None:
    # In a map, 1 (a number) and "1" (text) are different keys: both are kept.
    mapping = spec_mapping("{path: $.a, map: {1: one, '1': text one}}")
    spec = mapping.outbound["post.tags_synced"]["F"]
    assert spec.evaluate({"a": 1}) == "one"
    assert spec.evaluate({"a": "1"}) == "text one"


def test_a_quoted_key_equal_to_a_plain_one_is_a_duplicate() -> None:
    problem = only_problem("version: 1\n'version': 1\n")
    assert problem == MappingProblem(2, "version", "duplicate key (first on line 1)")


def test_anchors_and_aliases_are_refused() -> None:
    problems = problems_of(
        """
        version: 1
        inbound:
          type: &t $.event
          id: *t
        """
    )
    assert problems == [
        MappingProblem(3, "inbound.type", "anchors (&t) are not allowed"),
        MappingProblem(4, "inbound.id", "aliases (*t) are not allowed"),
    ]


def test_billion_laughs_is_refused_without_expanding_anything() -> None:
    lines = ["version: 1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        previous, name = chr(ord("a") + index - 1), chr(ord("a") + index)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    problems = problems_of("\n".join(lines) + "\n")
    assert problems[0] == MappingProblem(2, "a", "anchors (&a) are not allowed")
    assert all("not allowed" in problem.message for problem in problems)
    # Every anchor and alias reported once: what was read stayed the size of the text.
    assert len(problems) == 1 + 8 * (1 + 9)


@pytest.mark.parametrize(
    ("text", "line", "field", "tag"),
    [
        ("version: !!int 1\n", 1, "version", "tag:yaml.org,2002:int"),
        (
            "version: 1\nx: !!python/object:os.system {}\n",
            2,
            "x",
            "tag:yaml.org,2002:python/object:os.system",
        ),
        ("version: 1\ninbound: !custom\n  type: $.a\n", 2, "inbound", "!custom"),
        ("version: ! 1\n", 1, "version", "!"),
    ],
)
def test_tags_are_refused(text: str, line: int, field: str, tag: str) -> None:
    assert problems_of(text)[0] == MappingProblem(line, field, f"tags ({tag}) are not allowed")


def test_a_text_over_64_kib_is_refused_before_it_is_read() -> None:
    text = "version: 1\n" + "# padding\n" * (MAX_TEXT_BYTES // 10)
    assert len(text.encode()) > MAX_TEXT_BYTES
    problem = only_problem(text)
    assert problem.line == 0
    assert problem.field == ""
    assert problem.message == f"the text is {len(text.encode())} bytes; a mapping is at most 64 KiB"


def test_the_size_limit_counts_utf8_bytes() -> None:
    # Under the limit in characters, over it in bytes.
    text = "version: 1\n# " + "é" * (MAX_TEXT_BYTES // 2) + "\n"
    assert len(text) < MAX_TEXT_BYTES < len(text.encode())
    assert only_problem(text).line == 0


def test_a_text_just_under_the_limit_is_read() -> None:
    text = "version: 1\n"
    text += "#" * (MAX_TEXT_BYTES - len(text) - 1) + "\n"
    assert len(text.encode()) == MAX_TEXT_BYTES
    assert load_mapping(text).version == 1


def test_deep_nesting_is_refused_without_recursing() -> None:
    text = "version: 1\nx: " + "[" * 10_000 + "]" * 10_000 + "\n"
    problem = only_problem(text)
    assert problem.line == 2
    assert problem.message == f"nested deeper than {MAX_DEPTH} levels"


def test_a_second_document_is_refused() -> None:
    problem = only_problem("version: 1\n---\nversion: 1\n")
    assert problem == MappingProblem(2, "", "one YAML document only (remove the second ---)")


def test_an_empty_text_says_what_it_needs() -> None:
    for text in ("", "# only a comment\n", "~\n"):
        assert only_problem(text) == MappingProblem(
            1, "", "the mapping is empty; it needs at least `version: 1`"
        )


def test_a_yaml_syntax_error_names_its_line() -> None:
    problem = only_problem("version: 1\ninbound:\n  type: $.a\n fields: x\n")
    assert problem.line == 4
    assert problem.field == ""
    assert problem.message.startswith("not valid YAML: ")


def test_an_unquoted_selector_with_brackets_in_braces_gets_a_hint() -> None:
    problem = only_problem("version: 1\ninbound:\n  type: {path: $.a[*]}\n")
    assert problem.line == 3
    assert problem.message == (
        "not valid YAML: expected ',' or '}', but got '[' (while parsing a flow mapping); "
        "inside { } and [ ], quote values holding [ ] { } , or #"
    )


def test_a_character_yaml_refuses_names_its_line() -> None:
    problem = only_problem("version: 1\n\ninbound: \x00\n")
    assert problem.line == 3
    assert problem.message.startswith("not valid YAML: ")


def test_a_key_must_be_a_plain_value() -> None:
    problem = only_problem("version: 1\n? [a, b]\n: 1\n")
    assert problem == MappingProblem(2, "", "a key must be a plain value, not a list or map")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("~", None),
        ("null", None),
        ("true", True),
        ("False", False),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("12", 12),
        ("-3", -3),
        ("007", 7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2026-11-23", "2026-11-23"),
        ("0x1F", "0x1F"),
        (".inf", ".inf"),
        ("1_000", "1_000"),
        ("12:30", "12:30"),
    ],
)
def test_plain_scalars_follow_yaml_1_2_core(text: str, value: object) -> None:
    resolved = resolve_plain(text)
    assert resolved == value
    assert type(resolved) is type(value)


def test_quoted_and_block_scalars_are_always_text() -> None:
    tree, problems = parse_tree("a: '12'\nb: \"true\"\nc: |\n  null\n")
    assert problems == []
    assert isinstance(tree, MapNode)
    values = {key.text: node.value for key, node in tree.items if isinstance(node, Scalar)}
    assert values == {"a": "12", "b": "true", "c": "null\n"}

"""The template source: what a template sees, how it writes values, and what the sandbox stops."""

from __future__ import annotations

from typing import Any

import pytest

from mappings.templates import MAX_OUTPUT_CHARS, CompiledTemplate, TemplateProblem

DOCUMENT: dict[str, Any] = {
    "post_id": "P1",
    "ghl_post_id": None,
    "post_tags": [{"id": "t1", "name": "Open House"}, {"id": "t2", "name": "Listing"}],
    "flag": True,
    "record": {"contact_id": "Contact.1.31"},
    "odd-key": "reachable through doc",
}


def render(text: str, document: Any = None) -> str:
    return CompiledTemplate(text).render(DOCUMENT if document is None else document)


def refusal(text: str, document: Any = None) -> str:
    with pytest.raises(TemplateProblem) as caught:
        render(text, document)
    return str(caught.value)


def test_top_level_keys_are_variables_and_doc_is_the_whole_document() -> None:
    assert render("{{ post_id }} / {{ record.contact_id }}") == "P1 / Contact.1.31"
    assert render('{{ doc["odd-key"] }}') == "reachable through doc"
    assert render("{{ doc.post_id }}") == "P1"


def test_doc_wins_over_a_key_named_doc() -> None:
    assert render("{{ doc.doc }}", {"doc": "inner"}) == "inner"


def test_a_document_that_is_not_an_object_is_only_doc() -> None:
    assert render("{{ doc | join('+') }}", ["a", "b"]) == "a+b"


def test_filters_shape_lists() -> None:
    text = '{{ post_tags | map(attribute="name") | map("lower") | join(", ") }}'
    assert render(text) == "open house, listing"


def test_values_are_written_as_json_not_as_python() -> None:
    assert render("[{{ ghl_post_id }}] {{ flag }} {{ record }}") == (
        '[] true {"contact_id":"Contact.1.31"}'
    )
    assert render("{{ [1, none] }}") == "[1,null]"


def test_no_autoescape() -> None:
    assert render("{{ t }}", {"t": "<b>&</b>"}) == "<b>&</b>"


def test_an_undefined_name_or_key_is_an_error() -> None:
    assert refusal("{{ nope }}") == "template: 'nope' is undefined"
    assert refusal("{{ record.missing }}") == "template: 'dict object' has no attribute 'missing'"


def test_default_and_is_defined_allow_for_missing_values() -> None:
    assert render("{{ nope | default('-') }}") == "-"
    assert render("{% if nope is defined %}x{% else %}y{% endif %}") == "y"


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ post_tags.__len__() }}",
        "{{ record.__class__ }}",
        "{{ post_id.format_map({}) }}",
        "{{ '{0:>99999999}'.format(1) }}",
    ],
)
def test_python_internals_are_out_of_reach(text: str) -> None:
    message = refusal(text)
    assert message.startswith("template: not allowed: access to attribute")
    assert "is unsafe" in message


def test_globals_other_than_range_and_dict_are_gone() -> None:
    for name in ("lipsum", "cycler", "joiner", "namespace", "self_", "config"):
        assert refusal(f"{{{{ {name} }}}}") == f"template: '{name}' is undefined"
    assert render("{{ range(3) | list }} {{ dict(a=1) }}") == '[0,1,2] {"a":1}'


def test_the_document_cannot_be_changed_by_a_template() -> None:
    document = {"tags": ["a"], "post": {"id": "P1"}}
    assert "not allowed" in refusal("{{ tags.append('b') }}", document)
    assert "not allowed" in refusal("{{ post.update(id='P2') }}", document)
    assert document == {"tags": ["a"], "post": {"id": "P1"}}


def test_output_is_capped() -> None:
    text = "{% for i in range(100000) %}xxxxxxxxxx{% endfor %}"
    assert refusal(text) == f"the output exceeds {MAX_OUTPUT_CHARS} characters"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ 'x' * 100000 }}",
            f"template: not allowed: repeating gives more than {MAX_OUTPUT_CHARS} items",
        ),
        (
            "{{ [0] * 100000 }}",
            f"template: not allowed: repeating gives more than {MAX_OUTPUT_CHARS} items",
        ),
        ("{{ 9 ** 9999 }}", "template: not allowed: powers above 64 are not available"),
        (
            "{{ '%0999999d' % 1 }}",
            "template: not allowed: %-formatting of text is not available; use ~ to join text",
        ),
    ],
)
def test_expressions_that_build_huge_values_are_refused(text: str, message: str) -> None:
    assert refusal(text) == message


def test_small_repeats_and_powers_still_work() -> None:
    assert render("{{ '-' * 3 }}{{ 2 ** 10 }}{{ 7 % 3 }}") == "---10241"


def test_runtime_errors_are_one_line() -> None:
    assert refusal("{{ 1 / 0 }}") == "template: ZeroDivisionError: division by zero"
    assert refusal("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}") == (
        "template: it calls itself too deeply"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ a", "template syntax: unexpected end of template, expected 'end of print statement'."),
        ("{{ a | random }}", "template syntax: No filter named 'random'."),
        ("{{ a | wordwrap(5) }}", "template syntax: No filter named 'wordwrap'."),
        (
            "line one\n{% if a %}\nno end\n",
            "template syntax: Unexpected end of template. Jinja was looking for the following "
            "tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is "
            "'if'. (template line 2)",
        ),
    ],
)
def test_syntax_errors_are_found_when_compiled(text: str, message: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        CompiledTemplate(text)
    assert str(caught.value) == message

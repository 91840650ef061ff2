"""load_mapping: what a valid mapping compiles to, and every load-time problem with its line."""

from __future__ import annotations

import pytest

from mappings import MappingInvalid, MappingProblem, event_field_names, load_mapping
from mappings.selectors import Selector
from mappings.spec import Constant
from mappings.templates import CompiledTemplate
from tests.unit.mappings.conftest import ISSUE_EXAMPLE, only_problem, problems_of, yaml_text

# --- what a valid mapping becomes ---------------------------------------------------------


def test_the_issue_example_loads_with_its_sources_as_written() -> None:
    mapping = load_mapping(ISSUE_EXAMPLE)

    assert mapping.version == 1
    assert mapping.text == ISSUE_EXAMPLE
    assert mapping.outbound == {}
    inbound = mapping.inbound
    assert inbound is not None
    assert inbound.type.source == "$.event"
    assert inbound.id is not None
    assert inbound.id.source == "$.delivery.id"
    assert {name: spec.source for name, spec in inbound.fields.items()} == {
        "post_id": "$.post.id",
        "ghl_post_id": "$.post.ghl_id",
        "tag_ids": "$.post.tags[*].id",
        "record.contact_id": "$.contact.id",
    }
    assert inbound.event_types == (
        "post.published",
        "tag.details_requested",
        "statistics.requested",
    )


def test_sources_are_named_path_value_or_template() -> None:
    mapping = load_mapping(
        yaml_text(
            """
            version: 1
            inbound:
              type: {value: statistics.requested}
              fields:
                start_date: {path: $.from}
                platforms: {value: [facebook, instagram]}
                title: {template: "{{ a }}"}
            """
        )
    )
    inbound = mapping.inbound
    assert inbound is not None
    assert isinstance(inbound.type.origin, Constant)
    assert inbound.event_types == ("statistics.requested",)
    fields = inbound.fields
    assert isinstance(fields["start_date"].origin, Selector)
    assert fields["start_date"].source == "$.from"
    assert fields["platforms"].source == "value"
    assert fields["platforms"].origin == Constant(["facebook", "instagram"])
    assert isinstance(fields["title"].origin, CompiledTemplate)
    assert fields["title"].source == "template"


def test_a_type_read_from_the_body_without_a_map_may_be_any_event_type() -> None:
    mapping = load_mapping("version: 1\ninbound:\n  type: $.type\n")
    assert mapping.inbound is not None
    assert mapping.inbound.event_types == (
        "post.published",
        "tag.details_requested",
        "statistics.requested",
    )


def test_only_version_is_required() -> None:
    mapping = load_mapping("version: 1\n")
    assert mapping.inbound is None
    assert mapping.outbound == {}
    assert mapping.summary() == {"version": 1, "inbound": None, "outbound": {}}


def test_summary_names_every_field_and_its_source() -> None:
    mapping = load_mapping(
        ISSUE_EXAMPLE + "outbound:\n  post.tags_synced:\n    Note: {template: x}\n"
    )
    summary = mapping.summary()
    assert summary["inbound"]["id"] == "$.delivery.id"
    assert summary["inbound"]["fields"]["tag_ids"] == "$.post.tags[*].id"
    assert summary["outbound"] == {"post.tags_synced": {"Note": "template"}}


def test_allowed_inbound_names_are_every_events_data_fields_but_record() -> None:
    names = event_field_names()
    assert "record" not in names
    for name in ("post_id", "tag_ids", "ghl_post_id", "start_date", "platforms", "title"):
        assert name in names


def test_outbound_fields_are_checked_only_when_given() -> None:
    text = "version: 1\noutbound:\n  post.tags_synced:\n    Anything: $.x\n"
    assert "post.tags_synced" in load_mapping(text).outbound
    problem = only_problem(text, outbound_fields=("ContactID", "Keywords", "Note"))
    assert problem == MappingProblem(
        4,
        "outbound.post.tags_synced.Anything",
        "not a field of this CRM kind; expected one of: ContactID, Keywords, Note",
    )


def test_an_empty_outbound_fields_refuses_any_outbound_part() -> None:
    text = "version: 1\noutbound:\n  post.tags_synced:\n    Note: $.x\n"
    problem = only_problem(text, outbound_fields=())
    assert problem == MappingProblem(2, "outbound", "this CRM kind takes no outbound part")


# --- problems: each with its line and field -----------------------------------------------


def test_every_problem_is_reported_not_just_the_first() -> None:
    problems = problems_of(
        """
        version: 1
        inbound:
          type: $.event
          fields:
            post_idd: $.post.id
            tag_ids: {path: "$.tags[*]", type: float}
        outbound:
          post.tags_synced:
            Note: {template: "{{ unclosed"}
        colour: blue
        """
    )
    assert [(p.line, p.field) for p in problems] == [
        (5, "inbound.fields.post_idd"),
        (6, "inbound.fields.tag_ids.type"),
        (9, "outbound.post.tags_synced.Note.template"),
        (10, "colour"),
    ]
    assert "did you mean post_id?" in problems[0].message


def test_mapping_invalid_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(MappingInvalid) as caught:
        load_mapping("version: 3\nextra: 1\n")
    assert str(caught.value).splitlines() == [
        "line 1: version: this socialbridge reads mapping version 1, got the number 3",
        "line 2: extra: unknown key; expected one of: version, inbound, outbound",
    ]


def test_problem_text_leaves_out_an_unknown_line_and_an_empty_field() -> None:
    assert str(MappingProblem(7, "inbound.fields.post_id", "bad")) == (
        "line 7: inbound.fields.post_id: bad"
    )
    assert str(MappingProblem(3, "", "bad")) == "line 3: bad"
    assert str(MappingProblem(0, "", "too large")) == "too large"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("inbound: {type: $.a}\n", 1, "version", "missing; write `version: 1` first"),
        (
            "version: '1'\n",
            1,
            "version",
            "this socialbridge reads mapping version 1, got '1'",
        ),
        ("version: true\n", 1, "version", "this socialbridge reads mapping version 1, got true"),
        (
            "- version: 1\n",
            1,
            "",
            "expected a mapping of version, inbound and outbound, got a list",
        ),
        (
            "version: 1\nversoin: 1\n",
            2,
            "versoin",
            "unknown key (did you mean version?); expected one of: version, inbound, outbound",
        ),
        (
            "version: 1\ninbound: $.a\n",
            2,
            "inbound",
            "expected a mapping of type, id and fields, got '$.a'",
        ),
        (
            "version: 1\ninbound:\n  fields: {}\n",
            3,
            "inbound.type",
            "missing; say where the event type comes from",
        ),
        (
            "version: 1\ninbound:\n  type: $.a\n  ids: $.b\n",
            4,
            "inbound.ids",
            "unknown key (did you mean id?); expected one of: type, id, fields",
        ),
        (
            "version: 1\ninbound:\n  type: $.a\n  fields: [a]\n",
            4,
            "inbound.fields",
            "expected a mapping of event fields, got a list",
        ),
        (
            "version: 1\noutbound: [a]\n",
            2,
            "outbound",
            "expected a mapping of write-back types, got a list",
        ),
        (
            "version: 1\noutbound:\n  post.synced: {}\n",
            3,
            "outbound.post.synced",
            "not a write-back type; expected one of: post.tags_synced, "
            "post.tag_details_attached, location.statistics_synced",
        ),
        (
            "version: 1\noutbound:\n  post.tags_synced: $.a\n",
            3,
            "outbound.post.tags_synced",
            "expected a mapping of fields, got '$.a'",
        ),
    ],
)
def test_document_problems(text: str, line: int, field: str, message: str) -> None:
    assert only_problem(text) == MappingProblem(line, field, message)


def _field_problem(spec: str, *, extra_lines: str = "") -> MappingProblem:
    """The one problem of a mapping whose `inbound.fields.title` (line 5) is ``spec``."""
    text = f"version: 1\ninbound:\n  type: $.t\n  fields:\n    title: {spec}\n{extra_lines}"
    return only_problem(text)


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            "post.title",
            "inbound.fields.title",
            "a JSONPath selector starts with $",
        ),
        (
            "12",
            "inbound.fields.title",
            "expected a JSONPath (starting with $) or a mapping with path, value or template, "
            "got the number 12",
        ),
        (
            "'$.a['",
            "inbound.fields.title",
            "not a valid JSONPath: Parse error near the end of string!",
        ),
        (
            "'$.a.`len`'",
            "inbound.fields.title",
            "'`len`' (len) is not allowed in a mapping's selector",
        ),
        (
            "'$.a[?(@.b =~ \"x\")]'",
            "inbound.fields.title",
            "regular expressions (=~) are not allowed in filters",
        ),
        ("{}", "inbound.fields.title", "no source: give one of path, value or template"),
        (
            "{path: $.a, value: x}",
            "inbound.fields.title",
            "several sources (path and value); give one",
        ),
        ("{path: 3}", "inbound.fields.title.path", "expected a JSONPath, got the number 3"),
        ("{template: [a]}", "inbound.fields.title.template", "expected text, got a list"),
        (
            "{value: {a: 1}}",
            "inbound.fields.title.value",
            "expected a plain value or a list of them, got a mapping",
        ),
        (
            "{path: $.a, maps: {}}",
            "inbound.fields.title.maps",
            "unknown key (did you mean map?); expected one of: path, value, template, default, "
            "map, strip, lower, upper, date, join, truncate, type, max_len, required",
        ),
        (
            "{path: $.a, default: {x: 1}}",
            "inbound.fields.title.default",
            "expected a plain value or a list of them, got a mapping",
        ),
        (
            "{path: $.a, map: [a]}",
            "inbound.fields.title.map",
            "expected a mapping of value: replacement, got a list",
        ),
        (
            "{path: $.a, map: {a: [b]}}",
            "inbound.fields.title.map.a",
            "expected a plain value, got a list",
        ),
        (
            "{path: $.a, strip: yes}",
            "inbound.fields.title.strip",
            "expected true or false, got 'yes'",
        ),
        (
            "{path: $.a, lower: 1}",
            "inbound.fields.title.lower",
            "expected true or false, got the number 1",
        ),
        (
            "{path: $.a, lower: true, upper: true}",
            "inbound.fields.title",
            "lower and upper together; give one",
        ),
        (
            "{path: $.a, date: iso}",
            "inbound.fields.title.date",
            "expected a mapping with from and to, got 'iso'",
        ),
        (
            "{path: $.a, date: {from: DD/MM/YYYY}}",
            "inbound.fields.title.date.from",
            "'DD/MM/YYYY' has no % directive; write a strftime format such as %d/%m/%Y, or iso",
        ),
        (
            "{path: $.a, date: {from: '%Q'}}",
            "inbound.fields.title.date.from",
            "'%Q' is not a usable format: 'Q' is a bad directive in format '%Q'",
        ),
        (
            "{path: $.a, date: {to: 5}}",
            "inbound.fields.title.date.to",
            "expected a format or iso, got the number 5",
        ),
        (
            "{path: $.a, date: {form: iso}}",
            "inbound.fields.title.date.form",
            "unknown key (did you mean from?); expected one of: from, to",
        ),
        (
            "{path: $.a, join: 1}",
            "inbound.fields.title.join",
            'expected a separator in quotes (", "), got the number 1',
        ),
        (
            "{path: $.a, truncate: 0}",
            "inbound.fields.title.truncate",
            "expected a whole number of at least 1, got the number 0",
        ),
        (
            "{path: $.a, max_len: 2.5}",
            "inbound.fields.title.max_len",
            "expected a whole number of at least 1, got the number 2.5",
        ),
        (
            "{path: $.a, type: float}",
            "inbound.fields.title.type",
            "expected one of: string, integer, number, boolean, list, date, datetime, got 'float'",
        ),
        (
            "{path: '$.a[*]', truncate: 10}",
            "inbound.fields.title.truncate",
            "$.a[*] gives a list; add join to cut it at whole items",
        ),
        (
            "{template: '{{ a'}",
            "inbound.fields.title.template",
            "template syntax: unexpected end of template, expected 'end of print statement'.",
        ),
        (
            "{template: '{{ a|center(9) }}'}",
            "inbound.fields.title.template",
            "template syntax: No filter named 'center'.",
        ),
    ],
)
def test_field_spec_problems(spec: str, field: str, message: str) -> None:
    assert _field_problem(spec) == MappingProblem(5, field, message)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "post_idd",
            "not a field of any event type (did you mean post_id?); expected one of: "
            + ", ".join(event_field_names())
            + ", record.<key>, timestamp",
        ),
        ("record", "map the record key by key: record.contact_id, record.contact_email, …"),
        ("record.contact-id", "a record key is 1 to 64 letters, digits or underscores"),
        ("record." + "k" * 65, "a record key is 1 to 64 letters, digits or underscores"),
    ],
)
def test_inbound_field_name_problems(name: str, message: str) -> None:
    text = f"version: 1\ninbound:\n  type: $.t\n  fields:\n    post_id: $.a\n    {name}: $.b\n"
    assert only_problem(text) == MappingProblem(6, f"inbound.fields.{name}", message)


def test_record_keys_timestamp_and_every_event_field_are_accepted() -> None:
    lines = [f"    {name}: $.{name}" for name in event_field_names()]
    lines += [
        "    timestamp: $.at",
        "    record.contact_id: $.c",
        "    record." + "k" * 64 + ": $.k",
    ]
    text = "version: 1\ninbound:\n  type: $.t\n  fields:\n" + "\n".join(lines) + "\n"
    mapping = load_mapping(text)
    assert mapping.inbound is not None
    assert len(mapping.inbound.fields) == len(event_field_names()) + 3


@pytest.mark.parametrize(
    ("spec", "line", "field"),
    [
        ("{value: post.publish}", 3, "inbound.type.value"),
        ("{path: $.e, default: posted}", 3, "inbound.type.default"),
        ("{path: $.e, map: {a: post.published, b: tags}}", 3, "inbound.type.map.b"),
    ],
)
def test_a_constant_event_type_must_be_an_event_type(spec: str, line: int, field: str) -> None:
    problem = only_problem(f"version: 1\ninbound:\n  type: {spec}\n")
    assert (problem.line, problem.field) == (line, field)
    assert problem.message.endswith(
        "is not one of: post.published, tag.details_requested, statistics.requested"
    )


def test_block_style_specs_name_the_line_of_the_offending_key() -> None:
    problems = problems_of(
        """
        version: 1
        outbound:
          post.tags_synced:
            Keywords:
              path: $.post_tags[*].name
              lower: true
              join: ", "
              truncate: none
            Note:
              template: |
                {{ post_id }}
              required: maybe
        """
    )
    assert [(p.line, p.field) for p in problems] == [
        (8, "outbound.post.tags_synced.Keywords.truncate"),
        (12, "outbound.post.tags_synced.Note.required"),
    ]


def test_a_spec_under_a_wrong_name_is_still_checked() -> None:
    # Fixing the name must not reveal a problem that was there all along.
    problems = problems_of(
        """
        version: 1
        inbound:
          type: $.t
          fields:
            titel: {path: $.title, strip: yes}
        outbound:
          post.synced:
            Note: {template: "{{ x }"}
          post.tags_synced:
            Notes: $.[
        """,
        outbound_fields=("Note",),
    )
    assert [(p.line, p.field) for p in problems] == [
        (5, "inbound.fields.titel"),
        (5, "inbound.fields.titel.strip"),
        (7, "outbound.post.synced"),
        (8, "outbound.post.synced.Note.template"),
        (10, "outbound.post.tags_synced.Notes"),
        (10, "outbound.post.tags_synced.Notes"),
    ]
    assert problems[-1].message.startswith("not a valid JSONPath")

"""Shared texts of the mapping tests: the issue's example mapping, as the issue wrote it."""

from __future__ import annotations

import textwrap

import pytest

from mappings import ConnectionMapping, MappingInvalid, MappingProblem, load_mapping

ISSUE_EXAMPLE = """\
version: 1
inbound:
  type: {path: $.event, map: {social_post_published: post.published, tag_info: tag.details_requested, stats: statistics.requested}}
  id: $.delivery.id                 # idempotency key (token auth)
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
    tag_ids: $.post.tags[*].id
    record.contact_id: $.contact.id
"""  # noqa: E501 - the issue's line, as written


def yaml_text(text: str) -> str:
    """A test's YAML written indented in the test, as a mapping file would hold it."""
    return textwrap.dedent(text).lstrip("\n")


def problems_of(text: str, **kwargs: object) -> list[MappingProblem]:
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(yaml_text(text), **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def only_problem(text: str, **kwargs: object) -> MappingProblem:
    problems = problems_of(text, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def spec_mapping(spec: str) -> ConnectionMapping:
    """A mapping whose one outbound field ``F`` (of post.tags_synced) has ``spec``."""
    return load_mapping(f"version: 1\noutbound:\n  post.tags_synced:\n    F: {spec}\n")

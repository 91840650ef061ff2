"""evaluate_fields: an outbound part over what a connector writes (WriteBack.document())."""

from __future__ import annotations

import pytest

from crm.connector import WriteBack
from mappings import OutboundMappingError, evaluate_fields, load_mapping
from tests.unit.mappings.conftest import yaml_text

SMARTOFFICE_OUTBOUND = yaml_text(
    """
    version: 1
    outbound:
      post.tags_synced:
        ContactID: $.record.contact_id
        Keywords:
          path: $.post_tags[*].name
          default: untagged
          lower: true
          join: ", "
          truncate: 20
        Note:
          template: |-
            Post {{ post_id }}: {{ post_tags | map(attribute="name") | join(", ") or "no tags" }}
      location.statistics_synced:
        Note: {template: "{{ totals.impressions }} impressions", required: true}
    """
)
MAPPING = load_mapping(SMARTOFFICE_OUTBOUND, outbound_fields=("ContactID", "Keywords", "Note"))


def tags_synced(post_tags: list[dict[str, str]], record: dict[str, str]) -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key="evt_1:post.tags_synced",
        data={
            "post_id": "crm-1",
            "location_id": "loc",
            "tags": [],
            "post_tags": post_tags,
            "ghl_post_id": None,
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record=record,
    )


def test_each_field_is_evaluated_over_the_write_backs_document() -> None:
    writeback = tags_synced(
        [{"id": "t1", "name": "Open House"}, {"id": "t2", "name": "Listing"}],
        {"contact_id": "Contact.1.31"},
    )
    values = evaluate_fields(MAPPING.outbound["post.tags_synced"], writeback.document())
    assert values == {
        "ContactID": "Contact.1.31",
        # "open house, listing" is 19 characters: it fits in 20 whole.
        "Keywords": "open house, listing",
        "Note": "Post crm-1: Open House, Listing",
    }


def test_truncate_keeps_whole_keywords() -> None:
    writeback = tags_synced(
        [{"id": "t1", "name": "Open House"}, {"id": "t2", "name": "Waterfront"}], {}
    )
    values = evaluate_fields(MAPPING.outbound["post.tags_synced"], writeback.document())
    assert values["Keywords"] == "open house"


def test_absent_results_are_left_out_and_defaults_apply() -> None:
    values = evaluate_fields(MAPPING.outbound["post.tags_synced"], tags_synced([], {}).document())
    assert values == {"Keywords": "untagged", "Note": "Post crm-1: no tags"}


def test_a_failing_field_names_itself_and_its_source() -> None:
    document = {"type": "location.statistics_synced", "totals": {}, "record": {}}
    with pytest.raises(OutboundMappingError) as caught:
        evaluate_fields(MAPPING.outbound["location.statistics_synced"], document)
    error = caught.value
    assert error.field == "Note"
    assert error.source == "template"
    assert str(error) == (
        "Note: template: 'dict object' has no attribute 'impressions' (from template)"
    )


def test_a_failing_selector_check_names_the_jsonpath() -> None:
    mapping = load_mapping(
        "version: 1\noutbound:\n  post.tags_synced:\n"
        "    ContactID: {path: $.record.contact_id, required: true}\n"
    )
    with pytest.raises(OutboundMappingError) as caught:
        evaluate_fields(mapping.outbound["post.tags_synced"], {"record": {}})
    assert str(caught.value) == (
        "ContactID: required, but nothing was found (from $.record.contact_id)"
    )


def test_the_document_is_not_changed() -> None:
    writeback = tags_synced([{"id": "t1", "name": "A"}], {"contact_id": "Contact.1.2"})
    document = writeback.document()
    before = repr(document)
    evaluate_fields(MAPPING.outbound["post.tags_synced"], document)
    assert repr(document) == before

"""The outbound part of a mapping over the SmartOffice connector's defaults."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from crm.smartoffice import KIND, SmartOfficeConnector
from crm.smartoffice.settings import AuthMode, Credentials
from mappings import FieldSpec, load_mapping
from socialbridge.errors import PermanentError
from tests.unit.crm.smartoffice.fake_xml_engine import FakeXmlEngine
from tests.unit.crm.smartoffice.samples import CONTACT, KEY, statistics, tags_synced

CREDENTIALS = Credentials(auth=AuthMode.DIRECT, office="demo", user="agent", password="pw-123")


def outbound(yaml: str) -> Mapping[str, Mapping[str, FieldSpec]]:
    mapping = load_mapping(yaml, outbound_fields=KIND.capabilities.outbound_fields)
    return mapping.outbound


def connector(engine: FakeXmlEngine, yaml: str) -> SmartOfficeConnector:
    return SmartOfficeConnector(
        httpx.Client(transport=httpx.MockTransport(engine)),
        url="https://so.example/xml",
        credentials=CREDENTIALS,
        outbound=outbound(yaml),
    )


@pytest.fixture
def engine() -> FakeXmlEngine:
    return FakeXmlEngine(password="pw-123")


def test_mapped_keywords_and_note_replace_the_defaults_and_the_marker_is_added(
    engine: FakeXmlEngine,
) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Keywords: {path: "$.post_tags[*].name", lower: true, join: ", "}
    Note:
      template: "Post {{ post_id }} tagged {{ post_tags | map(attribute='name') | join('/') }}"
"""
    connector(engine, yaml).write(tags_synced())

    [pad] = engine.pads
    assert pad.keywords == "listing"
    assert pad.note == f"Post crm-post-1 tagged Listing\nsocialbridge-id: {KEY}"
    assert pad.contact_id == CONTACT


def test_a_mapping_for_another_type_leaves_the_defaults(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tag_details_attached:
    Note: {value: "details"}
"""
    connector(engine, yaml).write(tags_synced())

    [pad] = engine.pads
    assert pad.keywords == "Listing"
    assert pad.note.startswith("GHL tags for CRM post crm-post-1")


def test_only_the_mapped_field_is_replaced(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Keywords: {value: "Social"}
"""
    connector(engine, yaml).write(tags_synced())

    [pad] = engine.pads
    assert pad.keywords == "Social"
    assert pad.note.startswith("GHL tags for CRM post crm-post-1")


def test_a_mapped_contact_overrides_the_record(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  location.statistics_synced:
    ContactID: {value: "Contact.4.77"}
"""
    # No record contact and no stats_contact_id: the mapping's contact is enough.
    connector(engine, yaml).write(statistics())

    [pad] = engine.pads
    assert pad.contact_id == "Contact.4.77"
    search = engine.documents()[0]
    assert next(search.iter("v")).text == "Contact.4.77"


def test_a_mapped_contact_that_is_no_contact_id_is_refused(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    ContactID: {path: "$.record.contact_id", upper: true}
"""
    with pytest.raises(PermanentError, match=r"the mapping's ContactID 'CONTACT\.1\.31' is not"):
        connector(engine, yaml).write(tags_synced())

    assert engine.requests == []


def test_mapped_keywords_longer_than_255_are_cut_at_a_whole_name(engine: FakeXmlEngine) -> None:
    names = [{"id": f"t{n}", "name": f"keyword number {n:02d}"} for n in range(30)]  # 17 each
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Keywords: {path: "$.post_tags[*].name"}
"""
    connector(engine, yaml).write(tags_synced(post_tags=names))

    [pad] = engine.pads
    assert pad.keywords is not None
    assert pad.keywords.split(", ") == [f"keyword number {n:02d}" for n in range(13)]


def test_a_mapping_that_fails_is_permanent_and_sends_nothing(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Note: {path: "$.title", required: true}
"""
    with pytest.raises(PermanentError) as caught:
        connector(engine, yaml).write(tags_synced())

    assert caught.value.message.startswith(
        "write-back not sent: the mapping's outbound part for post.tags_synced failed: Note:"
    )
    assert engine.requests == []


def test_a_mapped_note_that_is_not_text_is_refused(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Note: {path: "$.tags"}
"""
    with pytest.raises(PermanentError, match="the mapping's Note must be text, got list"):
        connector(engine, yaml).write(tags_synced())


def test_preview_shows_the_mapped_request(engine: FakeXmlEngine) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Note: {value: "Mapped note"}
"""
    [_, insert] = connector(engine, yaml).preview(tags_synced())

    assert f"<Note>Mapped note\nsocialbridge-id: {KEY}</Note>" in insert.body
    assert engine.requests == []

"""docs/connectors/smartoffice.md: its example mapping is one the SmartOffice connector takes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx

from crm.smartoffice import KIND, SmartOfficeConnector
from crm.smartoffice.settings import AuthMode, Credentials
from mappings import load_mapping, map_inbound
from schemas.events import PostPublished, load_event
from tests.unit.crm.smartoffice.fake_xml_engine import FakeXmlEngine
from tests.unit.crm.smartoffice.samples import KEY, tags_synced

DOC = Path(__file__).resolve().parents[4] / "docs" / "connectors" / "smartoffice.md"


def example_mapping() -> str:
    [block] = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return str(block)


def test_the_example_mapping_loads_for_smartoffice() -> None:
    mapping = load_mapping(example_mapping(), outbound_fields=KIND.capabilities.outbound_fields)

    assert set(mapping.outbound) == {"post.tags_synced"}
    assert set(mapping.outbound["post.tags_synced"]) == {"Keywords", "Note"}


def test_the_example_body_maps_to_an_event_with_its_contact() -> None:
    mapping = load_mapping(example_mapping(), outbound_fields=KIND.capabilities.outbound_fields)
    body = {
        "action": "post_published",
        "request_id": "req_1f2e",
        "contact": {"id": "Contact.1.31"},
        "post": {"id": "crm-post-1", "ghl_post_id": "post_abc", "title": "Open house"},
    }

    mapped = map_inbound(mapping, body, received_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    event = load_event(mapped.envelope)

    assert event.type == "post.published"
    assert mapped.delivery_id == "req_1f2e"
    assert isinstance(event.data, PostPublished)
    assert event.data.post_id == "crm-post-1"
    assert event.data.record == {"contact_id": "Contact.1.31"}


def test_the_example_outbound_part_writes_its_note_with_the_marker() -> None:
    mapping = load_mapping(example_mapping(), outbound_fields=KIND.capabilities.outbound_fields)
    engine = FakeXmlEngine(password="pw-123")
    connector = SmartOfficeConnector(
        httpx.Client(transport=httpx.MockTransport(engine)),
        url="https://so.example/xml",
        credentials=Credentials(auth=AuthMode.DIRECT, office="o", user="u", password="pw-123"),
        outbound=mapping.outbound,
    )

    connector.write(tags_synced())

    [pad] = engine.pads
    assert pad.keywords == "Listing"
    assert pad.note == (
        "Social post crm-post-1 (GHL post ghl-9) was tagged.\n"
        "Its tags: Listing\n"
        f"socialbridge-id: {KEY}"
    )

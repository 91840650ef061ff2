"""docs/mappings.md stays true: its mappings load, and its full example maps as it says."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from mappings import evaluate_fields, load_mapping, map_inbound
from schemas.events import StatisticsRequested, load_event

DOC = (Path(__file__).parents[3] / "docs" / "mappings.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
SMARTOFFICE_FIELDS = ("ContactID", "Keywords", "Note")


def full_example() -> str:
    (text,) = [block for block in YAML_BLOCKS if "path: $.action" in block]
    return text


def test_every_whole_mapping_in_the_doc_loads() -> None:
    whole = [block for block in YAML_BLOCKS if block.startswith("version: 1")]
    assert len(whole) >= 2
    for text in whole:
        load_mapping(text)


def test_the_smartoffice_example_maps_its_body_as_documented() -> None:
    mapping = load_mapping(full_example(), outbound_fields=SMARTOFFICE_FIELDS)
    (body_text,) = re.findall(r"```json\n(\{\"action\".*?)```", DOC, re.S)
    received = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)

    result = map_inbound(mapping, json.loads(body_text), received_at=received)

    assert result.envelope == {
        "type": "post.published",
        "timestamp": "2026-11-23T10:00:05+00:00",
        "data": {
            "post_id": "crm-post-1",
            "ghl_post_id": "post_demo_1",
            "title": "Open house",
            "record": {"contact_id": "Contact.1.31"},
        },
    }
    assert result.delivery_id == "req_1f2e"
    stats = map_inbound(mapping, {**json.loads(body_text), "action": "stats"}, received_at=received)
    data = load_event(stats.envelope).data
    assert isinstance(data, StatisticsRequested)
    assert data.platforms == ("facebook", "instagram")


def test_the_smartoffice_example_writes_the_documented_keywords_and_note() -> None:
    mapping = load_mapping(full_example(), outbound_fields=SMARTOFFICE_FIELDS)
    document = {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "post_tags": [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}],
        "type": "post.tags_synced",
        "record": {"contact_id": "Contact.1.31"},
    }
    values = evaluate_fields(mapping.outbound["post.tags_synced"], document)
    assert values == {
        "Keywords": "listing, open house",
        "Note": "Social post crm-post-1 is live as GHL post post_demo_1.\n"
        "Its tags: Listing, Open house",
    }
    assert (
        "Social post crm-post-1 is live as GHL post post_demo_1.\nIts tags: Listing, Open house\n"
        in DOC
    )

"""`workers.preview.preview_event` on the real flows, store and sandboxes (in process)."""

from __future__ import annotations

from typing import Any

from standardwebhooks import Webhook

from tests.unit.workers.conftest import Bridge, crm_secret
from workers.preview import PREVIEW_ATTEMPTS, preview_event

MAPPING = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  id: $.request_id
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
    record.contact_id: $.contact.id
"""


def crm_body(**post: Any) -> dict[str, Any]:
    return {
        "action": "published",
        "request_id": "r-1",
        "post": {"id": "crm-1", "ghl_id": "post_demo_1", **post},
        "contact": {"id": "C.1.2"},
    }


def nothing_kept_or_sent(bridge: Bridge) -> bool:
    return bridge.store.list_events() == [] and bridge.deliveries() == []


def test_a_mapped_body_shows_its_event_and_the_signed_write_back_without_sending(
    bridge: Bridge,
) -> None:
    connection = bridge.connection(account="acme", inbound_auth="token", mapping=MAPPING)

    preview = preview_event(bridge.services, connection, crm_body())

    assert preview.errors == {}
    assert preview.event is not None
    assert preview.event["type"] == "post.published"
    assert preview.event["data"] == {
        "post_id": "crm-1",
        "ghl_post_id": "post_demo_1",
        "record": {"contact_id": "C.1.2"},
    }
    [write] = preview.writes
    assert write.error is None
    assert write.writeback.type == "post.tags_synced"
    [request] = write.requests
    sent = Webhook(crm_secret("acme")).verify(request.body, dict(request.headers))
    assert sent["data"]["record"] == {"contact_id": "C.1.2"}
    assert len(sent["data"]["tags"]) == 250
    assert nothing_kept_or_sent(bridge)
    # Nothing of the post was kept either.
    assert bridge.store.get_post(connection.id, "crm-1") is None


def test_a_body_that_makes_no_event_gives_its_errors_and_runs_nothing(bridge: Bridge) -> None:
    connection = bridge.connection(inbound_auth="token", mapping=MAPPING)

    preview = preview_event(bridge.services, connection, crm_body(id=None))

    assert preview.event is None
    assert list(preview.errors) == ["data.post_id"]
    assert "$.post.id" in preview.errors["data.post_id"][0]
    assert preview.writes == []
    assert bridge.journal() == []


def test_a_rate_limit_before_any_write_is_waited_out(bridge: Bridge) -> None:
    connection = bridge.connection(inbound_auth="token", mapping=MAPPING)
    bridge.ghl_fault(path_contains="/tags", status=429, retry_after=2, times=1)
    waits: list[float] = []

    preview = preview_event(bridge.services, connection, crm_body(), sleep=waits.append)

    assert waits == [2.0]
    [write] = preview.writes
    assert write.error is None
    assert nothing_kept_or_sent(bridge)


def test_an_error_without_a_delay_stops_the_preview_at_once(bridge: Bridge) -> None:
    connection = bridge.connection(inbound_auth="token", mapping=MAPPING)
    bridge.ghl_fault(path_contains="/tags", status=500, times=1)
    waits: list[float] = []

    preview = preview_event(bridge.services, connection, crm_body(), sleep=waits.append)

    assert waits == []
    assert preview.writes == []
    assert preview.note.startswith("the flow stopped before writing: ghl:")
    assert preview.event is not None


def test_a_rate_limit_that_lasts_stops_after_the_last_attempt(bridge: Bridge) -> None:
    connection = bridge.connection(inbound_auth="token", mapping=MAPPING)
    bridge.ghl_fault(path_contains="/tags", status=429, retry_after=1, times=PREVIEW_ATTEMPTS)
    waits: list[float] = []

    preview = preview_event(bridge.services, connection, crm_body(), sleep=waits.append)

    assert waits == [1.0] * (PREVIEW_ATTEMPTS - 1)
    assert preview.writes == []
    assert "429" in preview.note


def test_a_wait_longer_than_a_person_would_is_not_taken(bridge: Bridge) -> None:
    connection = bridge.connection(inbound_auth="token", mapping=MAPPING)
    bridge.ghl_fault(path_contains="/tags", status=429, retry_after=3600, times=1)
    waits: list[float] = []

    preview = preview_event(bridge.services, connection, crm_body(), sleep=waits.append)

    assert waits == []
    assert "429" in preview.note

"""`post.published` with the tag cache: the flow against the sandbox GHL and CRM in process, a
real store and a real Redis. What the CRM received is read off the wire (the request bodies the
sandbox CRM was sent), since the sandbox keeps only what it applies to its records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from flask import Flask

from sandbox.ghl.seed import seed_location
from store import ConnectionRecord, PostRecord
from tests.unit.workers.conftest import NOW, Bridge
from tests.unit.workers.test_flows import RewritingGHL, post_published
from workers.flows import FlowContext, sync_post_tags
from workers.services import Services
from workers.tag_cache import TagCache

SMALL = seed_location("loc_small", tag_count=20)
POST = SMALL.post("post_small_1")
assert POST is not None
LAGGING = POST.tag_ids[1]


class RecordingCRM(httpx.BaseTransport):
    """The sandbox CRM, with every body sent to it kept."""

    def __init__(self, app: Flask) -> None:
        self._sandbox = httpx.WSGITransport(app=app)
        self.bodies: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.read()))
        return self._sandbox.handle_request(request)


@dataclasses.dataclass
class Run:
    bridge: Bridge
    crm: RecordingCRM
    cache: TagCache | None

    def post_published(
        self,
        connection: ConnectionRecord,
        event_id: str,
        *,
        ghl: httpx.BaseTransport | None = None,
        progress: list[str] | None = None,
        **data: Any,
    ) -> PostRecord:
        """One post.published through the flow, its context built as execute_event does."""
        services = Services(
            self.bridge.settings,
            store=self.bridge.store,
            ghl_transport=ghl or httpx.WSGITransport(app=self.bridge.ghl_app),
            crm_transport=self.crm,
        )
        client = services.ghl_for(connection)
        connector = services.crm_for(connection)
        try:
            ctx = FlowContext(
                connection=connection,
                event_id=event_id,
                ghl=client,
                crm=connector,
                store=self.bridge.store,
                now=NOW,
                progress=(lambda _: None) if progress is None else progress.append,
                tag_cache=self.cache,
            )
            return sync_post_tags(ctx, post_published(**data))
        finally:
            client.close()
            connector.close()

    def listings(self, location: str) -> int:
        path = f"/social-media-posting/{location}/tags"
        return sum(
            1
            for entry in self.bridge.journal(path)
            if entry["path"] == path and entry["query"]["skip"] == "0"
        )

    def sent(self) -> list[dict[str, Any]]:
        """The data of every post.tags_synced the CRM was sent, in order."""
        return [body["data"] for body in self.crm.bodies if body["type"] == "post.tags_synced"]


@pytest.fixture
def cache(redis_url: str) -> Iterator[TagCache]:
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield TagCache(client, 60)
    client.close()


@pytest.fixture
def run(bridge: Bridge, cache: TagCache) -> Run:
    return Run(bridge, RecordingCRM(bridge.crm_app), cache)


def drop_the_lagging_tag(body: Any) -> None:
    """GHL's listing as it is before it has caught up with a new tag."""
    tags = body["results"]["tags"]
    body["results"]["tags"] = [tag for tag in tags if tag["_id"] != LAGGING]
    body["results"]["count"] = len(body["results"]["tags"])


def small_connection(bridge: Bridge) -> ConnectionRecord:
    bridge.add_location("loc_small", "pit-small", tags=20)
    return bridge.connection(location_id="loc_small", ghl_token="pit-small")


def brief(tag_id: str) -> dict[str, str]:
    tag = SMALL.tag(tag_id)
    assert tag is not None
    return {"id": tag.id, "name": tag.name}


# --- without a cache --------------------------------------------------------------------------


def test_without_a_cache_every_event_lists_and_says_it_fetched_at_the_attempt(
    bridge: Bridge,
) -> None:
    run = Run(bridge, RecordingCRM(bridge.crm_app), cache=None)
    connection = bridge.connection()

    run.post_published(connection, "evt_1", post_id="crm-1")
    run.post_published(connection, "evt_2", post_id="crm-2")

    assert run.listings("loc_demo") == 2
    assert [data["tags_fetched_at"] for data in run.sent()] == ["2026-03-10T12:00:00Z"] * 2


# --- with the cache ---------------------------------------------------------------------------


def test_the_second_event_takes_the_tags_from_the_cache(run: Run) -> None:
    connection = run.bridge.connection()
    progress: list[str] = []

    first = run.post_published(connection, "evt_1", post_id="crm-1")
    second = run.post_published(connection, "evt_2", progress=progress, post_id="crm-2")

    assert run.listings("loc_demo") == 1
    assert second.tags == first.tags
    assert len(second.tags) == 250
    sent = run.sent()
    assert [data["tags"] for data in sent] == [first.tags, first.tags]
    fetched = {data["tags_fetched_at"] for data in sent}
    assert len(fetched) == 1
    fetched_at = dt.datetime.fromisoformat(fetched.pop())
    assert dt.datetime.now(dt.UTC) - fetched_at < dt.timedelta(seconds=60)
    assert progress[0] == (
        f"250 tags of location loc_demo from the cache (fetched at {fetched_at.isoformat()})"
    )


def test_a_post_tag_the_cached_list_lacks_lists_again_instead_of_asking_by_id(run: Run) -> None:
    connection = small_connection(run.bridge)
    lagging = RewritingGHL(run.bridge.ghl_app, "/tags", drop_the_lagging_tag)
    run.post_published(connection, "evt_1", ghl=lagging, post_id="crm-1")

    # GHL's listing has caught up with the tag since: the post names it.
    record = run.post_published(connection, "evt_2", post_id="crm-2", ghl_post_id=POST.id)

    assert run.listings("loc_small") == 2
    assert brief(LAGGING) in record.tags
    assert len(record.tags) == 20
    assert record.post_tags == [brief(tag_id) for tag_id in POST.tag_ids]
    assert run.bridge.journal("/tags/details") == []
    first, second = (dt.datetime.fromisoformat(data["tags_fetched_at"]) for data in run.sent())
    assert second > first


def test_a_tag_the_listing_still_lacks_is_asked_by_id_and_listed_only_once(run: Run) -> None:
    connection = small_connection(run.bridge)
    lagging = RewritingGHL(run.bridge.ghl_app, "/tags", drop_the_lagging_tag)
    run.post_published(connection, "evt_1", ghl=lagging, post_id="crm-1")

    records = [
        run.post_published(
            connection, f"evt_{n}", ghl=lagging, post_id=f"crm-{n}", ghl_post_id=POST.id
        )
        for n in (2, 3, 4)
    ]

    # One refresh for the first post naming the tag; the listing still lacked it, and the
    # next posts naming it ask for it by id without listing again.
    assert run.listings("loc_small") == 2
    details = run.bridge.journal("/tags/details")
    assert [entry["body"] for entry in details] == [{"tagIds": [LAGGING]}] * 3
    for record in records:
        assert record.post_tags == [brief(tag_id) for tag_id in POST.tag_ids]
        assert brief(LAGGING) not in record.tags
    assert len({data["tags_fetched_at"] for data in run.sent()}) == 2


def test_a_post_whose_tags_are_all_cached_lists_nothing(run: Run) -> None:
    connection = small_connection(run.bridge)
    run.post_published(connection, "evt_1", post_id="crm-1")

    record = run.post_published(connection, "evt_2", post_id="crm-2", ghl_post_id=POST.id)

    assert run.listings("loc_small") == 1
    assert record.post_tags == [brief(tag_id) for tag_id in POST.tag_ids]
    assert run.bridge.journal("/tags/details") == []

"""The chaos verdict: what counts as lost, written twice or missing at the CRM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.faults.verdict import WritebackId, chaos_verdict, parse_writeback_id


@dataclass(frozen=True)
class Event:
    id: str
    type: str = "post.published"
    status: str = "done"
    attempts: int = 1
    last_error: str | None = None
    replays: int = 0


def stored(webhook_id: str, outcome: str = "stored") -> dict[str, Any]:
    return {"webhook_id": webhook_id, "outcome": outcome, "status": 200}


@pytest.mark.parametrize(
    ("webhook_id", "parsed"),
    [
        ("evt_1.post.tags_synced", WritebackId("evt_1", 0, "post.tags_synced")),
        ("evt_1.r2.post.tags_synced", WritebackId("evt_1", 2, "post.tags_synced")),
        ("evt_1.location.statistics_synced", WritebackId("evt_1", 0, "location.statistics_synced")),
        ("evt_1.r.post", WritebackId("evt_1", 0, "r.post")),
        ("evt_1", None),
        (".post.tags_synced", None),
        ("evt_1.", None),
    ],
)
def test_a_writeback_id_names_its_event_and_replay(
    webhook_id: str, parsed: WritebackId | None
) -> None:
    assert parse_writeback_id(webhook_id) == parsed


def test_a_clean_run_has_no_failures() -> None:
    events = [Event("evt_1"), Event("evt_2", status="dead", last_error="gave up")]
    deliveries = [stored("evt_1.post.tags_synced"), stored("evt_1.post.tags_synced", "duplicate")]

    verdict = chaos_verdict({"evt_1", "evt_2"}, events, deliveries)

    assert verdict.failures == []
    assert verdict.lost == 0
    assert (verdict.stored_writebacks, verdict.duplicate_answers) == (1, 1)
    assert verdict.statuses == {"done": 1, "dead": 1}
    assert verdict.dead == ["evt_2 post.published dead after 1 attempt(s): gave up"]


def test_events_not_finished_or_gone_are_lost() -> None:
    events = [Event("evt_1", status="retrying", attempts=3, last_error="crm: 503")]

    verdict = chaos_verdict({"evt_1", "evt_9"}, events, [])

    assert verdict.not_terminal == ["evt_1 post.published retrying after 3 attempt(s): crm: 503"]
    assert verdict.accepted_not_in_store == ["evt_9"]
    assert verdict.lost == 2
    assert verdict.failures == [
        "1 accepted event(s) not done or dead",
        "1 accepted event(s) not in the store",
    ]


def test_a_done_event_without_its_writeback_is_missing() -> None:
    # Replayed once: the write-back of the first run does not count for the second.
    events = [Event("evt_1", replays=1)]

    verdict = chaos_verdict({"evt_1"}, events, [stored("evt_1.post.tags_synced")])

    assert len(verdict.missing_writebacks) == 1
    assert verdict.failures == ["1 done event(s) without a write-back"]


def test_two_ids_for_one_run_of_an_event_are_a_failure_but_a_replay_is_not() -> None:
    events = [Event("evt_1", replays=1), Event("evt_2")]
    deliveries = [
        stored("evt_1.post.tags_synced"),
        stored("evt_1.r1.post.tags_synced"),
        stored("evt_2.post.tags_synced"),
        stored("evt_2.post.tag_details_attached"),
        stored("not-ours"),
    ]

    verdict = chaos_verdict({"evt_1", "evt_2"}, events, deliveries)

    assert verdict.written_twice == {
        "evt_2 (replay 0)": ["evt_2.post.tag_details_attached", "evt_2.post.tags_synced"]
    }
    assert verdict.foreign_writebacks == ["not-ours"]
    assert verdict.failures == ["1 event(s) written back under two ids"]

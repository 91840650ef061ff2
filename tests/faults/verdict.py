"""What a run found, from the store's events and the sandbox CRM's deliveries: pure functions.

    verdict = chaos_verdict(accepted, events, deliveries)
    verdict.failures     # [] when every assertion held, else one line per broken one

A write-back's webhook-id is ``<event id>.<type>``, or ``<event id>.r<n>.<type>`` for the
n-th replay (`workers.flows.context.FlowContext.idempotency_key`): from the CRM's side each
stored delivery names the event and the replay it came from.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.functional.harness import FINAL

_REPLAY = re.compile(r"^r(\d+)$")


class EventLike(Protocol):
    """What the verdict reads of a store event (`store.EventRecord` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def replays(self) -> int: ...


@dataclass(frozen=True)
class WritebackId:
    """A write-back's webhook-id taken apart."""

    event_id: str
    replay: int
    type: str


def parse_writeback_id(webhook_id: str) -> WritebackId | None:
    """``evt_1.post.tags_synced`` -> (evt_1, 0, post.tags_synced); None if not of that form."""
    event_id, dot, rest = webhook_id.partition(".")
    if not dot or not event_id or not rest:
        return None
    first, dot, after = rest.partition(".")
    replay = _REPLAY.match(first)
    if replay is not None and dot and after:
        return WritebackId(event_id, int(replay.group(1)), after)
    return WritebackId(event_id, 0, rest)


def event_line(event: EventLike) -> str:
    """One event in a report: id, type, status, attempts and its last error."""
    error = getattr(event, "error_kind", None)
    kind = f" [{error}]" if error else ""
    return (
        f"{event.id} {event.type} {event.status} after {event.attempts} attempt(s){kind}: "
        f"{event.last_error or '-'}"
    )


@dataclass
class ChaosVerdict:
    """Every figure and finding of a chaos run's end state."""

    statuses: Counter[str] = field(default_factory=Counter)
    not_terminal: list[str] = field(default_factory=list)
    accepted_not_in_store: list[str] = field(default_factory=list)
    missing_writebacks: list[str] = field(default_factory=list)
    written_twice: dict[str, list[str]] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)
    stored_writebacks: int = 0
    duplicate_answers: int = 0
    foreign_writebacks: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Accepted events that did not end, or are gone, plus done ones never written back."""
        return (
            len(self.not_terminal) + len(self.accepted_not_in_store) + len(self.missing_writebacks)
        )

    @property
    def failures(self) -> list[str]:
        """One line per assertion that does not hold (empty: the run passed)."""
        lines = []
        if self.not_terminal:
            lines.append(f"{len(self.not_terminal)} accepted event(s) not done or dead")
        if self.accepted_not_in_store:
            lines.append(f"{len(self.accepted_not_in_store)} accepted event(s) not in the store")
        if self.missing_writebacks:
            lines.append(f"{len(self.missing_writebacks)} done event(s) without a write-back")
        if self.written_twice:
            lines.append(f"{len(self.written_twice)} event(s) written back under two ids")
        return lines


def chaos_verdict(
    accepted: Iterable[str],
    events: Sequence[EventLike],
    deliveries: Sequence[Mapping[str, Any]],
) -> ChaosVerdict:
    """Judge a run: ``accepted`` event ids (answered 202, or 200 duplicate on a resend),
    every event of the store, every delivery the sandbox CRM logged."""
    verdict = ChaosVerdict()
    by_id = {event.id: event for event in events}
    stored: dict[tuple[str, int], set[str]] = defaultdict(set)
    for delivery in deliveries:
        if delivery.get("outcome") == "duplicate":
            verdict.duplicate_answers += 1
        if delivery.get("outcome") != "stored":
            continue
        verdict.stored_writebacks += 1
        webhook_id = str(delivery.get("webhook_id", ""))
        parsed = parse_writeback_id(webhook_id)
        if parsed is None or parsed.event_id not in by_id:
            verdict.foreign_writebacks.append(webhook_id)
            continue
        stored[(parsed.event_id, parsed.replay)].add(webhook_id)

    for event_id in sorted(set(accepted)):
        event = by_id.get(event_id)
        if event is None:
            verdict.accepted_not_in_store.append(event_id)
        elif event.status not in FINAL:
            verdict.not_terminal.append(event_line(event))
    for event in events:
        verdict.statuses[event.status] += 1
        if event.status == "dead":
            verdict.dead.append(event_line(event))
        # A done event wrote its latest run's write-back (the replay it is at) to the CRM.
        if event.status == "done" and not stored.get((event.id, event.replays)):
            verdict.missing_writebacks.append(event_line(event))
    for (event_id, replay), ids in sorted(stored.items()):
        if len(ids) > 1:
            verdict.written_twice[f"{event_id} (replay {replay})"] = sorted(ids)
    return verdict

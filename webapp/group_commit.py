"""The webhooks that arrive together, recorded in one commit and enqueued in one round trip.

    accepted = group.accept(NewEvent(connection_id=…, type=…, payload=…, webhook_id=…))
    accepted.event, accepted.created, accepted.task_id

A threaded web process answers several webhooks at once. Each one's own commit (SQLite
writes the row and its indexes to the WAL; PostgreSQL flushes its WAL) and its own Redis
round trip were the largest costs of a webhook (docs/benchmarks.md), and every thread waited
for the database's write lock in turn. Here the threads take turns as *leader*: a thread that
finds no batch in flight records every delivery waiting at that moment, its own among them,
with `Store.record_events` (one transaction) and enqueues the new events with
`workers.publish.publish_events` (one MULTI/EXEC); the others wait and are handed their
outcome. Whoever arrives while a batch is in flight goes into the next one.

The guarantees are a single webhook's: `accept` returns only once the delivery's event is
committed and its task is in Redis (or it was a repeat). If the queue does not take the
batch, its new events are removed again and every delivery of it gets EnqueueError (the
CRM retries each, as a first delivery). If the store fails, every delivery of the batch gets
that error. A connection removed meanwhile fails the batch's one transaction: its deliveries
are then recorded one by one, and only that connection's get NotFound.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from store import EventRecord, Store
from store.events import NewEvent
from workers.dispatch import EnqueueError
from workers.publish import TaskPublisher, publish_events


@dataclass(frozen=True)
class Accepted:
    """What became of one delivery: its event, whether it is new, and its task if new."""

    event: EventRecord
    created: bool
    task_id: str | None


class _Delivery:
    def __init__(self, new: NewEvent) -> None:
        self.new = new
        self.outcome: Accepted | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    """Accepts deliveries for one process, batching those that arrive together."""

    def __init__(self, store: Store, publisher: TaskPublisher) -> None:
        self._store = store
        self._publisher = publisher
        self._changed = threading.Condition()
        self._waiting: list[_Delivery] = []
        self._leading = False

    def accept(self, new: NewEvent) -> Accepted:
        """Record the delivery's event and enqueue its task (nothing for a repeat).

        Raises what recording or enqueueing raised: StoreUnavailable, EnqueueError (the
        event is not kept), NotFound (the connection is gone).
        """
        mine = _Delivery(new)
        with self._changed:
            self._waiting.append(mine)
            while not mine.done and self._leading:
                self._changed.wait()
            if not mine.done:
                # No batch in flight: lead one with everything waiting, this delivery too.
                self._leading = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            try:
                self._run(batch)
            finally:
                with self._changed:
                    for delivery in batch:
                        if delivery.outcome is None and delivery.error is None:
                            # The leader was interrupted (a worker timeout, a signal).
                            delivery.error = RuntimeError("the batch was cut short")
                        delivery.done = True
                    self._leading = False
                    self._changed.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _run(self, batch: list[_Delivery]) -> None:
        try:
            results = self._record(batch)
        except Exception as exc:  # every delivery of the batch answers with this error
            for delivery in batch:
                delivery.error = exc
            return
        new_events = [event for (event, created), _ in results if created]
        try:
            task_ids = iter(publish_events(self._publisher, new_events))
        except EnqueueError as exc:
            # Nothing half-accepted: forget the new events so the CRM's retries are first
            # deliveries, not repeats of events that will never run. A repeat of an event
            # accepted earlier is still a repeat.
            discarded = {event.id for event in new_events}
            for event_id in discarded:
                self._store.discard_event(event_id)
            for (event, _), delivery in results:
                if event.id in discarded:
                    delivery.error = exc
                else:
                    delivery.outcome = Accepted(event, False, None)
            return
        for (event, created), delivery in results:
            delivery.outcome = Accepted(event, created, next(task_ids) if created else None)

    def _record(self, batch: list[_Delivery]) -> list[tuple[tuple[EventRecord, bool], _Delivery]]:
        """Each delivery's (event, created), the batch in one transaction when it can be."""
        try:
            recorded = self._store.record_events([delivery.new for delivery in batch])
        except IntegrityError:
            # A connection was removed: one by one, so that only its deliveries fail.
            pass
        else:
            return list(zip(recorded, batch, strict=True))
        results = []
        for delivery in batch:
            new = delivery.new
            try:
                results.append(
                    (
                        self._store.record_event(
                            connection_id=new.connection_id,
                            type=new.type,
                            payload=new.payload,
                            webhook_id=new.webhook_id,
                            source=new.source,
                        ),
                        delivery,
                    )
                )
            except Exception as exc:  # NotFound for the removed connection's deliveries
                delivery.error = exc
        return results

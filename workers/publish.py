"""A new event's task put on the Redis queue in one round trip: the receiver's enqueue.

    publisher = TaskPublisher(celery)          # one per process; connects on first use
    task_id = publish_event(publisher, event)  # as workers.dispatch.enqueue_event(celery, event)

`celery.send_task` took about a third of a webhook's time in the receiver
(docs/benchmarks.md): kombu borrows a producer and a channel, builds a new Redis client for
each publish, and sends the task-sent event Flower shows as a second command. What reaches
Redis is simple: kombu's Redis transport LPUSHes one JSON envelope per task onto the queue's
list, and PUBLISHes the event on a channel. `TaskPublisher` writes the same two, byte for byte
the format kombu writes for `send_task(name, args=…, task_id=…)` with our Celery settings
(Celery's task message protocol 2: headers, properties, a base64 body), in one pipeline. The
worker consumes them unchanged: tests/unit/workers/test_publish.py compares the two messages
field by field, and the functional tests run every webhook through a real worker.

What it does not do, so that it stays the same message: routing, countdowns, ETAs, priorities,
kwargs, Celery's publish signals. An event with any of those goes through
`workers.dispatch.enqueue_event`; so does every event when the broker is not a ``redis://``
URL (`TaskPublisher.lean` is False then and `send_task` does the work).

A Redis that does not answer is tried again as `task_publish_retry_policy` says (three tries
in about a second), then `EnqueueError`, as `send_task` would.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from celery.utils.time import utcoffset
from redis.backoff import NoBackoff
from redis.retry import Retry

from store import EventRecord
from workers.dispatch import TASK_FOR_EVENT, TASK_ID_SEPARATOR, EnqueueError

# kombu's Redis transport puts fanout messages (events) on channels named `/{db}.{exchange}/…`.
_FANOUT_CHANNEL = "/{db}.{exchange}/{routing_key}"
# Celery's `embed` part of a protocol 2 body: no callbacks, errbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class TaskPublisher:
    """Publishes task messages to the Celery app's Redis broker, one pipeline per task.

    Thread-safe (redis-py's pool), and safe across fork: redis-py opens new connections in a
    child process, and the sender's name (`origin`) is taken again in each process.
    """

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        conf = celery.conf
        broker_url = str(conf.broker_url or "")
        self.lean = broker_url.startswith("redis://")
        self._url = broker_url
        self._queue = str(conf.task_default_queue)
        options = dict(conf.broker_transport_options or {})
        self._connect_timeout: float | None = options.get("socket_connect_timeout")
        self._socket_timeout: float | None = options.get("socket_timeout")
        policy = dict(conf.task_publish_retry_policy or {}) if conf.task_publish_retry else {}
        self._retries = int(policy.get("max_retries", 0) or 0)
        self._interval_start = float(policy.get("interval_start", 0) or 0)
        self._interval_step = float(policy.get("interval_step", 0) or 0)
        self._interval_max = float(policy.get("interval_max", 0) or 0)
        self._send_sent_event = bool(conf.task_send_sent_event)
        self._event_exchange = str(conf.event_exchange)
        self._argsrepr_maxsize = int(celery.amqp.argsrepr_maxsize)
        self._repr_maxlevels = int(conf.task_repr_maxlevels)
        self._client: redis.Redis[bytes] | None = None
        self._client_lock = threading.Lock()
        self._origin: tuple[int, str] | None = None

    def send_task(self, name: str, args: list[Any], task_id: str) -> None:
        """Put task ``name`` with ``args`` (JSON primitives) on the default queue; EnqueueError
        when the broker does not take it."""
        self.send_tasks([(name, args, task_id)])

    def send_tasks(self, tasks: Sequence[tuple[str, list[Any], str]]) -> None:
        """`send_task` for each ``(name, args, task_id)``, all in one MULTI/EXEC: Redis takes
        all of them or none. EnqueueError when it does not take them.

        Without the lean path each goes through `send_task` in turn, and one that fails
        raises EnqueueError with the earlier ones sent: a caller that gives up their events
        leaves tasks that find no event, which the worker skips (``event.missing``).
        """
        if not self.lean:
            for name, args, task_id in tasks:
                try:
                    self._celery.send_task(name, args=args, task_id=task_id)
                except Exception as exc:  # kombu/redis raise many types; all mean "not enqueued"
                    raise EnqueueError(f"could not enqueue {task_id}: {exc!r}") from exc
            return
        if tasks:
            self._execute(tasks[0][2], [self.messages(*task) for task in tasks])

    def messages(
        self, name: str, args: list[Any], task_id: str
    ) -> tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]:
        """The task's envelope as kombu LPUSHes it, and the task-sent event's channel and
        envelope (None when `task_send_sent_event` is off)."""
        origin = self._nodename()
        argsrepr = _argsrepr(args, self._argsrepr_maxsize, self._repr_maxlevels)
        body: tuple[Any, ...] = (args, {}, _EMBED)
        headers: dict[str, Any] = {
            "lang": "py",
            "task": name,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": argsrepr,
            "kwargsrepr": "{}",
            "origin": origin,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        properties = {
            "correlation_id": task_id,
            "reply_to": self._celery.thread_oid,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": self._queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        message = _envelope(body, headers, properties)
        if not self._send_sent_event:
            return message, None
        fields = {
            "hostname": origin,
            "utcoffset": utcoffset(),
            "pid": os.getpid(),
            "clock": self._celery.clock.forward(),
            "uuid": task_id,
            "root_id": task_id,
            "parent_id": None,
            "name": name,
            "args": argsrepr,
            "kwargs": "{}",
            "retries": 0,
            "eta": None,
            "expires": None,
            "queue": self._queue,
            "exchange": "",
            "routing_key": self._queue,
            "timestamp": time.time(),
            "type": "task-sent",
        }
        event_properties = {
            "delivery_mode": 1,
            "delivery_info": {"exchange": self._event_exchange, "routing_key": "task.sent"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        channel = _FANOUT_CHANNEL.format(
            db=self._db(), exchange=self._event_exchange, routing_key="task.sent"
        )
        return message, (channel, _envelope(fields, {"hostname": origin}, event_properties))

    def close(self) -> None:
        """Close the pooled connections (at shutdown, and in tests)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
            client.connection_pool.disconnect()

    def _execute(
        self,
        first_task_id: str,
        messages: Sequence[tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]],
    ) -> None:
        interval = self._interval_start
        for attempt in range(self._retries + 1):
            try:
                # One task alone needs no MULTI: a single LPUSH is all or nothing already.
                pipeline = self._redis().pipeline(transaction=len(messages) > 1)
                for message, event in messages:
                    pipeline.lpush(self._queue, json.dumps(message))
                    if event is not None:
                        pipeline.publish(event[0], json.dumps(event[1]))
                pipeline.execute()
                return
            except redis.RedisError as exc:
                if attempt == self._retries or not isinstance(
                    exc, redis.ConnectionError | redis.TimeoutError
                ):
                    more = f" and {len(messages) - 1} more" if len(messages) > 1 else ""
                    raise EnqueueError(f"could not enqueue {first_task_id}{more}: {exc!r}") from exc
                time.sleep(min(interval, self._interval_max))
                interval += self._interval_step

    def _redis(self) -> redis.Redis[bytes]:
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    client = self._client = redis.Redis.from_url(
                        self._url,
                        socket_connect_timeout=self._connect_timeout,
                        socket_timeout=self._socket_timeout,
                        # Our own loop tries again (`_execute`); redis-py's default retries
                        # would add seconds of backoff before a 503.
                        retry=Retry(NoBackoff(), 0),
                    )
                    # Whoever drops the publisher without `close` (an app built for a test)
                    # still gets its sockets closed, not left to the garbage collector.
                    weakref.finalize(self, client.connection_pool.disconnect)
        return client

    def _db(self) -> int:
        return int(self._redis().connection_pool.connection_kwargs.get("db", 0) or 0)

    def _nodename(self) -> str:
        # Celery's anonymous node name (gen<pid>@<host>), as `origin` and the event's
        # hostname; taken again after a fork, since it holds the pid.
        pid = os.getpid()
        if self._origin is None or self._origin[0] != pid:
            self._origin = (pid, str(anon_nodename()))
        return self._origin[1]


def publish_event(publisher: TaskPublisher, event: EventRecord) -> str:
    """`workers.dispatch.enqueue_event(celery, event)` through ``publisher``: the same task,
    arguments (the event's id and payload) and task id form; returns the task id."""
    [task_id] = publish_events(publisher, [event])
    return task_id


def publish_events(publisher: TaskPublisher, events: Sequence[EventRecord]) -> list[str]:
    """`publish_event` for each of ``events``, in one round trip (`TaskPublisher.send_tasks`);
    their task ids, in order."""
    tasks = [
        (
            TASK_FOR_EVENT[event.type],
            [event.id, event.payload],
            f"{event.id}{TASK_ID_SEPARATOR}{secrets.token_hex(4)}",
        )
        for event in events
    ]
    publisher.send_tasks(tasks)
    return [task_id for _, _, task_id in tasks]


def _argsrepr(args: list[Any], maxsize: int, maxlevels: int) -> str:
    # What Celery shows of the arguments (Flower, logs). saferepr walks the value in Python
    # (about 20 times repr's cost); for plain values that fit, repr writes the same text.
    text = repr(args)
    if len(text) <= maxsize and _plain(args, maxlevels):
        return text
    return str(saferepr(args, maxsize, maxlevels=maxlevels))


def _plain(value: Any, levels: int) -> bool:
    """Whether saferepr writes ``value`` as repr does: no container nested deeper than
    ``levels`` (saferepr shows those as ``{...}``), and only strings that repr writes as
    they are (saferepr quotes and escapes strings its own way)."""
    if isinstance(value, str):
        return "'" not in value and "\\" not in value and value.isprintable()
    if isinstance(value, dict):
        return levels > 0 and all(
            _plain(key, levels) and _plain(item, levels - 1) for key, item in value.items()
        )
    if isinstance(value, list):
        return levels > 0 and all(_plain(item, levels - 1) for item in value)
    return value is None or isinstance(value, bool | int | float)


def _envelope(body: Any, headers: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """kombu's message envelope: the body as JSON, then base64 (what the Redis transport
    stores), with the headers and properties beside it."""
    encoded = base64.b64encode(json.dumps(body).encode("utf-8")).decode("ascii")
    return {
        "body": encoded,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": properties,
    }

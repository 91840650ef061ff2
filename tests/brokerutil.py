"""What is waiting on the Celery queue in Redis, read the way a worker would find it.

[task] = queued_tasks(redis_url)
assert task.name == "flows.sync_post_tags" and task.args == [event.id, payload]
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import redis

from workers.celery_app import QUEUE


@dataclass(frozen=True)
class QueuedTask:
    name: str
    id: str
    args: list[Any]
    kwargs: dict[str, Any]
    eta: str | None


def queue_length(redis_url: str) -> int:
    """LLEN of the socialbridge queue."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()


def queued_tasks(redis_url: str) -> list[QueuedTask]:
    """The messages on the socialbridge queue, oldest first, decoded."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(QUEUE, 0, -1)
    finally:
        client.close()
    tasks = []
    # kombu LPUSHes and the worker BRPOPs: the oldest message is the last of the list.
    for message in reversed(raw):
        envelope = json.loads(message)
        assert envelope["properties"]["body_encoding"] == "base64"
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        tasks.append(
            QueuedTask(
                name=headers["task"],
                id=headers["id"],
                args=args,
                kwargs=kwargs,
                eta=headers.get("eta"),
            )
        )
    return tasks

"""The broker transport: kombu's Redis transport, safe to use after its connection was closed.

With Celery 5.7 and kombu 5.7 a Redis restart could end the worker's main process:

    CRITICAL Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")
    ERROR    Error on stopping Hub: AttributeError(...)

When the consumer loses Redis, Celery 5.7 first ``collect()``s the broken kombu connection,
which detaches its transport (``transport.client = None``) but keeps the connection's default
channel, and then ``close()``s the same connection, which closes that channel again. Closing
a channel that holds delivered, unacknowledged messages gives them back to Redis
(``restore_unacked``); for that the channel builds a new redis-py pool from its transport's
client, the detached ``None``, and raises AttributeError. Celery only ignores connection
errors there, so the AttributeError ends the worker. An acknowledgement still pending in the
event loop for a message of the old channel takes the same path when the loop runs it: at the
next iteration after the reconnect, or while the worker stops (the "Error on stopping Hub").
Celery 5.6 did not close the connection after collecting it; Celery 5.7 requires kombu 5.7.

`RedisChannel` answers such late work with `BrokerConnectionClosed`, a redis ConnectionError
(and logs ``broker.closed_channel_used``): what Celery and kombu already expect from a channel
whose Redis is gone. The close is then ignored, and a late acknowledgement is logged as
"Couldn't ack" and not lost either: the message stays in Redis's unacked hash and comes back
after the visibility timeout, and running an event twice is harmless. kombu 5.7's
`Transport.supports_batch_publish` reads the same detached client; `RedisTransport` answers
"no batching" there instead of raising.

`RedisChannel` also puts a message whose headers carry `FRONT_HEADER` at the *front* of its
queue (RPUSH, where the worker's BRPOP takes the next message) instead of the back: the re-sent
message of an event the GHL rate limiter deferred, with the slots booked for it, from a worker
of the threads pool (workers/tasks.py). Behind a burst of new events it would reach the worker
only after all of them were taken, seconds after its slot; at the front it is taken at once,
and waits for its countdown in the worker's timer, without taking a thread or another
message's place. Through kombu's stock transport (``rediss://``) it goes to the back, as any
message.

Selected in `workers/celery_app.py` with ``broker_transport``, for ``redis://`` broker URLs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps
from kombu.utils.url import as_url

from socialbridge.logs import get_logger

log = get_logger(__name__)

SCHEME = "redis"
"""The only URL scheme `RedisTransport` is used for (see `workers/celery_app.py`)."""


FRONT_HEADER = "x-socialbridge-front"
"""A message header: put the message at the front of its queue (see the module)."""


class BrokerConnectionClosed(redis.exceptions.ConnectionError):
    """Work asked of a channel whose broker connection was already closed."""


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, refusing with a connection error once its transport is detached."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # A channel closed all the way has no transport any more; one whose close was cut
        # short still has it, detached.
        if self.connection is None or self.connection.client is None:
            log.info("broker.closed_channel_used")
            raise BrokerConnectionClosed(
                "the broker connection of this channel was closed; Redis gives its "
                "unacknowledged messages back after the visibility timeout"
            )
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        return params

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Deliver the message: at the front of the queue when it asks to be (FRONT_HEADER)."""
        headers = message.get("headers") or {}
        if not headers.get(FRONT_HEADER) or (self._expires and queue in self._expires):
            super()._put(queue, message, **kwargs)  # type: ignore[no-untyped-call]
            return
        # Sent on its own, not in the producer's batch: it is one message, and the batch
        # only LPUSHes.
        kwargs.pop("_publish_batch", None)
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))  # type: ignore[no-untyped-call]
        with self.conn_or_acquire() as client:
            client.rpush(key, dumps(message))  # type: ignore[no-untyped-call]


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with `RedisChannel` (see the module)."""

    Channel = RedisChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        # kombu names a transport chosen by class path in every URL it shows ("Connected to
        # workers.redis_transport:RedisTransport://…"), unless the transport renders the URL
        # itself, which kombu asks only of a transport *instance* that says it parses URLs.
        # The class keeps saying no, so kombu still parses the broker URL as for "redis".
        self.can_parse_url = True

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """The connection's URL as kombu shows it for the stock transport: ``redis://…``."""
        client = self.client
        if client is None:
            raise NotImplementedError  # kombu then shows the bare host name
        fields = client.info()
        password = fields["password"] if include_password else mask
        if callable(password):
            password = password()
        return str(
            as_url(
                SCHEME,
                client.hostname or "localhost",
                fields["port"],
                fields["userid"],
                password,
                quote(fields["virtual_host"]),
                sanitize=not include_password,
                mask=mask,
            )
        )

    @property
    def supports_batch_publish(self) -> bool:
        """Whether publishes may be batched: never through a detached transport."""
        if self.client is None:
            return False
        return bool(super().supports_batch_publish)

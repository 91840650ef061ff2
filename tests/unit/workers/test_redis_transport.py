"""The broker transport against a real redis-server: late work on a closed connection.

Celery 5.7's consumer, on losing Redis, ``collect()``s its kombu connection (which detaches
the transport) and then ``close()``s it; a message's acknowledgement may still be pending in
the event loop. Each test does what Celery does, through kombu's public API, with kombu's
stock transport (which must still fail: when it no longer does, the workaround can go) and
with ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection, Consumer, Exchange, Message, Producer, Queue

from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from workers.celery_app import REDIS_TRANSPORT, celery_config, make_celery
from workers.redis_transport import BrokerConnectionClosed, RedisTransport

STOCK = "redis"
QUEUE = Queue("transport-test", Exchange("transport-test", type="direct"), "transport-test")
# A fanout queue on a channel of its own, like the pidbox Celery's worker listens on.
PIDBOX = Queue("test.pidbox", Exchange("test", type="fanout"), auto_delete=True)
UNACKED_KEY = "unacked"
# Redis writes its append-only file every second: wait longer before killing it.
FSYNC_SECONDS = 1.2
BRPOP_SECONDS = 30


def delivered(connection: Connection) -> Message:
    """One message received and not acknowledged, as a worker holds it while running its task,
    with a pidbox channel open beside."""
    channel = connection.default_channel
    received: list[Message] = []
    consumer = Consumer(channel, [QUEUE], prefetch_count=10)
    consumer.register_callback(lambda _body, message: received.append(message))
    consumer.consume()
    Consumer(connection.channel(), [PIDBOX], no_ack=True).consume()
    Producer(channel).publish(
        {"n": 1}, exchange=QUEUE.exchange, routing_key=QUEUE.routing_key, declare=[QUEUE]
    )
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            connection.drain_events(timeout=1)
    assert received, "the message was not delivered"
    return received[0]


def await_next(connection: Connection) -> None:
    """Wait for the next message a moment, as the worker does: a BRPOP is left pending."""
    for _ in range(50):  # what is already on the wire first (a BRPOP's empty answer, say)
        try:
            connection.drain_events(timeout=0.1)
        except TimeoutError:
            return
    raise AssertionError("the connection never went quiet")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, to kill and start again."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("transport", [STOCK, REDIS_TRANSPORT])
def test_closing_after_collect_as_celery_does_when_redis_dies(
    server: EmbeddedRedis, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Redis answers a pending BRPOP after the polling interval (1 s by default): long enough
    # that it is still pending when Redis dies, however slow the machine.
    connection = Connection(
        server.url, transport=transport, transport_options={"polling_interval": BRPOP_SECONDS}
    )
    message = delivered(connection)
    time.sleep(FSYNC_SECONDS)
    await_next(connection)
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while server.poll() is None:
        time.sleep(0.02)

    connection.collect()
    if transport == STOCK:
        with pytest.raises(AttributeError, match="hostname"):
            connection.close()
        with pytest.raises(AttributeError, match="hostname"):
            message.ack()
        return
    caplog.set_level(logging.INFO, logger="workers.redis_transport")
    connection.close()
    assert "broker.closed_channel_used" in caplog.messages
    with pytest.raises(BrokerConnectionClosed):
        message.ack()
    # What Celery's event loop runs for an acknowledgement that was pending: it logs a
    # connection error, and goes on.
    caplog.set_level(logging.CRITICAL, logger=__name__)
    message.ack_log_error(logging.getLogger(__name__), connection.connection_errors)
    assert "Couldn't ack" in caplog.text

    server.start()  # on its append-only file
    client = redis.Redis.from_url(server.url)
    try:
        # Not lost: Redis still holds it as delivered and not acknowledged, and gives it back
        # after the visibility timeout.
        assert client.hexists(UNACKED_KEY, message.delivery_tag)
    finally:
        client.close()


def test_no_batching_through_a_detached_transport(redis_url: str) -> None:
    connection = Connection(redis_url, transport=REDIS_TRANSPORT)
    transport = connection.transport
    stock = Connection(redis_url).transport

    assert transport.supports_batch_publish is stock.supports_batch_publish is True
    connection.collect()
    assert transport.client is None
    assert transport.supports_batch_publish is False


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@10.0.0.1:6380/3",
        "redis://user:p%40ss@redis.internal/2",
        "redis://redis.internal",
    ],
)
def test_urls_read_as_with_the_stock_transport(url: str) -> None:
    ours, stock = Connection(url, transport=REDIS_TRANSPORT), Connection(url)

    assert ours.as_uri() == stock.as_uri()
    assert ours.as_uri(include_password=True) == stock.as_uri(include_password=True)
    assert ours.as_uri().startswith("redis://")
    assert ours.info()["virtual_host"] == stock.info()["virtual_host"]


def test_celery_uses_it_for_redis_urls_only(redis_url: str) -> None:
    settings = Settings.from_mapping({"secret_key": "k" * 43, "redis_url": redis_url})
    app = make_celery(settings)

    assert isinstance(app.connection_for_write().transport, RedisTransport)
    assert (
        celery_config(settings.replace(redis_url="rediss://cache:6380/0"))["broker_transport"]
        is None
    )

"""The generic webhook connector, against CRMs faked at the transport."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from crm.connector import WriteBack
from crm.webhook import WebhookConnector
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError

SECRET = "whsec_" + base64.b64encode(b"sandbox-crm-secret-0123456789").decode()
# CRMs often put a token of their own in the hook URL: it must not reach a log either.
URL = "https://crm.example/hooks/acme?token=url-token-9f8e7d"
NOW = 1_795_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]


def writeback(key: str = "wb-post-1-tags") -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "ghl_post_id": None,
            "tags": [{"id": "t1", "name": "Listing"}],
            "synced_at": "2026-11-23T10:00:00Z",
        },
    )


class FakeCRM:
    """Answers every request with the handler's response and keeps the requests."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or (lambda _: httpx.Response(200, json={"ok": True}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def crm() -> FakeCRM:
    return FakeCRM()


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def connector(crm: FakeCRM, clock: list[float]) -> Iterator[WebhookConnector]:
    http = httpx.Client(transport=httpx.MockTransport(crm))
    connector = WebhookConnector(http, url=URL, secret=SECRET, clock=lambda: clock[0])
    yield connector
    connector.close()


def verify(request: httpx.Request, now: float = NOW) -> Any:
    """What a Standard Webhooks receiver would accept, checked at the signing time."""
    headers = dict(request.headers)
    signature = headers["webhook-signature"]
    expected = Webhook(SECRET).sign(
        headers["webhook-id"],
        dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.UTC),
        request.content.decode(),
    )
    assert signature == expected
    assert int(headers["webhook-timestamp"]) == int(now)
    return json.loads(request.content)


def test_write_posts_a_signed_compact_envelope(crm: FakeCRM, connector: WebhookConnector) -> None:
    connector.write(writeback())

    [request] = crm.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("socialbridge/")
    assert request.headers["webhook-id"] == "wb-post-1-tags"
    assert request.headers["webhook-signature"].startswith("v1,")
    envelope = verify(request)
    assert envelope["type"] == "post.tags_synced"
    assert envelope["timestamp"] == "2026-11-18T11:06:40Z"
    assert envelope["data"]["tags"] == [{"id": "t1", "name": "Listing"}]
    # The bytes sent are the compact form: nothing a proxy or CRM could re-serialize differently.
    assert request.content == json.dumps(envelope, separators=(",", ":")).encode()


def test_a_fresh_signature_verifies_with_the_standardwebhooks_library() -> None:
    crm = FakeCRM()
    http = httpx.Client(transport=httpx.MockTransport(crm))
    with http:
        WebhookConnector(http, url=URL, secret=SECRET).write(writeback())

    [request] = crm.requests
    payload = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert payload["data"]["post_id"] == "crm-post-1"


def test_retries_keep_the_webhook_id_and_sign_again(
    crm: FakeCRM, connector: WebhookConnector, clock: list[float]
) -> None:
    connector.write(writeback())
    clock[0] = NOW + 90
    connector.write(writeback())

    first, second = crm.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "wb-post-1-tags"
    assert int(second.headers["webhook-timestamp"]) == int(NOW) + 90
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    verify(first)
    verify(second, now=NOW + 90)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 409])
def test_success_answers(status: int, crm: FakeCRM, connector: WebhookConnector) -> None:
    crm.handler = lambda _: httpx.Response(status)

    connector.write(writeback())

    assert len(crm.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (500, {"message": "database down"}, RetryableError, "database down"),
        (502, None, RetryableError, "Bad Gateway"),
        (503, {"error": "maintenance"}, RetryableError, "maintenance"),
        (408, None, RetryableError, "Request Timeout"),
        (401, {"error": "No matching signature found"}, AuthError, "CRM secret"),
        (403, None, AuthError, "CRM secret"),
        (400, {"message": "post is locked"}, PermanentError, "post is locked"),
        (404, {"error": "unknown account"}, PermanentError, "unknown account"),
        (422, {"errors": {"data.tags": ["bad"]}}, PermanentError, '{"data.tags": ["bad"]}'),
        (301, None, PermanentError, "redirect"),
    ],
)
def test_error_answers_map_to_the_error_tree(
    status: int,
    body: dict[str, Any] | None,
    error: type[IntegrationError],
    message: str,
    crm: FakeCRM,
    connector: WebhookConnector,
) -> None:
    crm.handler = lambda _: httpx.Response(status, json=body, headers={"x-request-id": "req-7"})

    with pytest.raises(error) as caught:
        connector.write(writeback())

    assert type(caught.value) is error
    assert caught.value.system == "crm"
    assert caught.value.status == status
    assert caught.value.trace_id == "req-7"
    assert message in caught.value.message


def test_plain_text_error_bodies_are_quoted_shortly(
    crm: FakeCRM, connector: WebhookConnector
) -> None:
    crm.handler = lambda _: httpx.Response(400, text="x" * 1000)

    with pytest.raises(PermanentError) as caught:
        connector.write(writeback())

    assert caught.value.message == "x" * 300 + "…"


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("inf", None), (None, None)],
)
def test_429_carries_retry_after(
    retry_after: str | None, expected: float | None, crm: FakeCRM, connector: WebhookConnector
) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    crm.handler = lambda _: httpx.Response(429, headers=headers)

    with pytest.raises(RetryableError) as caught:
        connector.write(writeback())

    assert caught.value.status == 429
    assert caught.value.retry_after == expected


def test_retry_after_as_an_http_date(crm: FakeCRM, connector: WebhookConnector) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    crm.handler = lambda _: httpx.Response(
        503, headers={"retry-after": email.utils.format_datetime(later, usegmt=True)}
    )

    with pytest.raises(RetryableError) as caught:
        connector.write(writeback())

    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_network_failures_are_retryable(exception: httpx.HTTPError, crm: FakeCRM) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exception

    crm.handler = fail
    http = httpx.Client(transport=httpx.MockTransport(crm))
    with http, pytest.raises(RetryableError) as caught:
        WebhookConnector(http, url=URL, secret=SECRET).write(writeback())

    assert caught.value.system == "crm"
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_an_invalid_write_back_is_never_sent(crm: FakeCRM, connector: WebhookConnector) -> None:
    bad = WriteBack(type="post.tags_synced", idempotency_key="wb-1", data={"post_id": "p"})

    with pytest.raises(PermanentError, match="location_id"):
        connector.write(bad)

    assert crm.requests == []


@pytest.mark.parametrize("key", ["", "line\nbreak", "café"])
def test_an_unusable_idempotency_key_is_refused(
    key: str, crm: FakeCRM, connector: WebhookConnector
) -> None:
    with pytest.raises(PermanentError, match="idempotency key"):
        connector.write(writeback(key))

    assert crm.requests == []


def test_logs_name_the_write_and_never_a_secret(
    crm: FakeCRM, connector: WebhookConnector, caplog: pytest.LogCaptureFixture
) -> None:
    # Our loggers only: httpx's own INFO line names the full URL (logging setup silences it).
    caplog.set_level(logging.DEBUG, logger="crm")
    connector.write(writeback())
    crm.handler = lambda _: httpx.Response(401, json={"error": "No matching signature found"})
    with pytest.raises(AuthError):
        connector.write(writeback())

    records = [r for r in caplog.records if r.getMessage() == "crm.write"]
    assert len(records) == 2
    delivered, refused = (getattr(r, "event_fields", {}) for r in records)
    assert delivered["type"] == "post.tags_synced"
    assert delivered["webhook_id"] == "wb-post-1-tags"
    assert delivered["status"] == 200
    assert isinstance(delivered["elapsed_ms"], int)
    assert delivered["crm"] == "https://crm.example"
    assert refused["status"] == 401
    assert refused["outcome"] == "refused_signature"
    everything = caplog.text + repr([getattr(r, "event_fields", {}) for r in caplog.records])
    signature = crm.requests[0].headers["webhook-signature"]
    for secret in (SECRET, SECRET.removeprefix("whsec_"), "url-token-9f8e7d", signature):
        assert secret not in everything


def test_check_gets_the_url_unsigned(crm: FakeCRM, connector: WebhookConnector) -> None:
    crm.handler = lambda _: httpx.Response(405)

    message = connector.check()

    assert "https://crm.example is reachable" in message
    assert "405" in message
    assert "url-token" not in message
    [request] = crm.requests
    assert request.method == "GET"
    assert "webhook-signature" not in request.headers


def test_check_reports_an_unreachable_crm(crm: FakeCRM, connector: WebhookConnector) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    crm.handler = refuse

    with pytest.raises(RetryableError, match="unreachable"):
        connector.check()


def test_check_reports_a_timeout(crm: FakeCRM, connector: WebhookConnector) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    crm.handler = hang

    with pytest.raises(RetryableError, match="did not answer in time"):
        connector.check()


@pytest.mark.parametrize("url", ["ftp://crm.example/hooks", "crm.example/hooks", "https://"])
def test_the_url_must_be_http(url: str) -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="CRM URL"):
        WebhookConnector(http, url=url, secret=SECRET)


# The library alone would take the last two, skipping what is not base64, and sign with a
# key the CRM does not have.
@pytest.mark.parametrize(
    "secret", ["", "whsec_", "whsec_not*base64!", SECRET[:-4] + " " + SECRET[-4:]]
)
def test_the_secret_must_be_a_whsec_secret(secret: str) -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="CRM secret") as caught:
        WebhookConnector(http, url=URL, secret=secret)

    assert str(caught.value) == "CRM secret: expected whsec_ followed by base64"


def test_close_closes_the_client() -> None:
    http = httpx.Client()
    connector = WebhookConnector(http, url=URL, secret=SECRET)

    connector.close()

    assert http.is_closed

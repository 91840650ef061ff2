"""The webhook contract as a CRM meets it over HTTP: signatures, bodies, sizes, outages.

The hostile-input tests run on both servers the app meets: werkzeug's (the harness, `make
run`) and gunicorn's (the Procfile's web line), since each parses chunked bodies, odd paths
and headers its own way before the app sees them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from bench.procfile import procfile_argv
from sandbox.server import ServerThread
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from store import ConnectionRecord
from tests.functional.harness import ROOT, System, worker_environment
from webapp import create_app

LIMIT = 256 * 1024  # WEBHOOK_MAX_BYTES's default, which the harness keeps


def test_a_wrong_secret_is_refused_and_nothing_is_recorded(bridge: System) -> None:
    connection = bridge.new_connection()
    other = "whsec_" + "A" * 32

    answer = bridge.send(connection, "post.published", {"post_id": "p"}, secret=other)

    assert answer.status_code == 401
    assert answer.json()["message"] == "No signature matches this connection's webhook secrets."
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_a_stale_signature_is_refused(bridge: System) -> None:
    connection = bridge.new_connection()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)

    answer = bridge.send(connection, "post.published", {"post_id": "p"}, timestamp=old)

    assert answer.status_code == 401
    assert "too old" in answer.json()["message"]


def test_missing_signature_headers_are_named(bridge: System) -> None:
    connection = bridge.new_connection()

    answer = bridge.http.post(
        f"{bridge.web_url}/webhooks/crm/{connection.id}", json={"type": "post.published"}
    )

    assert answer.status_code == 401
    assert answer.json()["message"] == (
        "Missing header(s): webhook-id, webhook-timestamp, webhook-signature."
    )


def test_a_rotated_secret_and_the_previous_one_both_verify(bridge: System) -> None:
    connection = bridge.new_connection()
    new_secret = bridge.store.add_webhook_secret(connection.id)
    rotated = bridge.store.get_connection(connection.id)
    assert rotated is not None

    with_new = bridge.send(rotated, "statistics.requested", {}, secret=new_secret)
    with_old = bridge.send(
        rotated, "statistics.requested", {}, secret=connection.webhook_secrets[0]
    )

    assert with_new.status_code == 202
    assert with_old.status_code == 202
    for answer in (with_new, with_old):
        bridge.wait_for(answer.json()["event_id"])


def test_invalid_bodies_get_field_errors(bridge: System) -> None:
    connection = bridge.new_connection()

    missing = bridge.send(connection, "tag.details_requested", {"post_id": "p", "tag_ids": []})
    unknown_type = bridge.send(connection, "post.deleted", {"post_id": "p"})
    extra = bridge.send(connection, "post.published", {"post_id": "p", "colour": "red"})
    not_json = bridge.send(connection, "x", {}, body=b"{not json")
    bad_range = bridge.send(
        connection, "statistics.requested", {"start_date": "2026-02-01", "end_date": "2026-01-01"}
    )

    assert missing.status_code == 422
    assert missing.json() == {"errors": {"data.tag_ids": ["Give between 1 and 500 tag ids."]}}
    assert unknown_type.status_code == 422
    assert "Unknown event type" in unknown_type.json()["errors"]["type"][0]
    assert extra.json() == {"errors": {"data.colour": ["Unknown field."]}}
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["errors"]["_body"][0]
    assert bad_range.json() == {
        "errors": {"data.end_date": ["end_date must not be before start_date."]}
    }
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_another_location_is_refused(bridge: System) -> None:
    connection = bridge.new_connection()

    answer = bridge.send(connection, "post.published", {"post_id": "p", "location_id": "loc_x"})

    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == ["data.location_id"]


def test_unknown_connection_is_404(bridge: System) -> None:
    answer = bridge.http.post(f"{bridge.web_url}/webhooks/crm/con_missing", content=b"{}")

    assert answer.status_code == 404
    assert answer.json()["message"] == "No connection 'con_missing'."


def test_a_body_over_256_kib_is_413(bridge: System) -> None:
    connection = bridge.new_connection()
    big = json.dumps(
        {
            "type": "post.published",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"post_id": "p", "title": "x" * (300 * 1024)},
        }
    ).encode()

    answer = bridge.send(connection, "post.published", {}, body=big)

    assert answer.status_code == 413
    assert "262144 bytes" in answer.json()["message"]


def test_when_the_queue_is_down_the_answer_is_503_and_nothing_is_kept(
    bridge: System, tmp_path: object
) -> None:
    connection = bridge.new_connection()
    # A web process whose Redis is stopped: recording works, enqueueing cannot.
    from pathlib import Path

    redis = EmbeddedRedis(Path(str(tmp_path)) / "redis")
    redis.start()
    redis.stop()
    app = create_app(bridge.settings.replace(redis_url=redis.url))
    with ServerThread(app) as web:
        system = System(
            settings=bridge.settings,
            store=bridge.store,
            web_url=web.url,
            ghl_url=bridge.ghl_url,
            crm_url=bridge.crm_url,
            worker=bridge.worker,
            http=httpx.Client(timeout=30),
        )
        answer = system.send(connection, "post.published", {"post_id": "p"}, webhook_id="msg_q")
    app.extensions["socialbridge"].dispose()

    assert answer.status_code == 503
    assert answer.json()["message"] == "The queue is unavailable; retry later."
    assert bridge.store.list_events(connection_id=connection.id) == []
    # The CRM's retry, once the queue is back, is a first delivery.
    retried = bridge.send(connection, "post.published", {"post_id": "p"}, webhook_id="msg_q")
    assert retried.status_code == 202
    bridge.wait_for(retried.json()["event_id"])


# --- hostile input, on werkzeug's server and on gunicorn ------------------------------------


@pytest.fixture(scope="module")
def gunicorn_url(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app as the Procfile's web line runs it (its gunicorn settings: threaded
    workers, keep-alive), on the system's settings and a loopback address."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "web.log"
    env = {**worker_environment(system.settings), "PORT": str(port)}
    argv = procfile_argv("web", env, swap={f"0.0.0.0:{port}": f"127.0.0.1:{port}"})
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not healthy:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(params=["werkzeug", "gunicorn"])
def web_url(request: pytest.FixtureRequest, bridge: System) -> str:
    """The base URL of the web app under each server in turn."""
    if request.param == "werkzeug":
        return bridge.web_url
    url: str = request.getfixturevalue("gunicorn_url")
    return url


def signed(
    connection: ConnectionRecord, raw: bytes, content_type: str | None = "application/json"
) -> dict[str, str]:
    """Standard Webhooks headers for `raw`, and a Content-Type unless None."""
    msg_id = f"msg_{secrets.token_hex(8)}"
    now = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(connection.webhook_secrets[0]).sign(
            msg_id, now, raw.decode("utf-8", errors="replace")
        ),
    }
    if content_type is not None:
        headers["content-type"] = content_type
    return headers


def in_chunks(raw: bytes, size: int = 16 * 1024) -> Iterable[bytes]:
    """The body as an iterator: httpx then sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def padded_event(size: int) -> bytes:
    """A valid post.published body of exactly `size` bytes (JSON whitespace at the end)."""
    raw = json.dumps(
        {
            "type": "post.published",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "data": {"post_id": "p-chunked"},
        }
    ).encode()
    return raw + b" " * (size - len(raw))


def post(
    bridge: System,
    url: str,
    connection: ConnectionRecord,
    body: bytes | Iterable[bytes],
    headers: dict[str, str],
) -> httpx.Response:
    return post_once(f"{url}/webhooks/crm/{connection.id}", content=body, headers=headers)


def post_once(url: str, **request: Any) -> httpx.Response:
    """POST on a connection of its own, closed afterwards: gunicorn keeps connections alive,
    and one left in a shared client's pool would outlive the test."""
    with httpx.Client(timeout=30) as http:
        return http.post(url, **request)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_however_it_is_sent(
    bridge: System, web_url: str, chunked: bool
) -> None:
    connection = bridge.new_connection()
    raw = padded_event(LIMIT + 1)
    body = in_chunks(raw) if chunked else raw

    answer = post(bridge, web_url, connection, body, signed(connection, raw))

    assert answer.status_code == 413
    assert answer.json() == {
        "error": "request_entity_too_large",
        "message": f"Body is larger than the limit of {LIMIT} bytes.",
    }
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_a_chunked_body_far_over_the_limit_is_413(bridge: System, web_url: str) -> None:
    connection = bridge.new_connection()
    raw = padded_event(8 * LIMIT)

    answer = post(bridge, web_url, connection, in_chunks(raw), signed(connection, raw))

    assert answer.status_code == 413


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_accepted_however_it_is_sent(
    bridge: System, web_url: str, chunked: bool
) -> None:
    connection = bridge.new_connection()
    raw = padded_event(LIMIT)
    body = in_chunks(raw) if chunked else raw

    answer = post(bridge, web_url, connection, body, signed(connection, raw))

    assert answer.status_code == 202, answer.text
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    assert event.payload["data"] == {"post_id": "p-chunked"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_signed_body_that_is_not_json_is_415(
    bridge: System, web_url: str, content_type: str | None
) -> None:
    connection = bridge.new_connection()
    raw = padded_event(200)

    answer = post(bridge, web_url, connection, raw, signed(connection, raw, content_type))

    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_json_with_parameters_or_a_json_suffix_is_accepted(bridge: System, web_url: str) -> None:
    connection = bridge.new_connection()

    for content_type in ("application/json; charset=utf-8", "application/vnd.crm+json"):
        raw = padded_event(200)
        answer = post(bridge, web_url, connection, raw, signed(connection, raw, content_type))
        assert answer.status_code == 202, (content_type, answer.text)


@pytest.mark.parametrize("depth", [33, 1000, 50_000])
def test_deeply_nested_json_is_422_naming_the_limit(
    bridge: System, web_url: str, depth: int
) -> None:
    connection = bridge.new_connection()
    raw = b"[" * depth + b"]" * depth

    answer = post(bridge, web_url, connection, raw, signed(connection, raw))

    assert answer.status_code == 422
    assert answer.json() == {"errors": {"_body": ["JSON is nested deeper than 32 levels."]}}


@pytest.mark.parametrize(
    ("escaped", "field"),
    [
        (b'"title": "\\ud800"', "data.title"),
        (b'"title": "a\\u0000b"', "data.title"),
        (b'"\\udfff": "x"', "data.\\uDFFF"),
    ],
)
def test_lone_surrogates_and_nul_are_422_naming_the_field(
    bridge: System, web_url: str, escaped: bytes, field: str
) -> None:
    connection = bridge.new_connection()
    raw = (
        b'{"type": "post.published", "timestamp": "2026-01-01T00:00:00Z", '
        b'"data": {"post_id": "p", ' + escaped + b"}}"
    )

    answer = post(bridge, web_url, connection, raw, signed(connection, raw))

    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == [field]
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_hostile_paths_and_headers_get_4xx_never_5xx(bridge: System, web_url: str) -> None:
    connection = bridge.new_connection()
    raw = padded_event(200)
    answers: dict[str, int] = {}

    for path in ("con%00x", "con_%C3%A9", "con_%ff", "c" * 300):
        answers[path] = post_once(
            f"{web_url}/webhooks/crm/{path}", content=raw, headers=signed(connection, raw)
        ).status_code
    for name, value in (("webhook-id", b"msg_\xe9"), ("webhook-timestamp", b"\xb2\xb3")):
        headers: dict[str, str | bytes] = {**signed(connection, raw), name: value}
        answers[name] = post_once(
            f"{web_url}/webhooks/crm/{connection.id}", content=raw, headers=headers
        ).status_code

    assert answers == {
        "con%00x": 404,
        "con_%C3%A9": 404,
        "con_%ff": 404,
        "c" * 300: 404,
        "webhook-id": 401,
        "webhook-timestamp": 401,
    }
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_the_procfile_web_line_keeps_a_crms_connection_open(
    bridge: System, gunicorn_url: str
) -> None:
    """Several deliveries over one keep-alive connection, each recorded, queued and run."""
    connection = bridge.new_connection()
    port = int(gunicorn_url.rsplit(":", 1)[1])
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    try:
        for number in range(3):
            raw = padded_event(200)
            client.request(
                "POST", f"/webhooks/crm/{connection.id}", body=raw, headers=signed(connection, raw)
            )
            response = client.getresponse()
            answers.append((response.status, response.getheader("connection"), response.read()))
            if number == 0:
                first_socket = client.sock
            assert client.sock is first_socket  # the same TCP connection every time
    finally:
        client.close()

    assert [(status, keep) for status, keep, _ in answers] == [(202, "keep-alive")] * 3
    for _, _, body in answers:
        event = bridge.wait_for(json.loads(body)["event_id"])
        assert event.status == "done", event.last_error

"""Injected latency of the GHL and CRM sandboxes (`--latency-ms`, `/_sandbox/latency`)."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from standardwebhooks import Webhook

from sandbox.__main__ import APPS, parse_args
from sandbox.crm import create_sandbox_crm_app
from sandbox.ghl import API_VERSION, DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.latency import MAX_LATENCY_MS, Latency, LatencyError
from sandbox.server import ServerThread

HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Version": API_VERSION}
TAGS = f"/social-media-posting/{DEFAULT_LOCATION}/tags"
SECRET = "whsec_" + base64.b64encode(b"sandbox-crm-latency-secret-01").decode()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds every `Latency.wait` slept, instead of sleeping."""
    seconds: list[float] = []
    monkeypatch.setattr("sandbox.latency.time.sleep", seconds.append)
    return seconds


def test_a_latency_sleeps_its_milliseconds_and_can_change() -> None:
    slept: list[float] = []
    latency = Latency(120, sleep=slept.append)

    latency.wait()
    latency.set(0)
    latency.wait()  # 0: no sleep at all
    latency.set(5)
    latency.wait()

    assert slept == [0.12, 0.005]
    assert latency.ms == 5


@pytest.mark.parametrize("value", [-1, MAX_LATENCY_MS + 1, 1.5, "100", None, True])
def test_a_latency_must_be_whole_milliseconds_in_range(value: object) -> None:
    with pytest.raises(LatencyError, match="latency_ms"):
        Latency().set(value)


def test_every_ghl_answer_is_late_but_not_the_admin_api(slept: list[float]) -> None:
    client = create_sandbox_ghl_app(latency_ms=100).test_client()

    assert client.get(TAGS, headers=HEADERS).status_code == 200
    assert client.get(TAGS, headers={"Version": API_VERSION}).status_code == 401  # errors too
    assert client.get("/_sandbox/journal").status_code == 200

    assert slept == [0.1, 0.1]


def test_the_ghl_latency_is_shown_and_set_at_run_time(slept: list[float]) -> None:
    client = create_sandbox_ghl_app().test_client()

    assert client.get("/_sandbox/latency").get_json() == {"latency_ms": 0}
    client.get(TAGS, headers=HEADERS)
    changed = client.post("/_sandbox/latency", json={"latency_ms": 150})
    client.get(TAGS, headers=HEADERS)

    assert changed.get_json() == {"latency_ms": 150}
    assert client.get("/_sandbox/latency").get_json() == {"latency_ms": 150}
    assert slept == [0.15]


@pytest.mark.parametrize("body", [{"latency_ms": -5}, {"latency_ms": "slow"}, {}, [1]])
def test_a_wrong_latency_is_refused_and_the_old_one_kept(body: object) -> None:
    client = create_sandbox_ghl_app(latency_ms=20).test_client()

    answer = client.post("/_sandbox/latency", json=body)

    assert answer.status_code == 400
    assert "latency_ms" in answer.get_json()["error"]
    assert client.get("/_sandbox/latency").get_json() == {"latency_ms": 20}


def test_the_crm_answers_write_backs_late_and_its_admin_api_at_once(slept: list[float]) -> None:
    client = create_sandbox_crm_app(secrets={"acme": SECRET}, latency_ms=80).test_client()
    body = '{"type": "nothing"}'
    now = dt.datetime.now(dt.UTC)
    signature = Webhook(SECRET).sign("wb-1", now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": "wb-1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }

    refused = client.post("/hooks/acme", data=body, headers=headers)  # 422: still late
    client.get("/_sandbox/deliveries")
    client.post("/_sandbox/latency", json={"latency_ms": 30})
    client.post("/hooks/nobody", data=body, headers=headers)

    assert refused.status_code == 422
    assert slept == [0.08, 0.03]
    assert client.get("/_sandbox/latency").get_json() == {"latency_ms": 30}


def test_the_command_line_sets_the_latency_of_ghl_and_crm() -> None:
    ghl = APPS["ghl"](parse_args(["ghl", "--port", "1", "--latency-ms", "100"]))
    crm = APPS["crm"](parse_args(["crm", "--port", "1", "--latency-ms", "80"]))
    default = APPS["ghl"](parse_args(["ghl", "--port", "1"]))

    assert ghl.extensions["sandbox_ghl"].latency.ms == 100
    assert crm.test_client().get("/_sandbox/latency").get_json() == {"latency_ms": 80}
    assert default.extensions["sandbox_ghl"].latency.ms == 0


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["smartoffice", "--port", "1", "--latency-ms", "5"], "only the ghl and crm"),
        (["ghl", "--port", "1", "--latency-ms", "-1"], "--latency-ms: expected an integer"),
        (["crm", "--port", "1", "--latency-ms", "60001"], "--latency-ms: expected an integer"),
    ],
)
def test_a_command_line_latency_is_checked(
    capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)

    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_a_late_answer_holds_back_no_other_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two requests must be inside their latency at the same time to pass the barrier: on a
    # server answering one request at a time the first would wait for the second in vain.
    barrier = threading.Barrier(2)

    def sleep(seconds: float) -> None:
        barrier.wait(timeout=30)

    monkeypatch.setattr("sandbox.latency.time.sleep", sleep)
    with (
        ServerThread(create_sandbox_ghl_app(latency_ms=100)) as server,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        answers = list(
            pool.map(lambda _: httpx.get(f"{server.url}{TAGS}", headers=HEADERS), range(2))
        )

    assert [answer.status_code for answer in answers] == [200, 200]
    assert not barrier.broken

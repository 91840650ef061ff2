"""Injected faults: error codes, dropped answers, broken gateways, delays."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox.server import ServerThread
from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from sandbox.smartoffice.state import DEMO_CONTACT_ID
from tests.unit.sandbox.smartoffice.xmldocs import (
    XmlEngine,
    codes,
    direct_header,
    document,
    el,
    find,
    parse,
    smartpad,
)

SYSTEM_TIME = document(direct_header(), el("method", el("GetSystemTime")))


def add_fault(xml: XmlEngine, **fault: object) -> list[dict[str, object]]:
    status, answer = xml.post_json("/_sandbox/faults", fault)
    assert status == 201, answer
    pending: list[dict[str, object]] = answer["faults"]
    return pending


@pytest.mark.parametrize(("code", "message"), [(1, "Internal error."), (2003, "Session error.")])
def test_a_code_fault_answers_that_error_instead_of_running(
    xml: XmlEngine, code: int, message: str
) -> None:
    add_fault(xml, code=code, times=2)
    insert = document(direct_header(), el("insert", smartpad(DEMO_CONTACT_ID, "x")))

    answers = [xml.answer(insert) for _ in range(3)]

    for answer in answers[:2]:
        assert codes(answer) == [code]
        assert find(answer, "error").text == message
        assert answer.find("insert") is None
    assert answers[2].findtext("_status") == "OK"
    assert len(xml.smartpads()) == 1


def test_a_code_fault_can_carry_its_own_message(xml: XmlEngine) -> None:
    add_fault(xml, code=10001, message="Access to office demo denied.")

    answer = xml.answer(SYSTEM_TIME)

    assert codes(answer) == [10001]
    assert find(answer, "error").text == "Access to office demo denied."


def test_a_status_fault_is_a_broken_gateway_page(xml: XmlEngine) -> None:
    add_fault(xml, status=500)
    insert = document(direct_header(), el("insert", smartpad(DEMO_CONTACT_ID, "x")))

    response = xml.post(insert)

    assert response.status_code == 500
    assert response.content_type == "text/html; charset=utf-8"
    assert b"<h1>500 Internal Server Error</h1>" in response.data
    assert xml.smartpads() == []


def test_a_dropped_answer_still_commits_the_request(xml: XmlEngine) -> None:
    add_fault(xml, drop_answer=True)

    response = xml.post(document(direct_header(), el("insert", smartpad(DEMO_CONTACT_ID, "x"))))

    # Flask's test client has no connection to close: the sandbox answers an empty 502.
    assert (response.status_code, response.data) == (502, b"")
    assert [p["Note"] for p in xml.smartpads()] == ["x"]
    assert xml.get_json("/_sandbox/requests")[-1]["answer"] == "dropped"


def test_over_http_a_dropped_answer_is_a_closed_connection() -> None:
    body = document(direct_header(), el("insert", smartpad(DEMO_CONTACT_ID, "over http")))
    with (
        ServerThread(create_sandbox_smartoffice_app()) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        http.post("/_sandbox/faults", json={"drop_answer": True})

        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/xml", content=body)
        pads = http.get("/_sandbox/smartpads").json()
        after = http.post("/xml", content=SYSTEM_TIME)

    assert [p["Note"] for p in pads] == ["over http"]
    assert after.status_code == 200
    assert parse(after.content).findtext("_status") == "OK"


def test_a_delay_waits_then_answers_as_usual(xml: XmlEngine) -> None:
    add_fault(xml, delay_ms=30)

    started = time.monotonic()
    answer = xml.answer(SYSTEM_TIME)

    assert time.monotonic() - started >= 0.03
    assert answer.findtext("_status") == "OK"
    assert xml.get_json("/_sandbox/faults") == {"faults": []}


def test_faults_are_taken_in_order_one_request_at_a_time(xml: XmlEngine) -> None:
    add_fault(xml, code=2003)
    pending = add_fault(xml, status=503, times=2)
    assert [f["code"] for f in pending] == [2003, None]

    first = xml.post(SYSTEM_TIME)
    second = xml.post(SYSTEM_TIME)
    assert xml.get_json("/_sandbox/faults")["faults"][0]["times"] == 1
    third = xml.post(SYSTEM_TIME)
    fourth = xml.post(SYSTEM_TIME)

    assert codes(parse(first.data)) == [2003]
    assert [second.status_code, third.status_code] == [503, 503]
    assert fourth.status_code == 200


def test_faults_are_listed_and_cleared(xml: XmlEngine) -> None:
    add_fault(xml, code=1, times=5)

    assert len(xml.get_json("/_sandbox/faults")["faults"]) == 1
    assert xml.client.delete("/_sandbox/faults").status_code == 200
    assert xml.get_json("/_sandbox/faults") == {"faults": []}
    assert xml.answer(SYSTEM_TIME).findtext("_status") == "OK"


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"times": 2},
        {"code": 1, "status": 500},
        {"code": 1, "drop_answer": True},
        {"status": 200},
        {"code": 0},
        {"code": 1, "times": 0},
        {"delay_ms": -1},
        {"status": 500, "message": "only for codes"},
        {"code": 1, "colour": "red"},
        ["code", 1],
    ],
)
def test_unusable_faults_are_refused(xml: XmlEngine, fault: object) -> None:
    status, answer = xml.post_json("/_sandbox/faults", fault)

    assert status == 422
    assert answer["errors"]
    assert xml.get_json("/_sandbox/faults") == {"faults": []}

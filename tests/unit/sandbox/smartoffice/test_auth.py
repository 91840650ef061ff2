"""Logging in: the direct mode, the API gateway mode, and accounts added at run time."""

from __future__ import annotations

import pytest

from sandbox.smartoffice.state import DEMO_API_SECRET, DEMO_PASSWORD
from tests.unit.sandbox.smartoffice.xmldocs import (
    GATEWAY_HEADERS,
    XmlEngine,
    codes,
    direct_header,
    document,
    el,
    find,
    gateway_header,
)

SYSTEM_TIME = el("method", el("GetSystemTime"))


def login_error(xml: XmlEngine, body: bytes, headers: dict[str, str] | None = None) -> str:
    """The message of the top-level 2002 the request must get."""
    answer = xml.answer(body, headers)
    assert codes(answer) == [2002]
    assert answer.find("method") is None
    return find(answer, "error").text or ""


def test_the_demo_account_logs_in_directly(xml: XmlEngine) -> None:
    answer = xml.answer(document(direct_header(), SYSTEM_TIME))

    assert answer.findtext("_status") == "OK"
    assert answer.findtext("method/GetSystemTime")


@pytest.mark.parametrize(
    ("office", "user", "password"),
    [
        ("demo", "agent", "wrong"),
        ("demo", "nobody", DEMO_PASSWORD),
        ("other", "agent", DEMO_PASSWORD),
        ("demo", "agent", ""),
        ("", "", ""),
    ],
)
def test_a_wrong_direct_login_is_a_top_level_2002(
    xml: XmlEngine, office: str, user: str, password: str
) -> None:
    body = document(direct_header(office, user, password), SYSTEM_TIME)

    assert login_error(xml, body) == "Login failed."


def test_the_demo_account_logs_in_through_the_gateway(xml: XmlEngine) -> None:
    answer = xml.answer(document(gateway_header(), SYSTEM_TIME), GATEWAY_HEADERS)

    assert answer.findtext("_status") == "OK"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("api-key", "other-key"),
        ("api-secret", "other-secret"),
        ("username", "sandbox_demo_nobody"),
        ("sitename", "elsewhere"),
    ],
)
def test_wrong_gateway_keys_are_a_2002_answered_with_http_200(
    xml: XmlEngine, header: str, value: str
) -> None:
    headers = {**GATEWAY_HEADERS, header: value}

    response = xml.post(document(gateway_header(), SYSTEM_TIME), headers)

    assert response.status_code == 200
    assert login_error(xml, document(gateway_header(), SYSTEM_TIME), headers) == "Login failed."


def test_a_gateway_request_missing_a_header_is_refused(xml: XmlEngine) -> None:
    headers = {k: v for k, v in GATEWAY_HEADERS.items() if k != "api-secret"}

    message = login_error(xml, document(gateway_header(), SYSTEM_TIME), headers)

    assert "api-secret" in message


def test_gateway_headers_with_filled_header_elements_are_refused(xml: XmlEngine) -> None:
    message = login_error(xml, document(direct_header(), SYSTEM_TIME), GATEWAY_HEADERS)

    assert "must be present and empty" in message


def test_gateway_header_elements_must_be_present(xml: XmlEngine) -> None:
    message = login_error(xml, document(el("header"), SYSTEM_TIME), GATEWAY_HEADERS)

    assert "must be present and empty" in message


def test_an_unknown_header_element_is_a_top_level_1002(xml: XmlEngine) -> None:
    header = direct_header()
    header.append(el("impersonate", "boss"))

    answer = xml.answer(document(header, SYSTEM_TIME))

    assert codes(answer) == [1002]
    assert answer.find("method") is None


def test_a_bad_keepsession_value_is_refused(xml: XmlEngine) -> None:
    header = direct_header()
    header.append(el("keepsession", "sometimes"))

    assert codes(xml.answer(document(header, SYSTEM_TIME))) == [2]


def test_the_header_user_attributes_come_back_on_a_failed_login(xml: XmlEngine) -> None:
    body = document(direct_header(password="wrong", hop="h7"), SYSTEM_TIME, trace="x")

    answer = xml.answer(body)

    assert answer.attrib == {"trace": "x", "version": "1.0"}
    assert find(answer, "header").attrib == {"hop": "h7"}


def test_accounts_are_listed_without_secrets(xml: XmlEngine) -> None:
    accounts = xml.get_json("/_sandbox/accounts")

    assert accounts == [
        {
            "office": "demo",
            "user": "agent",
            "direct": True,
            "sitename": "sandbox",
            "gateway_username": "sandbox_demo_agent",
            "api_keys": ["sandbox-key"],
        }
    ]
    text = xml.client.get("/_sandbox/accounts").get_data(as_text=True)
    assert DEMO_PASSWORD not in text
    assert DEMO_API_SECRET not in text


def test_an_account_added_at_run_time_logs_in_both_ways(xml: XmlEngine) -> None:
    status, created = xml.post_json(
        "/_sandbox/accounts",
        {
            "office": "acme",
            "user": "ann",
            "password": "pw-1",
            "sitename": "acmesite",
            "api_keys": [
                {"api_key": "old-key", "api_secret": "old-secret"},
                {"api_key": "new-key", "api_secret": "new-secret"},
            ],
        },
    )
    assert status == 201
    assert created == {
        "office": "acme",
        "user": "ann",
        "direct": True,
        "sitename": "acmesite",
        "gateway_username": "acmesite_acme_ann",
        "api_keys": ["old-key", "new-key"],
    }

    direct = xml.answer(document(direct_header("acme", "ann", "pw-1"), SYSTEM_TIME))
    assert direct.findtext("_status") == "OK"
    # A key being rotated and its successor both work until the old one is taken away.
    for key, secret in (("old-key", "old-secret"), ("new-key", "new-secret")):
        headers = {
            "sitename": "acmesite",
            "username": "acmesite_acme_ann",
            "api-key": key,
            "api-secret": secret,
        }
        answer = xml.answer(document(gateway_header(), SYSTEM_TIME), headers)
        assert answer.findtext("_status") == "OK", key
    mixed = {
        "sitename": "acmesite",
        "username": "acmesite_acme_ann",
        "api-key": "old-key",
        "api-secret": "new-secret",
    }
    assert login_error(xml, document(gateway_header(), SYSTEM_TIME), mixed) == "Login failed."


def test_an_account_is_replaced_by_posting_it_again(xml: XmlEngine) -> None:
    status, replaced = xml.post_json(
        "/_sandbox/accounts", {"office": "demo", "user": "agent", "password": "changed"}
    )

    assert status == 200
    assert replaced["sitename"] is None
    assert login_error(xml, document(direct_header(), SYSTEM_TIME)) == "Login failed."
    answer = xml.answer(document(direct_header(password="changed"), SYSTEM_TIME))
    assert answer.findtext("_status") == "OK"
    # The gateway keys went with the old account.
    gateway = document(gateway_header(), SYSTEM_TIME)
    assert login_error(xml, gateway, GATEWAY_HEADERS) == "Login failed."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"office": "a", "user": "b"}, "_body"),
        ({"office": "a b", "user": "b", "password": "p"}, "office"),
        ({"office": "a", "user": "b", "sitename": "s"}, "api_keys"),
        ({"office": "a", "user": "b", "password": "p", "colour": "red"}, "colour"),
        ([1, 2], "_body"),
    ],
)
def test_unusable_accounts_are_refused(xml: XmlEngine, payload: object, field: str) -> None:
    status, answer = xml.post_json("/_sandbox/accounts", payload)

    assert status == 422
    assert field in answer["errors"]

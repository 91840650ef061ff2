"""The HTTP side: the messages as JSON and as a page, the faults, the reset."""

from __future__ import annotations

import html
import smtplib
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from sandbox.mail.app import create_sandbox_mail_app
from sandbox.mail.server import MailSandbox
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER, MailState
from tests.unit.sandbox.mail.conftest import NOTES, SENDER, new_message

FIELDS = {
    "id",
    "received_at",
    "envelope_from",
    "envelope_to",
    "from",
    "to",
    "cc",
    "subject",
    "message_id",
    "text",
    "headers",
    "auth_user",
    "tls",
    "size",
}


@pytest.fixture
def state() -> MailState:
    return MailState()


@pytest.fixture
def client(state: MailState) -> FlaskClient:
    return create_sandbox_mail_app(state).test_client()


def keep(state: MailState, subject: str = "s", text: str = "t", to: str = "a@example.com") -> None:
    content = new_message(subject, text, to=to).as_bytes()
    state.keep(
        envelope_from=SENDER, envelope_to=[NOTES], content=content, auth_user=None, tls=False
    )


def test_messages_over_http_from_a_real_smtp_session(mail: MailSandbox) -> None:
    with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=10) as smtp:
        smtp.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
        smtp.send_message(new_message(), to_addrs=[NOTES])

    answer = httpx.get(f"{mail.http_url}/messages", timeout=10)

    assert answer.status_code == 200
    [message] = answer.json()
    assert set(message) == FIELDS
    assert message["envelope_to"] == [NOTES]
    assert message["message_id"] == "<write-1@socialbridge.example>"
    assert message["auth_user"] == DEMO_SMTP_USER
    assert DEMO_SMTP_PASSWORD not in answer.text
    assert httpx.get(f"{mail.http_url}/_sandbox/health", timeout=10).json() == {"status": "ok"}


def test_faults_posted_over_http_are_played(mail: MailSandbox) -> None:
    posted = httpx.post(
        f"{mail.http_url}/_sandbox/faults", json={"kind": "reply", "code": 421}, timeout=10
    )

    with (
        smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPDataError),
    ):
        smtp.send_message(new_message(), to_addrs=[NOTES])

    assert posted.status_code == 201
    assert posted.json()["faults"] == [
        {"kind": "reply", "code": 421, "command": "DATA", "message": None, "times": 1}
    ]
    assert httpx.get(f"{mail.http_url}/_sandbox/faults", timeout=10).json() == {"faults": []}


def test_the_list_is_oldest_first_and_filtered_by_address(
    state: MailState, client: FlaskClient
) -> None:
    keep(state, "first", to="avery@example.com")
    keep(state, "second", to="Chidi <chidi@example.com>")

    everything = client.get("/messages").get_json()
    to_chidi = client.get("/messages?to=CHIDI@example.com").get_json()
    to_notes = client.get(f"/messages?to={NOTES}").get_json()
    to_nobody = client.get("/messages?to=nobody@example.com").get_json()

    assert [m["subject"] for m in everything] == ["first", "second"]
    assert [m["subject"] for m in to_chidi] == ["second"]
    assert [m["subject"] for m in to_notes] == ["first", "second"]
    assert to_nobody == []


def test_one_message_by_its_number(state: MailState, client: FlaskClient) -> None:
    keep(state, "first")

    assert client.get("/messages/1").get_json()["subject"] == "first"
    assert client.get("/messages/2").status_code == 404


def test_delete_forgets_the_messages_but_not_their_numbers(
    state: MailState, client: FlaskClient
) -> None:
    keep(state)
    keep(state)

    deleted = client.delete("/_sandbox/messages")
    keep(state, "after")

    assert deleted.get_json() == {"deleted": 2}
    assert [(m["id"], m["subject"]) for m in client.get("/messages").get_json()] == [(3, "after")]


def test_faults_are_listed_and_cleared(client: FlaskClient) -> None:
    client.post("/_sandbox/faults", json={"kind": "no_answer"})
    client.post("/_sandbox/faults", json={"kind": "auth_fail", "times": 2})

    listed = client.get("/_sandbox/faults").get_json()["faults"]
    cleared = client.delete("/_sandbox/faults").get_json()

    assert [(f["kind"], f["times"]) for f in listed] == [("no_answer", 1), ("auth_fail", 2)]
    assert cleared == {"faults": []}
    assert client.get("/_sandbox/faults").get_json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"kind": "reply"}, {"code": ["A reply fault needs a code (400 to 599)."]}),
        ({"kind": "reply", "code": 421, "colour": "red"}, {"colour": ["Unknown field."]}),
        ([{"kind": "no_answer"}], {"_body": ["Expected a JSON object."]}),
    ],
)
def test_a_bad_fault_is_answered_422_with_field_errors(
    client: FlaskClient, body: Any, errors: dict[str, list[str]]
) -> None:
    answer = client.post("/_sandbox/faults", json=body)

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": errors}


def test_the_page_lists_messages_newest_first_with_every_field(
    state: MailState, client: FlaskClient
) -> None:
    keep(state, "older subject", "older body")
    keep(state, "newer subject", "newer body\nsecond line", to="avery@example.com")

    page = client.get("/").get_data(as_text=True)

    assert page.index("newer subject") < page.index("older subject")
    assert "<pre>newer body\nsecond line\n</pre>" in page
    assert "avery@example.com" in page
    assert html.escape(NOTES) in page
    assert html.escape("<write-1@socialbridge.example>") in page
    assert "#2" in page


def test_the_page_escapes_what_messages_carry(state: MailState, client: FlaskClient) -> None:
    keep(state, '<script>alert("subject")</script>', "<b>not bold</b> & <img src=x>")

    page = client.get("/").get_data(as_text=True)

    assert "<script>" not in page
    assert "<b>not bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;img src=x&gt;" in page


def test_the_page_says_when_there_is_nothing(client: FlaskClient) -> None:
    assert "No messages yet." in client.get("/").get_data(as_text=True)

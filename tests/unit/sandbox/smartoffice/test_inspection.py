"""The control endpoints and the HTML page: what a test or a person sees of the state."""

from __future__ import annotations

from sandbox.smartoffice.state import DEMO_API_SECRET, DEMO_CONTACT_ID, DEMO_PASSWORD
from tests.unit.sandbox.smartoffice.xmldocs import (
    GATEWAY_HEADERS,
    XmlEngine,
    direct_header,
    document,
    el,
    find,
    gateway_header,
    smartpad,
)


def test_smartpads_are_listed_oldest_first_and_filtered_by_contact(xml: XmlEngine) -> None:
    xml.send(
        el(
            "insert",
            smartpad(DEMO_CONTACT_ID, "a", "k1"),
            smartpad("Contact.1.32", "b"),
            smartpad(DEMO_CONTACT_ID, "c"),
        )
    )

    everything = xml.smartpads()
    mine = xml.smartpads(DEMO_CONTACT_ID)

    assert [p["Note"] for p in everything] == ["a", "b", "c"]
    assert [p["Note"] for p in mine] == ["a", "c"]
    assert set(everything[0]) == {"id", "ContactID", "Keywords", "Note", "CreatedOn"}
    assert everything[1]["Keywords"] is None
    assert xml.smartpads("Contact.1.404") == []


def test_the_seed_contacts_are_listed(xml: XmlEngine) -> None:
    contacts = xml.get_json("/_sandbox/contacts")

    assert [c["id"] for c in contacts] == ["Contact.1.31", "Contact.1.32", "Contact.1.33"]
    assert contacts[0]["FullName"] == "Ng, Avery"
    assert contacts[0]["Phones"] == []
    assert contacts[0]["PreferredAddress"] is None


def test_requests_are_logged_without_passwords_or_api_secrets(xml: XmlEngine) -> None:
    xml.send(el("insert", smartpad(DEMO_CONTACT_ID, "x")), keep=True)
    xml.answer(
        document(gateway_header(), el("transaction", el("get", el("Contact", id=DEMO_CONTACT_ID)))),
        GATEWAY_HEADERS,
    )
    xml.answer(document(direct_header(password="wrong-password")))
    xml.post(b"<not-xml")

    log = xml.get_json("/_sandbox/requests")
    text = xml.client.get("/_sandbox/requests").get_data(as_text=True)

    assert [entry["seq"] for entry in log] == [1, 2, 3, 4]
    direct, gateway, refused, broken = log
    assert direct["auth"] == "direct"
    assert (direct["office"], direct["user"], direct["keep_session"]) == ("demo", "agent", True)
    assert direct["operations"] == [
        {"operation": "insert", "in_transaction": False, "objects": ["SmartPad"]}
    ]
    assert (direct["codes"], direct["status"], direct["answer"]) == ([], "OK", "sent")
    assert gateway["auth"] == "gateway"
    assert gateway["api_key"] == "sandbox-key"
    assert gateway["username"] == "sandbox_demo_agent"
    assert gateway["operations"][0]["in_transaction"] is True
    assert (refused["auth"], refused["codes"], refused["status"]) == (None, [2002], "error")
    assert broken["codes"] == [1001]
    for secret in (DEMO_PASSWORD, DEMO_API_SECRET, "wrong-password"):
        assert secret not in text


def test_reset_forgets_smartpads_requests_and_faults_but_keeps_seed_and_accounts(
    xml: XmlEngine,
) -> None:
    xml.post_json("/_sandbox/accounts", {"office": "o", "user": "u", "password": "p"})
    first = xml.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "x"), el("Contact", el("LastName", "New"))),
        el("update", el("Contact", el("Title", "Dr"), id=DEMO_CONTACT_ID)),
    )
    xml.post_json("/_sandbox/faults", {"code": 1})

    assert xml.client.delete("/_sandbox/state").json == {"status": "reset"}

    assert xml.smartpads() == []
    assert xml.get_json("/_sandbox/requests") == []
    assert xml.get_json("/_sandbox/faults") == {"faults": []}
    contacts = xml.get_json("/_sandbox/contacts")
    assert [c["id"] for c in contacts] == ["Contact.1.31", "Contact.1.32", "Contact.1.33"]
    assert contacts[0]["Title"] == "Ms"
    assert [a["office"] for a in xml.get_json("/_sandbox/accounts")] == ["demo", "o"]
    # Ids are never handed out twice, even across a reset.
    old_id = find(first, "insert/SmartPad").attrib["id"]
    again = xml.send(el("insert", smartpad(DEMO_CONTACT_ID, "y")))
    assert find(again, "insert/SmartPad").attrib["id"] != old_id


def test_the_html_page_lists_smartpads_newest_first_escaped(xml: XmlEngine) -> None:
    xml.send(
        el(
            "insert",
            smartpad(DEMO_CONTACT_ID, "older note"),
            smartpad(DEMO_CONTACT_ID, "<script>alert(1)</script>\nline two", "<b>kw</b>"),
        )
    )

    page = xml.client.get("/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert "<script>alert(1)" not in html
    assert "<b>kw</b>" not in html
    assert "<pre>&lt;script&gt;alert(1)&lt;/script&gt;\nline two</pre>" in html
    assert "&lt;b&gt;kw&lt;/b&gt;" in html
    assert html.index("alert(1)") < html.index("older note")
    assert "Ng, Avery" in html


def test_health(xml: XmlEngine) -> None:
    assert xml.get_json("/_sandbox/health") == {"status": "ok"}

"""Transactions are all or nothing; outside them, each finished object stays committed."""

from __future__ import annotations

from sandbox.smartoffice.state import DEMO_CONTACT_ID
from tests.unit.sandbox.smartoffice.xmldocs import XmlEngine, codes, el, find, smartpad


def test_a_transaction_without_errors_is_kept_whole(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "transaction",
            el("insert", smartpad(DEMO_CONTACT_ID, "one"), smartpad("Contact.1.32", "two")),
            el("update", el("Contact", el("Title", "Dr"), id=DEMO_CONTACT_ID)),
        )
    )

    assert "_status" not in find(answer, "transaction").attrib
    assert answer.findtext("_status") == "OK"
    assert [p["Note"] for p in xml.smartpads()] == ["one", "two"]
    contacts = {c["id"]: c for c in xml.get_json("/_sandbox/contacts")}
    assert contacts[DEMO_CONTACT_ID]["Title"] == "Dr"


def test_an_error_cancels_the_transaction_and_nothing_of_it_is_kept(xml: XmlEngine) -> None:
    answer = xml.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "before")),
        el(
            "transaction",
            el("insert", smartpad(DEMO_CONTACT_ID, "in the transaction")),
            el("update", el("Contact", el("Title", "Dr"), id=DEMO_CONTACT_ID)),
            el("insert", smartpad("Contact.1.404", "fails")),
            el("insert", smartpad(DEMO_CONTACT_ID, "never run")),
        ),
        el("insert", smartpad(DEMO_CONTACT_ID, "after")),
    )

    transaction = find(answer, "transaction")
    assert transaction.get("_status") == "error"
    # What ran is answered as it ran, up to the error; the rest is left out.
    assert [child.tag for child in transaction] == ["insert", "update", "insert"]
    assert find(transaction, "insert/SmartPad").get("_status") == "inserted"
    assert codes(answer) == [3001]
    assert answer.findtext("_status") == "error"
    # Nothing of the transaction was kept; what came before and after it was.
    assert [p["Note"] for p in xml.smartpads()] == ["before", "after"]
    contacts = {c["id"]: c for c in xml.get_json("/_sandbox/contacts")}
    assert contacts[DEMO_CONTACT_ID]["Title"] == "Ms"
    cancelled_id = find(transaction, "insert/SmartPad").attrib["id"]
    missing = xml.send(el("get", el("SmartPad", id=cancelled_id)))
    assert codes(missing) == [3001]


def test_an_unknown_operation_cancels_a_transaction(xml: XmlEngine) -> None:
    answer = xml.send(
        el("transaction", el("insert", smartpad(DEMO_CONTACT_ID, "x")), el("upsert")),
    )

    assert find(answer, "transaction").get("_status") == "error"
    assert codes(answer) == [1002]
    assert xml.smartpads() == []


def test_a_failing_method_cancels_a_transaction(xml: XmlEngine) -> None:
    answer = xml.send(
        el("transaction", el("insert", smartpad(DEMO_CONTACT_ID, "x")), el("method", el("Nope"))),
    )

    assert codes(answer) == [7001]
    assert xml.smartpads() == []


def test_transactions_do_not_nest(xml: XmlEngine) -> None:
    answer = xml.send(el("transaction", el("transaction")))

    assert codes(answer) == [1002]


def test_refs_of_a_cancelled_transaction_do_not_survive_it(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "transaction",
            el("insert", el("Contact", el("LastName", "Gone"), refid="c")),
            el("insert", smartpad("Contact.1.404", "fails")),
        ),
        el("insert", el("SmartPad", el("ContactID", "@c", type="ref"), el("Note", "orphan"))),
    )

    assert codes(answer) == [3001, 2]
    assert xml.smartpads() == []


def test_outside_a_transaction_earlier_operations_stay_committed(xml: XmlEngine) -> None:
    answer = xml.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "kept")),
        el("update", el("SmartPad", el("Note", "x"), id="SmartPad.7.404")),
    )

    assert codes(answer) == [3001]
    assert [p["Note"] for p in xml.smartpads()] == ["kept"]

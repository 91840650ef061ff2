"""The request documents, parsed back and read as SmartOffice would read them."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree

from crm.smartoffice.requests import (
    SEARCH_PAGE_SIZE,
    SmartPad,
    get_system_time,
    insert_smartpad,
    search_smartpad,
    to_bytes,
    xml_safe,
)
from crm.smartoffice.settings import AuthMode, Credentials

DIRECT = Credentials(auth=AuthMode.DIRECT, office="demo", user="agent", password="p<w>&1")
GATEWAY = Credentials(
    auth=AuthMode.GATEWAY,
    office="demo",
    user="agent",
    sitename="acme",
    api_key="key-1",
    api_secret="secret-1",
)


def parsed(document: Element) -> Element:
    """What SmartOffice receives, parsed back from the bytes sent."""
    root: Element = defusedxml.ElementTree.fromstring(to_bytes(document))
    return root


def test_the_header_comes_first_and_the_version_is_sent() -> None:
    root = parsed(get_system_time(DIRECT))

    assert root.tag == "request"
    assert root.get("version") == "1.0"
    assert root.get("trace") == "check"
    assert [child.tag for child in root] == ["header", "method"]


def test_direct_mode_sends_the_credentials_in_the_header() -> None:
    header = parsed(get_system_time(DIRECT)).find("header")

    assert header is not None
    assert [(child.tag, child.text) for child in header] == [
        ("office", "demo"),
        ("user", "agent"),
        ("password", "p<w>&1"),  # escaped on the way, the same text on arrival
    ]


def test_gateway_mode_sends_the_header_elements_empty() -> None:
    header = parsed(get_system_time(GATEWAY)).find("header")

    assert header is not None
    assert [(child.tag, child.text) for child in header] == [
        ("office", None),
        ("user", None),
        ("password", None),
    ]
    assert b"key-1" not in to_bytes(get_system_time(GATEWAY))


def test_no_session_is_kept() -> None:
    assert parsed(get_system_time(DIRECT)).find("header/keepsession") is None


def test_the_document_declares_utf8() -> None:
    assert to_bytes(get_system_time(DIRECT)).startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_get_system_time_is_one_method_call() -> None:
    method = parsed(get_system_time(DIRECT)).find("method")

    assert method is not None
    assert [child.tag for child in method] == ["GetSystemTime"]


def test_search_looks_for_the_marker_on_the_contact() -> None:
    root = parsed(
        search_smartpad(
            DIRECT, contact_id="Contact.1.31", idempotency_key="evt_9.post.tags_synced", trace="t"
        )
    )

    search = root.find("search")
    assert search is not None
    assert search.get("pagesize") == str(SEARCH_PAGE_SIZE)
    assert search.get("searchid") is None
    template = search.find("object/SmartPad")
    assert template is not None
    assert [child.tag for child in template] == ["ContactID", "Note"]
    exprs = search.findall("condition/and/expr")
    assert [(e.get("prop"), e.get("op"), e.findtext("v")) for e in exprs] == [
        ("ContactID", "eq", "Contact.1.31"),
        ("Note", "contains", "socialbridge-id: evt_9.post.tags_synced"),
    ]
    assert [child.tag for child in root] == ["header", "search"]


def test_insert_carries_the_three_properties() -> None:
    pad = SmartPad(contact_id="Contact.1.31", keywords="Spring, Sale", note="Line 1\n<b>&")
    root = parsed(insert_smartpad(DIRECT, pad, trace="evt_9.post.tags_synced/insert"))

    item = root.find("insert/SmartPad")
    assert item is not None
    assert [(child.tag, child.text) for child in item] == [
        ("ContactID", "Contact.1.31"),
        ("Keywords", "Spring, Sale"),
        ("Note", "Line 1\n<b>&"),
    ]
    assert root.get("trace") == "evt_9.post.tags_synced/insert"
    assert root.find("transaction") is None


def test_empty_keywords_are_not_sent() -> None:
    pad = SmartPad(contact_id="Contact.1.31", keywords="", note="n")
    item = parsed(insert_smartpad(DIRECT, pad, trace="t")).find("insert/SmartPad")

    assert item is not None
    assert item.find("Keywords") is None


def test_characters_xml_cannot_hold_are_replaced_so_the_document_stays_well_formed() -> None:
    pad = SmartPad(contact_id="Contact.1.31", keywords="a\x01b", note="bell\x07 tab\t ok")
    item = parsed(insert_smartpad(DIRECT, pad, trace="t")).find("insert/SmartPad")

    assert item is not None
    assert item.findtext("Keywords") == "a\ufffdb"
    assert item.findtext("Note") == "bell\ufffd tab\t ok"
    assert xml_safe("line\r\nnext") == "line\r\nnext"

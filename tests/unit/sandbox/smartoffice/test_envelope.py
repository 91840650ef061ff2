"""The request and answer envelopes: XML checks, version, header place, echoes, answer shape."""

from __future__ import annotations

import re

import pytest

from sandbox.smartoffice.xmlio import XmlRefused, parse_document
from tests.unit.sandbox.smartoffice.xmldocs import (
    XmlEngine,
    codes,
    direct_header,
    document,
    el,
    find,
    parse,
    to_bytes,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<request version="1.0"><header><office>demo</office><user>agent</user>
<password>sandbox-password</password></header>
<insert><SmartPad><ContactID>Contact.1.31</ContactID><Note>&lol4;</Note></SmartPad></insert>
</request>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE request [<!ENTITY secret SYSTEM "secret.txt">]>
<request version="1.0"><header/><get><Contact id="Contact.1.31">&secret;</Contact></get>
</request>"""

DOCTYPE_ONLY = b"""<?xml version="1.0"?><!DOCTYPE request SYSTEM "request.dtd">
<request version="1.0"><header/></request>"""


def top_level_error(answer_bytes: bytes) -> tuple[int, str]:
    answer = parse(answer_bytes)
    error = answer.find("error")
    assert error is not None, answer_bytes
    assert answer.find("header/sessionClosed") is not None
    return int(error.attrib["code"]), error.text or ""


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml at all", b"<request version='1.0'><header>", b"<request></response>"],
)
def test_malformed_xml_is_a_top_level_1001(xml: XmlEngine, body: bytes) -> None:
    response = xml.post(body)

    assert response.status_code == 200
    code, message = top_level_error(response.data)
    assert code == 1001
    assert message.startswith("XML syntax error")
    assert parse(response.data).find("_status") is None


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, DOCTYPE_ONLY])
def test_a_dtd_or_entity_is_refused_with_1001_and_nothing_runs(xml: XmlEngine, body: bytes) -> None:
    response = xml.post(body)

    assert top_level_error(response.data)[0] == 1001
    assert b"lollol" not in response.data
    assert xml.smartpads() == []


def test_entities_are_refused_by_the_parser_before_any_expansion() -> None:
    with pytest.raises(XmlRefused, match="DTDForbidden"):
        parse_document(BILLION_LAUGHS)


def test_a_document_that_is_not_a_request_is_1001(xml: XmlEngine) -> None:
    response = xml.post(b'<response version="1.0"><header/></response>')

    code, message = top_level_error(response.data)
    assert (code, message) == (1001, "The document element must be <request>, not <response>.")


@pytest.mark.parametrize("version", [None, "2.0", ""])
def test_a_missing_or_other_version_is_2001(xml: XmlEngine, version: str | None) -> None:
    root = el("request", direct_header(), el("method", el("GetSystemTime")), trace="t")
    if version is not None:
        root.set("version", version)
    answer = xml.answer(to_bytes(root))

    assert codes(answer) == [2001]
    assert answer.attrib == {"trace": "t", "version": "1.0"}
    assert answer.find("method") is None


def test_the_header_must_come_first(xml: XmlEngine) -> None:
    root = el("request", el("method", el("GetSystemTime")), direct_header(), version="1.0")

    code, message = top_level_error(xml.post(to_bytes(root)).data)

    assert code == 1001
    assert message == "<header> must be the first element of <request>."


def test_a_request_without_header_is_1001(xml: XmlEngine) -> None:
    code, _ = top_level_error(xml.post(to_bytes(el("request", version="1.0"))).data)

    assert code == 1001


def test_user_attributes_come_back_on_request_header_transaction_and_operations(
    xml: XmlEngine,
) -> None:
    body = document(
        direct_header(hop="h1"),
        el(
            "transaction",
            el("method", el("GetSystemTime"), step="m1"),
            tx="t1",
        ),
        el("get", el("Contact", id="Contact.1.31", note="ignored"), step="g1"),
        el("frobnicate", step="f1"),
        trace="so-42",
    )

    answer = xml.answer(body)

    assert answer.attrib == {"trace": "so-42", "version": "1.0"}
    assert find(answer, "header").attrib == {"hop": "h1"}
    assert find(answer, "transaction").attrib == {"tx": "t1"}
    assert find(answer, "transaction/method").attrib == {"step": "m1"}
    assert find(answer, "get").attrib == {"step": "g1"}
    # On objects, attributes of the caller's own are not echoed.
    assert find(answer, "get/Contact").attrib == {"id": "Contact.1.31", "_type": "obj"}
    assert find(answer, "frobnicate").attrib == {"step": "f1", "_status": "error"}


def test_a_successful_answer_ends_with_status_systime_and_a_cost_comment(
    xml: XmlEngine,
) -> None:
    response = xml.post(document(direct_header(), el("method", el("GetSystemTime"))))
    answer = parse(response.data)

    assert [child.tag for child in answer] == ["header", "method", "_status", "_systime"]
    assert answer.findtext("_status") == "OK"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", answer.findtext("_systime") or "")
    assert re.search(rb"<!-- Cost \d+ mill seconds. --></response>$", response.data)
    assert answer.find("header/sessionClosed") is not None


def test_an_unknown_operation_is_1002_inside_it_and_the_rest_still_runs(xml: XmlEngine) -> None:
    answer = xml.send(el("frobnicate"), el("method", el("GetSystemTime")))

    failed = find(answer, "frobnicate")
    assert failed.get("_status") == "error"
    assert find(failed, "error").attrib["code"] == "1002"
    assert answer.findtext("method/GetSystemTime")
    assert answer.findtext("_status") == "error"


def test_any_content_type_is_taken(xml: XmlEngine) -> None:
    body = document(direct_header(), el("method", el("GetSystemTime")))

    for content_type in ("application/xml", "text/plain", "application/x-www-form-urlencoded"):
        answer = xml.answer(body, {"Content-Type": content_type})
        assert answer.findtext("_status") == "OK", content_type


def test_a_body_too_large_is_still_an_xml_answer(xml: XmlEngine) -> None:
    response = xml.post(b"<request>" + b" " * (4 * 1024 * 1024) + b"</request>")

    assert response.status_code == 200
    assert top_level_error(response.data)[0] == 1001


def test_other_encodings_declared_in_the_document_are_read(xml: XmlEngine) -> None:
    pad = el("SmartPad", el("ContactID", "Contact.1.31"), el("Note", "Café ünïcode"))
    body = to_bytes(el("request", direct_header(), el("insert", pad), version="1.0"), "iso-8859-1")

    answer = xml.answer(body)

    assert answer.findtext("_status") == "OK"
    assert xml.smartpads()[0]["Note"] == "Café ünïcode"

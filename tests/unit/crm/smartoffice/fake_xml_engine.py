"""A small stand-in for SmartOffice's XML Engine, behind `httpx.MockTransport`.

It keeps SmartPads, answers the three documents the connector sends (search, insert,
GetSystemTime) in the vendor's answer shape, and records every request. ``next_answers``
replaces the next answers (an error, a lost answer, a body that is not XML); unit tests use
it for what the sandbox (`sandbox.smartoffice`) is not there to show.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree
import httpx

Override = Callable[[httpx.Request, "FakeXmlEngine"], httpx.Response]


@dataclass
class StoredPad:
    id: str
    contact_id: str
    keywords: str | None
    note: str


@dataclass
class FakeXmlEngine:
    password: str = "sandbox-password"
    pads: list[StoredPad] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    next_answers: list[Override] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(501))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.next_answers:
            return self.next_answers.pop(0)(request, self)
        return self.answer(request)

    def documents(self) -> list[Element]:
        return [self.parse(request) for request in self.requests]

    def operations(self) -> list[str]:
        """What each request asked for: ``search``, ``insert`` or ``method``."""
        return [document[1].tag for document in self.documents()]

    @staticmethod
    def parse(request: httpx.Request) -> Element:
        root: Element = defusedxml.ElementTree.fromstring(request.content)
        return root

    def answer(self, request: httpx.Request) -> httpx.Response:
        """What SmartOffice answers, the request being carried out."""
        root = self.parse(request)
        response = Element("response", version="1.0", trace=root.get("trace", ""))
        SubElement(SubElement(response, "header"), "sessionClosed")
        header = root.find("header")
        if header is not None and header.findtext("password") not in ("", None, self.password):
            SubElement(response, "error", code="2002").text = "Login failed."
            return _xml(response)
        for operation in root[1:]:
            if operation.tag == "search":
                self._search(operation, SubElement(response, "search"))
            elif operation.tag == "insert":
                self._insert(operation, SubElement(response, "insert"))
            elif operation.tag == "method":
                method = SubElement(response, "method")
                SubElement(method, "GetSystemTime").text = "2026-03-02T14:05:09"
        SubElement(response, "_status").text = "OK"
        SubElement(response, "_systime").text = "2026-03-02T14:05:09"
        return _xml(response)

    def _search(self, search: Element, answer: Element) -> None:
        wanted = {expr.get("prop"): expr.findtext("v") or "" for expr in search.iter("expr")}
        found = [
            pad
            for pad in self.pads
            if pad.contact_id == wanted.get("ContactID")
            and wanted.get("Note", "").lower() in pad.note.lower()
        ]
        answer.attrib.update(page="0", total=str(len(found)), more="false")
        for pad in found:
            item = SubElement(answer, "SmartPad", id=pad.id, _type="obj")
            SubElement(item, "ContactID").text = pad.contact_id
            SubElement(item, "Note").text = pad.note

    def _insert(self, insert: Element, answer: Element) -> None:
        for item in insert:
            pad = StoredPad(
                id=f"SmartPad.7.{next(self._ids)}",
                contact_id=item.findtext("ContactID") or "",
                keywords=item.findtext("Keywords"),
                note=item.findtext("Note") or "",
            )
            self.pads.append(pad)
            SubElement(answer, "SmartPad", id=pad.id, _type="obj", _status="inserted")


def _xml(element: Element, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=tostring(element, encoding="utf-8", xml_declaration=True),
        headers={"content-type": "text/xml"},
    )


def error_answer(code: int, message: str, status: int = 200) -> Override:
    """An answer holding one top-level error."""

    def answer(request: httpx.Request, _: FakeXmlEngine) -> httpx.Response:
        response = Element("response", version="1.0")
        SubElement(response, "header")
        SubElement(response, "error", code=str(code)).text = message
        return _xml(response, status)

    return answer


def carried_out_then_lost(request: httpx.Request, engine: FakeXmlEngine) -> httpx.Response:
    """SmartOffice does the work; its answer never arrives."""
    engine.answer(request)
    raise httpx.ReadTimeout("read timed out", request=request)


def carried_out_without_status(request: httpx.Request, engine: FakeXmlEngine) -> httpx.Response:
    """SmartOffice does the work and answers without the object's status."""
    engine.answer(request)
    response = Element("response", version="1.0")
    SubElement(response, "header")
    SubElement(response, "insert")
    SubElement(response, "_status").text = "OK"
    return _xml(response)


def ignored_without_status(request: httpx.Request, engine: FakeXmlEngine) -> httpx.Response:
    """SmartOffice does nothing and answers without any object."""
    response = Element("response", version="1.0")
    SubElement(response, "header")
    SubElement(response, "_status").text = "OK"
    return _xml(response)

"""The XML documents socialbridge sends to SmartOffice's XML Engine, built with ElementTree.

Every request is one ``<request version="1.0" trace="…">`` whose first child is the
``<header>`` (the gateway reads the document as a stream and needs it first):

    direct    <header><office>demo</office><user>agent</user><password>…</password></header>
    gateway   <header><office/><user/><password/></header>   (the keys travel as HTTP headers)

No ``<keepsession>``: each request is a session of its own, closed when it is answered. The
``trace`` attribute (the write's idempotency key and the step, or ``check``) comes back on the
answer, so one write can be followed through SmartOffice's logs and ours.

Three documents:

- `search_smartpad`: the SmartPads of one contact whose ``Note`` contains a write's marker
  line (`texts.marker_line`), returning their ``Note`` so the match can be checked exactly;
- `insert_smartpad`: one SmartPad (``ContactID``, ``Keywords``, ``Note``), outside any
  ``<transaction>`` (a single insert is atomic by itself);
- `get_system_time`: ``<method><GetSystemTime/></method>``, the cheap call of ``check()``.

Text is set on elements and ElementTree escapes it; characters XML 1.0 cannot carry at all
(most control characters) are replaced by U+FFFD, since a document holding one would be
refused whole (1001).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring

from crm.smartoffice.settings import AuthMode, Credentials
from crm.smartoffice.texts import marker_line

VERSION = "1.0"
CONTENT_TYPE = "application/xml; charset=utf-8"
SEARCH_PAGE_SIZE = 20
"""Candidates asked for: more than enough, since a write's marker is unique to it."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class SmartPad:
    """The properties of one SmartPad to insert (``keywords`` empty: none sent)."""

    contact_id: str
    keywords: str
    note: str


def search_smartpad(
    credentials: Credentials, *, contact_id: str, idempotency_key: str, trace: str
) -> Element:
    """Search the contact's SmartPads for the one a write stored, by its marker line."""
    root = _request(credentials, trace)
    search = SubElement(root, "search", pagesize=str(SEARCH_PAGE_SIZE))
    template = SubElement(SubElement(search, "object"), "SmartPad")
    SubElement(template, "ContactID")
    SubElement(template, "Note")
    both = SubElement(SubElement(search, "condition"), "and")
    _expr(both, "ContactID", "eq", contact_id)
    _expr(both, "Note", "contains", marker_line(idempotency_key))
    return root


def insert_smartpad(credentials: Credentials, pad: SmartPad, *, trace: str) -> Element:
    """Insert one SmartPad on a contact."""
    root = _request(credentials, trace)
    item = SubElement(SubElement(root, "insert"), "SmartPad")
    _text(item, "ContactID", pad.contact_id)
    if pad.keywords:
        _text(item, "Keywords", pad.keywords)
    _text(item, "Note", pad.note)
    return root


def get_system_time(credentials: Credentials, *, trace: str = "check") -> Element:
    """Ask for the server's time: proves the URL and the credentials, changes nothing."""
    root = _request(credentials, trace)
    SubElement(SubElement(root, "method"), "GetSystemTime")
    return root


def to_bytes(document: Element) -> bytes:
    """The document as sent: UTF-8 with an XML declaration that says so."""
    body: bytes = tostring(document, encoding="utf-8", xml_declaration=True)
    return body


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _request(credentials: Credentials, trace: str) -> Element:
    root = Element("request", version=VERSION, trace=xml_safe(trace))
    header = SubElement(root, "header")
    direct = credentials.auth is AuthMode.DIRECT
    # Gateway mode sends the three elements empty: the gateway fills them from the keys.
    _text(header, "office", credentials.office if direct else "")
    _text(header, "user", credentials.user if direct else "")
    _text(header, "password", credentials.password if direct else "")
    return root


def _text(parent: Element, tag: str, text: str) -> Element:
    child = SubElement(parent, tag)
    if text:
        child.text = xml_safe(text)
    return child


def _expr(parent: Element, prop: str, op: str, value: str) -> None:
    _text(SubElement(parent, "expr", prop=prop, op=op), "v", value)

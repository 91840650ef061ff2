"""Reading request documents safely, and building answer documents, for the XML Engine.

Requests are parsed by defusedxml with DTDs, entity declarations and external references all
forbidden: such a document is refused as an XML syntax error (1001) before anything in it is
expanded or fetched. Answers are built as ElementTree elements and serialized once, so every
value is escaped by the serializer, never by hand.

    root = parse_document(body)                  # raises XmlRefused
    answer = new_answer(user_attributes(root))
    add_error(element, 3004, "Invalid Object Id.")
    finish(answer, ok=False, systime=..., cost_ms=3)
    body = serialize(answer)
"""

from __future__ import annotations

# ElementTree only builds answers and names types: requests are parsed by defusedxml.
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

ANSWER_VERSION = "1.0"
CONTENT_TYPE = "text/xml; charset=utf-8"

MESSAGES = {
    1: "Internal error.",
    2: "Illegal argument.",
    6: "Object id does not match the object type.",
    1001: "XML syntax error.",
    1002: "Unknown tag name.",
    2001: "Version mismatch.",
    2002: "Login failed.",
    2003: "Session error.",
    3001: "Object not found.",
    3002: "Object not searchable.",
    3004: "Invalid Object Id.",
    3005: "Object id required.",
    4001: "Property not found.",
    4002: "Property not searchable.",
    4003: "Property is read-only.",
    5001: "Unknown function.",
    5002: "Unknown operator.",
    6006: "Invalid search id.",
    6007: "Condition too deep.",
    7001: "Method not found.",
}

# Attributes the engine itself reads or writes on these elements; all others are the
# caller's own, and come back on the answer's element.
ENGINE_ATTRIBUTES = {
    "request": {"version"},
    "search": {"pagesize", "page", "searchid", "total", "maxpages", "more"},
}


class XmlRefused(ValueError):
    """The body is not a document the engine reads (answered as 1001); says why."""


def parse_document(body: bytes) -> ET.Element:
    """The request's root element; raise XmlRefused for bad XML, a DTD or an entity."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRefused(f"XML syntax error: {type(exc).__name__}.") from None
    except ET.ParseError as exc:
        raise XmlRefused(f"XML syntax error: {exc}.") from None
    if not isinstance(root, ET.Element):
        raise XmlRefused("XML syntax error: no document element.")
    return root


def user_attributes(element: ET.Element) -> dict[str, str]:
    """The attributes of `element` that the engine does not read: echoed on the answer."""
    own = ENGINE_ATTRIBUTES.get(element.tag, set())
    return {name: value for name, value in element.attrib.items() if name not in own}


def new_answer(attributes: dict[str, str] | None = None) -> ET.Element:
    """An empty ``<response version="1.0">`` carrying the request's user attributes."""
    return ET.Element("response", {**(attributes or {}), "version": ANSWER_VERSION})


def add_error(parent: ET.Element, code: int, message: str | None = None) -> ET.Element:
    """Append ``<error code="…">message</error>`` to `parent`."""
    error = ET.SubElement(parent, "error", {"code": str(code)})
    error.text = message or MESSAGES.get(code, "Error.")
    return error


def mark_error(element: ET.Element, code: int, message: str | None = None) -> ET.Element:
    """Make `element` a failed one: ``_status="error"`` and its <error> inside."""
    element.set("_status", "error")
    add_error(element, code, message)
    return element


def top_level_error(
    code: int, message: str | None = None, attributes: dict[str, str] | None = None
) -> ET.Element:
    """An answer that aborts the whole request, shaped as the vendor's own example: a
    closed session and the error, with neither ``_status`` nor ``_systime``."""
    answer = new_answer(attributes)
    header = ET.SubElement(answer, "header")
    ET.SubElement(header, "sessionClosed")
    add_error(answer, code, message)
    return answer


def finish(answer: ET.Element, *, ok: bool, systime: str, cost_ms: int) -> None:
    """Close an executed request's answer: ``_status``, ``_systime`` and the cost comment."""
    ET.SubElement(answer, "_status").text = "OK" if ok else "error"
    ET.SubElement(answer, "_systime").text = systime
    answer.append(ET.Comment(f" Cost {cost_ms} mill seconds. "))


def error_codes(answer: ET.Element) -> list[int]:
    """Every error code in an answer, in document order."""
    return [int(e.get("code", "0")) for e in answer.iter("error")]


def serialize(answer: ET.Element) -> bytes:
    document: bytes = ET.tostring(answer, encoding="utf-8", xml_declaration=True)
    return document

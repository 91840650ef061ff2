"""Request documents for the sandbox XML Engine's tests, built with ElementTree, and the
answers read back with defusedxml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from defusedxml.ElementTree import fromstring
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.smartoffice.state import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_OFFICE,
    DEMO_PASSWORD,
    DEMO_SITENAME,
    DEMO_USER,
)

GATEWAY_HEADERS = {
    "sitename": DEMO_SITENAME,
    "username": f"{DEMO_SITENAME}_{DEMO_OFFICE}_{DEMO_USER}",
    "api-key": DEMO_API_KEY,
    "api-secret": DEMO_API_SECRET,
}


def el(tag: str, *children: ET.Element | str, **attributes: str) -> ET.Element:
    """An element; a string child is its text."""
    element = ET.Element(tag, attributes)
    for child in children:
        if isinstance(child, str):
            element.text = child
        else:
            element.append(child)
    return element


def direct_header(
    office: str = DEMO_OFFICE,
    user: str = DEMO_USER,
    password: str = DEMO_PASSWORD,
    *,
    keep: bool = False,
    **attributes: str,
) -> ET.Element:
    header = el("header", el("office", office), el("user", user), el("password", password))
    header.attrib.update(attributes)
    if keep:
        header.append(el("keepsession", "true"))
    return header


def gateway_header(*, keep: bool = False) -> ET.Element:
    header = el("header", el("office"), el("user"), el("password"))
    if keep:
        header.append(el("keepsession", "true"))
    return header


def document(header: ET.Element, *operations: ET.Element, **attributes: str) -> bytes:
    return to_bytes(el("request", header, *operations, **{"version": "1.0", **attributes}))


def to_bytes(root: ET.Element, encoding: str = "utf-8") -> bytes:
    data: bytes = ET.tostring(root, encoding=encoding, xml_declaration=True)
    return data


def find(element: ET.Element, path: str) -> ET.Element:
    """The element at `path`, which must be there."""
    found = element.find(path)
    assert found is not None, f"no {path} in {ET.tostring(element)!r}"
    return found


def parse(data: bytes) -> ET.Element:
    root = fromstring(data)
    assert isinstance(root, ET.Element)
    return root


def codes(answer: ET.Element) -> list[int]:
    return [int(error.attrib["code"]) for error in answer.iter("error")]


def smartpad(contact_id: str, note: str, keywords: str | None = None) -> ET.Element:
    pad = el("SmartPad", el("ContactID", contact_id), el("Note", note))
    if keywords is not None:
        pad.append(el("Keywords", keywords))
    return pad


def expr(prop: str, op: str, *values: str, **attributes: str) -> ET.Element:
    return el("expr", *(el("v", v) for v in values), prop=prop, op=op, **attributes)


def search(template: ET.Element, *condition: ET.Element, **attributes: str) -> ET.Element:
    return el("search", el("object", template), el("condition", *condition), **attributes)


class XmlEngine:
    """The sandbox's /xml endpoint through Flask's test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, body: bytes, headers: Mapping[str, str] | None = None) -> TestResponse:
        return self.client.post("/xml", data=body, headers=dict(headers or {}))

    def answer(self, body: bytes, headers: Mapping[str, str] | None = None) -> ET.Element:
        """Post `body`; the answer document (always HTTP 200, always XML)."""
        response = self.post(body, headers)
        assert response.status_code == 200
        assert response.content_type == "text/xml; charset=utf-8"
        return parse(response.data)

    def send(self, *operations: ET.Element, keep: bool = False) -> ET.Element:
        """Run operations as the demo account (direct login)."""
        return self.answer(document(direct_header(keep=keep), *operations))

    def get_json(self, path: str) -> Any:
        """A control endpoint's JSON (which must answer 200)."""
        response = self.client.get(path)
        assert response.status_code == 200, response.data
        return response.json

    def smartpads(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        query = "" if contact_id is None else f"?contact_id={contact_id}"
        pads: list[dict[str, Any]] = self.get_json(f"/_sandbox/smartpads{query}")
        return pads

    def post_json(self, path: str, payload: object) -> tuple[int, Any]:
        """POST JSON to a control endpoint: its status and JSON answer."""
        response = self.client.post(path, json=payload)
        return response.status_code, response.json

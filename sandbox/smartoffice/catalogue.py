"""The objects the sandbox XML Engine knows, their properties, ids and value formats.

The real catalogue (the API Dictionary) is not public; this one holds what the vendor's text
shows and what socialbridge needs:

    Contact     Contact.1.<n>    LastName FirstName FullName(read-only) Title TaxID Greeting
                                 ClientType ContactType, PreferredPhone and PreferredAddress
                                 (child objects), Phones and WebAddresses (arrays)
    SmartPad    SmartPad.7.<n>   ContactID (required) Keywords Note CreatedOn(read-only)
    Phone       Phone.1.<n>      AreaCode Number                 (a child of a contact only)
    Address     Address.1.<n>    Line1 Line2 Line3 City State Postal        (child only)
    WebAddress  WebAddress.1.<n> Address WebAddressType                     (child only)

Values travel as text in the vendor's formats (Boolean ``1``/``0``, integers as digits, Date
``CCYY-MM-DD``, Datetime ``CCYY-MM-DD hh:mm:ss-0800``). The vendor states no length limits;
the sandbox refuses (code 2) a Keywords longer than 255 characters and a Note longer than
32,000, so that a client learns to check what it sends rather than trust it to fit.

A record is a plain JSON-ready dict: ``{"_type": "SmartPad", "id": "SmartPad.7.501", "Note":
"...", ...}``; a child property holds the child's id, an array property a list of ids.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
"""One stored object: ``_type``, ``id`` and its properties' values (text, ids, id lists)."""

SERVER_TIMEZONE = dt.timezone(dt.timedelta(hours=-8))
"""The sandbox's server clock: a fixed UTC-08:00, as the vendor's examples show, so that a
client which takes ``_systime`` or a datetime for UTC is caught."""

_ID = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\.([0-9]{1,12})\.([0-9]{1,12})$")
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})([+-][0-9]{4})$")


class Kind(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ID = "id"  # the id of one object of `target`
    CHILD = "child"  # one child object of `target`
    ARRAY = "array"  # child objects of `target`, inside a wrapper element

    @property
    def is_simple(self) -> bool:
        return self not in (Kind.CHILD, Kind.ARRAY)


@dataclass(frozen=True)
class Property:
    name: str
    kind: Kind = Kind.TEXT
    target: str | None = None
    read_only: bool = False
    required: bool = False
    max_length: int | None = None
    default: bool = True  # sent back by get and search when no template names properties


@dataclass(frozen=True)
class ObjectType:
    name: str
    id_prefix: str  # "SmartPad.7": ids are "<id_prefix>.<n>"
    first_number: int
    properties: Mapping[str, Property] = field(default_factory=dict)
    top_level: bool = True  # inserted, deleted and searched on its own (else: a child only)

    def defaults(self) -> list[str]:
        return [p.name for p in self.properties.values() if p.default]


def _type(name: str, prefix: str, first: int, *props: Property, top: bool = True) -> ObjectType:
    return ObjectType(name, prefix, first, {p.name: p for p in props}, top)


CATALOGUE: dict[str, ObjectType] = {
    t.name: t
    for t in (
        _type(
            "Contact",
            "Contact.1",
            100,
            Property("LastName", max_length=100),
            Property("FirstName", max_length=100),
            Property("FullName", read_only=True),
            Property("Title", max_length=50),
            Property("TaxID", max_length=20, default=False),
            Property("Greeting", max_length=100),
            Property("ClientType", Kind.INTEGER),
            Property("ContactType", Kind.INTEGER),
            Property("PreferredPhone", Kind.CHILD, "Phone", default=False),
            Property("PreferredAddress", Kind.CHILD, "Address", default=False),
            Property("Phones", Kind.ARRAY, "Phone", default=False),
            Property("WebAddresses", Kind.ARRAY, "WebAddress", default=False),
        ),
        _type(
            "SmartPad",
            "SmartPad.7",
            501,
            Property("ContactID", Kind.ID, "Contact", required=True),
            Property("Keywords", max_length=255),
            Property("Note", max_length=32_000),
            Property("CreatedOn", Kind.DATETIME, read_only=True),
        ),
        _type(
            "Phone",
            "Phone.1",
            1,
            Property("AreaCode", max_length=10),
            Property("Number", max_length=30),
            top=False,
        ),
        _type(
            "Address",
            "Address.1",
            1,
            *(Property(f"Line{n}", max_length=100) for n in (1, 2, 3)),
            Property("City", max_length=100),
            Property("State", max_length=50),
            Property("Postal", max_length=20),
            top=False,
        ),
        _type(
            "WebAddress",
            "WebAddress.1",
            1,
            Property("Address", max_length=255),
            Property("WebAddressType", Kind.INTEGER),
            top=False,
        ),
    )
}


class ValueRefused(ValueError):
    """A value a property cannot take; the message says why (answered as code 2)."""


def parse_id(text: str) -> tuple[str, int] | None:
    """``("SmartPad", 501)`` for ``SmartPad.7.501``; None when the text is not an object id."""
    found = _ID.match(text.strip())
    if found is None:
        return None
    return found.group(1), int(found.group(3))


def id_number(object_id: str) -> int:
    """The running number of a well-formed id (what orders objects by age)."""
    parsed = parse_id(object_id)
    return parsed[1] if parsed else 0


def check_value(prop: Property, text: str) -> str | None:
    """The value to store for `text` (None clears it); raise ValueRefused when it cannot be."""
    if prop.kind is Kind.TEXT:
        if prop.max_length is not None and len(text) > prop.max_length:
            raise ValueRefused(f"{prop.name}: at most {prop.max_length} characters")
        return text or None
    value = text.strip()
    if not value:
        return None
    if prop.kind is Kind.INTEGER and not _INTEGER.match(value):
        raise ValueRefused(f"{prop.name}: expected an integer")
    if prop.kind is Kind.BOOLEAN and value not in ("0", "1"):
        raise ValueRefused(f"{prop.name}: expected 1 or 0")
    if prop.kind is Kind.DATE and parse_date(value) is None:
        raise ValueRefused(f"{prop.name}: expected a date CCYY-MM-DD")
    if prop.kind is Kind.DATETIME and parse_datetime(value) is None:
        raise ValueRefused(f"{prop.name}: expected a datetime CCYY-MM-DD hh:mm:ss-hhmm")
    return value


def parse_date(text: str) -> dt.date | None:
    if not _DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def parse_datetime(text: str) -> dt.datetime | None:
    found = _DATETIME.match(text)
    if found is None:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S%z")
    except ValueError:
        return None


def format_datetime(moment: dt.datetime) -> str:
    """The vendor's Datetime value format, ``CCYY-MM-DD hh:mm:ss-0800``."""
    return moment.astimezone(SERVER_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S%z")


def format_systime(moment: dt.datetime) -> str:
    """``_systime`` and GetSystemTime: server time, ``CCYY-MM-DDThh:mm:ss``, no zone."""
    return moment.astimezone(SERVER_TIMEZONE).strftime("%Y-%m-%dT%H:%M:%S")


def read_value(record: Record, prop: Property) -> Any:
    """What a property holds; FullName is derived, as a real CRM keeps it in step."""
    if prop.name == "FullName" and record["_type"] == "Contact":
        names = [record.get("LastName"), record.get("FirstName")]
        return ", ".join(n for n in names if n) or None
    return record.get(prop.name)

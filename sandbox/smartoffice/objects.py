"""Objects in answers: property templates, rendering, and the errors objects fail with.

A template is what ``get`` and ``search`` are asked to send back: the empty child elements of
the requested object (``<Contact id="…"><LastName/><FirstName/></Contact>``). No child: the
type's default properties. A child object's template nests (``<PreferredAddress><City/>
</PreferredAddress>``); an array's names its item (``<Phones><Phone><Number/></Phone>
</Phones>``). Read back as nested dicts: ``{"LastName": {}, "Phones": {"Number": {}}}``.

Rendered objects carry ``id`` and ``_type="obj"``; an array is a wrapper with
``_type="objs"``; a property without a value is an empty element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Protocol, TypeAlias

from sandbox.smartoffice.catalogue import (
    CATALOGUE,
    Kind,
    ObjectType,
    Property,
    Record,
    read_value,
)

Template: TypeAlias = "dict[str, Template]"


class EngineError(Exception):
    """An error written inside the element that failed (an object, an operation)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or str(code))
        self.code = code
        self.message = message


class Reader(Protocol):
    def get(self, object_id: str) -> Record | None: ...


def object_type(tag: str) -> ObjectType:
    """The catalogue entry for an object element's tag; an unknown one is 1002."""
    if tag not in CATALOGUE:
        raise EngineError(1002, f"Unknown tag name: {tag}.")
    return CATALOGUE[tag]


def find_property(type_: ObjectType, name: str) -> Property:
    prop = type_.properties.get(name)
    if prop is None:
        raise EngineError(4001, f"Property not found: {type_.name}.{name}.")
    return prop


def read_template(type_: ObjectType, element: ET.Element) -> Template:
    """The template an object element spells out; raise EngineError for what is unknown."""
    template: Template = {}
    for child in element:
        prop = find_property(type_, child.tag)
        if prop.kind is Kind.CHILD:
            template[prop.name] = read_template(CATALOGUE[str(prop.target)], child)
        elif prop.kind is Kind.ARRAY:
            template[prop.name] = _item_template(prop, child)
        elif len(child):
            raise EngineError(2, f"{type_.name}.{prop.name} takes no elements in a template.")
        else:
            template[prop.name] = {}
    return template


def _item_template(prop: Property, element: ET.Element) -> Template:
    item_type = CATALOGUE[str(prop.target)]
    items = list(element)
    if any(item.tag != item_type.name for item in items) or len(items) > 1:
        raise EngineError(1002, f"{prop.name} is templated by one <{item_type.name}> element.")
    return read_template(item_type, items[0]) if items else {}


def render(
    type_: ObjectType, record: Record, template: Template, reader: Reader, tag: str | None = None
) -> ET.Element:
    """The object as an answer element, with the properties `template` asks for."""
    element = ET.Element(tag or type_.name, {"id": record["id"], "_type": "obj"})
    for name in template or type_.defaults():
        prop = type_.properties[name]
        wanted = template.get(name, {})
        if prop.kind.is_simple:
            value = read_value(record, prop)
            ET.SubElement(element, name).text = None if value is None else str(value)
        elif prop.kind is Kind.CHILD:
            child = _child(record.get(name), reader)
            if child is None:
                ET.SubElement(element, name)
            else:
                element.append(render(CATALOGUE[child["_type"]], child, wanted, reader, name))
        else:
            wrapper = ET.SubElement(element, name, {"_type": "objs"})
            for item_id in record.get(name) or []:
                item = _child(item_id, reader)
                if item is not None:
                    wrapper.append(render(CATALOGUE[item["_type"]], item, wanted, reader))
    return element


def _child(object_id: str | None, reader: Reader) -> Record | None:
    return None if not object_id else reader.get(object_id)


def answer_object(tag: str, object_id: str | None, status: str) -> ET.Element:
    """``<Tag id="…" _type="obj" _status="…"/>``, what writes answer for each object."""
    attributes = {"id": object_id} if object_id else {}
    return ET.Element(tag, {**attributes, "_type": "obj", "_status": status})

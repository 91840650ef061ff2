"""The ``search`` operation: an object template, a required condition, sort, paging.

Conditions combine ``<expr prop op [fn]>`` with ``<and>``, ``<or>`` and nested
``<condition>``; several children of one element mean AND. Every operator of the vendor's text
is there (``eq ne gt ge lt le between in like contains starts ends isnull not-null`` and the
``not-`` forms), and every ``fn``. Choices where the vendor is silent, each the reading a
careful client must survive:

- Text compares case-insensitively (a ``contains`` on a marker can match more than the
  client meant: it must check what comes back). Values that both read as numbers compare as
  numbers. A property without a value matches ``isnull`` only: every other operator is false
  for it, ``ne`` and the ``not-`` forms included, as in SQL.
- ``total`` is the count over all pages, as in the vendor's example; a client should page on
  ``more`` alone. A follow-up page (``searchid``) that is the last one reports
  ``page="-1"``, as the vendor's example of a last page does.
- ``pagesize`` defaults to 2000 and is capped at 2000: a larger one is answered with
  ``pagesize="2000"`` and ``more="true"`` when there is more.
- A kept search holds the matches found when it first ran; a follow-up uses them (objects
  deleted since are left out of its pages) and ignores the body and ``pagesize`` sent again.
- Only top-level objects (Contact, SmartPad) are searched; a child type is 3002.

Codes of this sandbox inside the 6001-6010 family: 6001 no condition (or an empty group),
6002 a malformed expression (no prop or op, wrong number of values), 6003 a ``<v type>`` the
operator does not take, 6006 an unknown search id, 6007 too deep (a property path of more
than 4 levels, or groups nested more than 16 deep), 6008 more than two sort items.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.smartoffice.catalogue import CATALOGUE, Kind, ObjectType, Property, Record, read_value
from sandbox.smartoffice.objects import (
    EngineError,
    Reader,
    find_property,
    object_type,
    read_template,
    render,
)
from sandbox.smartoffice.state import AccountKey, SavedSearch, Sessions
from sandbox.smartoffice.store import Workspace

DEFAULT_PAGESIZE = 2000
MAX_PAGESIZE = 2000
MAX_PROPERTY_LEVELS = 4
MAX_GROUP_DEPTH = 16

Value = str | None
Getter = Callable[[Record, Reader], Value]
Predicate = Callable[[Record, Reader], bool]
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class SearchContext:
    owner: AccountKey
    keep_session: bool
    sessions: Sessions
    reader: Workspace


def run_search(element: ET.Element, answer: ET.Element, context: SearchContext) -> str:
    """Answer one ``<search>`` into `answer`; return the type searched. Raises EngineError."""
    search_id = element.get("searchid")
    if search_id is not None:
        saved = context.sessions.find(context.owner, search_id)
        if saved is None:
            raise EngineError(6006, f"Invalid search id: {search_id}.")
        page = _number(element, "page", saved.next_page)
    else:
        page = _number(element, "page", 0)
        saved = _new_search(element, context)
    start = page * saved.pagesize
    more = start + saved.pagesize < len(saved.ids)
    answer.set("pagesize", str(saved.pagesize))
    answer.set("page", "-1" if search_id is not None and not more else str(page))
    answer.set("total", str(len(saved.ids)))
    answer.set("more", "true" if more else "false")
    if context.keep_session:
        answer.set("searchid", search_id or context.sessions.save(saved))
    saved.next_page = page + 1
    type_ = CATALOGUE[saved.type_name]
    for object_id in saved.ids[start : start + saved.pagesize]:
        record = context.reader.get(object_id)
        if record is not None:
            answer.append(render(type_, record, saved.template, context.reader))
    return saved.type_name


def _new_search(element: ET.Element, context: SearchContext) -> SavedSearch:
    pagesize = min(_number(element, "pagesize", DEFAULT_PAGESIZE, least=1), MAX_PAGESIZE)
    parts: dict[str, ET.Element] = {}
    for child in element:
        if child.tag not in ("object", "condition", "sort"):
            raise EngineError(1002, f"Unknown tag name in <search>: {child.tag}.")
        if child.tag in parts:
            raise EngineError(2, f"<{child.tag}> is given twice in <search>.")
        parts[child.tag] = child
    template_element = parts.get("object")
    if template_element is None or len(template_element) != 1:
        raise EngineError(2, "A search names one object type in its <object> template.")
    type_ = object_type(template_element[0].tag)
    if not type_.top_level:
        raise EngineError(3002, f"Object not searchable: {type_.name}.")
    template = read_template(type_, template_element[0])
    if "condition" not in parts:
        raise EngineError(6001, "A search needs a <condition>.")
    matches = _group(parts["condition"], type_, depth=1)
    order = _sort(parts.get("sort"), type_)
    found = [r for r in context.reader.all_of(type_.name) if matches(r, context.reader)]
    ids = [r["id"] for r in order(found)]
    return SavedSearch(context.owner, type_.name, template, ids, pagesize)


def _number(element: ET.Element, name: str, default: int, least: int = 0) -> int:
    text = element.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < least:
        raise EngineError(2, f"{name}: expected an integer of at least {least}.")
    return int(text)


# --- conditions ---------------------------------------------------------------------------


def _group(element: ET.Element, type_: ObjectType, depth: int) -> Predicate:
    """All children of `element` (a <condition> or an <and>) must hold; <or>: any."""
    if depth > MAX_GROUP_DEPTH:
        raise EngineError(6007, f"Conditions nest at most {MAX_GROUP_DEPTH} deep.")
    parts: list[Predicate] = []
    for child in element:
        if child.tag == "expr":
            parts.append(_expression(child, type_))
        elif child.tag in ("and", "or", "condition"):
            parts.append(_group(child, type_, depth + 1))
        else:
            raise EngineError(1002, f"Unknown tag name in a condition: {child.tag}.")
    if not parts:
        raise EngineError(6001, f"<{element.tag}> holds no expression.")
    if element.tag == "or":
        return lambda record, reader: any(part(record, reader) for part in parts)
    return lambda record, reader: all(part(record, reader) for part in parts)


def _expression(element: ET.Element, type_: ObjectType) -> Predicate:
    path, op = element.get("prop"), element.get("op")
    if not path or not op:
        raise EngineError(6002, "An <expr> needs a prop and an op.")
    left = property_getter(path, type_)
    if op not in OPERATORS:
        message = "any is for sync only." if op == "any" else f"Unknown operator: {op}."
        raise EngineError(5002, message)
    arity, constants_only, test = OPERATORS[op]
    function = _function(element.get("fn"))
    values: list[Getter] = []
    for child in element:
        if child.tag != "v":
            raise EngineError(1002, f"Unknown tag name in <expr>: {child.tag}.")
        values.append(_value(child, type_, constants_only, op))
    if not arity(len(values)):
        raise EngineError(6002, f"Wrong number of <v> values for op {op}.")

    def holds(record: Record, reader: Reader) -> bool:
        return test(function(left(record, reader)), [v(record, reader) for v in values])

    return holds


def _value(element: ET.Element, type_: ObjectType, constants_only: bool, op: str) -> Getter:
    kind = element.get("type", "const")
    if kind == "const":
        text = element.text or ""
        return lambda record, reader: text
    if kind == "prop" and not constants_only:
        return property_getter((element.text or "").strip(), type_)
    if kind == "ref":
        raise EngineError(6003, '<v type="ref"> is for sync only.')
    raise EngineError(6003, f'<v type="{kind}"> is not taken by op {op}.')


def property_getter(path: str, type_: ObjectType) -> Getter:
    """Reads ``Prop``, ``Type.Prop`` or a path through child objects of one record."""
    names = path.split(".")
    if len(names) > MAX_PROPERTY_LEVELS:
        raise EngineError(6007, f"{path}: at most {MAX_PROPERTY_LEVELS} levels.")
    if len(names) > 1 and names[0] == type_.name:
        names = names[1:]
    steps: list[Property] = []
    current = type_
    for index, name in enumerate(names):
        prop = find_property(current, name)
        steps.append(prop)
        last = index == len(names) - 1
        if (last and not prop.kind.is_simple) or (not last and prop.kind is not Kind.CHILD):
            raise EngineError(4002, f"Property not searchable: {path}.")
        if not last:
            current = CATALOGUE[str(prop.target)]

    def get(record: Record, reader: Reader) -> Value:
        found: Record | None = record
        for prop in steps[:-1]:
            child_id = found.get(prop.name) if found else None
            found = reader.get(child_id) if child_id else None
        value = read_value(found, steps[-1]) if found else None
        return None if value is None else str(value)

    return get


def _compare(left: Value, right: Value) -> int | None:
    if left is None or right is None:
        return None
    if _NUMBER.match(left.strip()) and _NUMBER.match(right.strip()):
        a, b = Decimal(left.strip()), Decimal(right.strip())
        return (a > b) - (a < b)
    x, y = left.casefold(), right.casefold()
    return (x > y) - (x < y)


def _comparing(accept: Callable[[int], bool]) -> Callable[[Value, list[Value]], bool]:
    def test(left: Value, right: list[Value]) -> bool:
        order = _compare(left, right[0])
        return order is not None and accept(order)

    return test


def _text(accept: Callable[[str, str], bool]) -> Callable[[Value, list[Value]], bool]:
    def test(left: Value, right: list[Value]) -> bool:
        return (
            left is not None
            and right[0] is not None
            and accept(left.casefold(), right[0].casefold())
        )

    return test


def _between(left: Value, right: list[Value]) -> bool:
    low, high = _compare(left, right[0]), _compare(left, right[1])
    return low is not None and high is not None and low >= 0 and high <= 0


def _in(left: Value, right: list[Value]) -> bool:
    return any(_compare(left, value) == 0 for value in right)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _negated(test: Callable[[Value, list[Value]], bool]) -> Callable[[Value, list[Value]], bool]:
    return lambda left, right: left is not None and not test(left, right)


def _one(count: int) -> bool:
    return count == 1


_TESTS: dict[str, tuple[Callable[[int], bool], bool, Callable[[Value, list[Value]], bool]]] = {
    "eq": (_one, False, _comparing(lambda o: o == 0)),
    "ne": (_one, False, _comparing(lambda o: o != 0)),
    "gt": (_one, False, _comparing(lambda o: o > 0)),
    "ge": (_one, False, _comparing(lambda o: o >= 0)),
    "lt": (_one, False, _comparing(lambda o: o < 0)),
    "le": (_one, False, _comparing(lambda o: o <= 0)),
    "between": (lambda n: n == 2, True, _between),
    "in": (lambda n: n >= 1, True, _in),
    "like": (_one, True, _text(lambda v, p: _like(p).fullmatch(v) is not None)),
    "contains": (_one, True, _text(lambda v, p: p in v)),
    "starts": (_one, True, _text(lambda v, p: v.startswith(p))),
    "ends": (_one, True, _text(lambda v, p: v.endswith(p))),
    "isnull": (lambda n: n == 0, True, lambda left, right: left is None),
    "not-null": (lambda n: n == 0, True, lambda left, right: left is not None),
}
OPERATORS = {
    **_TESTS,
    **{
        f"not-{name}": (arity, constants, _negated(test))
        for name, (arity, constants, test) in _TESTS.items()
        if name in ("between", "in", "like", "contains", "starts", "ends")
    },
}


def _function(name: str | None) -> Callable[[Value], Value]:
    if name is None:
        return lambda value: value
    function = FUNCTIONS.get(name.upper())
    if function is None:
        raise EngineError(5001, f"Unknown function: {name}.")
    return lambda value: None if value is None else function(value)


def _moment(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.strip()[:19])
    except ValueError:
        return None


def _part(read: Callable[[dt.datetime], int]) -> Callable[[str], Value]:
    def apply(value: str) -> Value:
        moment = _moment(value)
        return None if moment is None else str(read(moment))

    return apply


FUNCTIONS: dict[str, Callable[[str], Value]] = {
    "UCASE": str.upper,
    "LCASE": str.lower,
    "YEAR": _part(lambda m: m.year),
    "MONTH": _part(lambda m: m.month),
    "DAY": _part(lambda m: m.day),
    "HOUR": _part(lambda m: m.hour),
    "MINUTE": _part(lambda m: m.minute),
    "SECOND": _part(lambda m: m.second),
    "QUARTER": _part(lambda m: (m.month - 1) // 3 + 1),
    "WEEKOFYEAR": _part(lambda m: m.isocalendar().week),
    "DAYOFYEAR": _part(lambda m: m.timetuple().tm_yday),
    "DAYOFWEEK": _part(lambda m: m.isoweekday() % 7 + 1),  # 1 = Sunday, as in SQL
}


# --- sort -----------------------------------------------------------------------------------


def _sort(element: ET.Element | None, type_: ObjectType) -> Callable[[list[Record]], list[Record]]:
    """Sort items (at most two; short property names); without: oldest first."""
    if element is None:
        return lambda records: records
    items = list(element)
    if len(items) > 2:
        raise EngineError(6008, "At most two sort items.")
    keys: list[tuple[Property, bool]] = []
    for item in items:
        if item.tag != "item":
            raise EngineError(1002, f"Unknown tag name in <sort>: {item.tag}.")
        prop = find_property(type_, item.get("prop", ""))
        if not prop.kind.is_simple:
            raise EngineError(4002, f"Property not searchable: {prop.name}.")
        order = item.get("order", "asc")
        if order not in ("asc", "desc"):
            raise EngineError(2, f"order: expected asc or desc, not {order}.")
        keys.append((prop, order == "desc"))

    def order_records(records: list[Record]) -> list[Record]:
        for prop, descending in reversed(keys):
            records = sorted(
                records, key=lambda r: _sort_key(read_value(r, prop)), reverse=descending
            )
        return records

    return order_records


def _sort_key(value: Any) -> tuple[int, Decimal | str]:
    if value is None:
        return (0, "")
    text = str(value)
    if _NUMBER.match(text.strip()):
        return (1, Decimal(text.strip()))
    return (2, text.casefold())

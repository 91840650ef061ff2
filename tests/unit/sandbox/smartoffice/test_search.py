"""search: templates, conditions, sort, paging with search ids and sessions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from sandbox.smartoffice.state import DEMO_CONTACT_ID
from tests.unit.sandbox.smartoffice.xmldocs import (
    XmlEngine,
    codes,
    direct_header,
    document,
    el,
    expr,
    find,
    search,
    smartpad,
)

NOTES = [
    ("Contact.1.31", "Posted to Facebook.\nsocialbridge-id: evt_1", "Spring"),
    ("Contact.1.31", "Posted to LinkedIn.\nsocialbridge-id: evt_2", "Annuities"),
    ("Contact.1.32", "Posted to Facebook.\nsocialbridge-id: evt_3", None),
    ("Contact.1.31", "Phone call", "Follow-up"),
]


@pytest.fixture
def pads(xml: XmlEngine) -> list[str]:
    """Four SmartPads (ids in insertion order)."""
    answer = xml.send(el("insert", *(smartpad(c, n, k) for c, n, k in NOTES)))
    return [pad.attrib["id"] for pad in find(answer, "insert")]


def found(answer: ET.Element) -> list[str]:
    return [obj.attrib["id"] for obj in find(answer, "search")]


def pad_search(*condition: ET.Element, **attributes: str) -> ET.Element:
    return search(el("SmartPad", el("Note"), el("Keywords")), *condition, **attributes)


def test_contains_on_note_with_eq_on_contact(xml: XmlEngine, pads: list[str]) -> None:
    answer = xml.send(
        pad_search(
            el(
                "and",
                expr("ContactID", "eq", DEMO_CONTACT_ID),
                expr("Note", "contains", "socialbridge-id: evt_2"),
            ),
            pagesize="50",
        )
    )

    result = find(answer, "search")
    assert result.attrib == {"pagesize": "50", "page": "0", "total": "1", "more": "false"}
    [pad] = result
    assert pad.attrib == {"id": pads[1], "_type": "obj"}
    assert [child.tag for child in pad] == ["Note", "Keywords"]
    assert pad.findtext("Keywords") == "Annuities"
    assert answer.findtext("_status") == "OK"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (expr("Note", "starts", "posted to facebook"), [0, 2]),
        (expr("Note", "ends", "EVT_3"), [2]),
        (expr("Keywords", "ne", "spring"), [1, 3]),
        (expr("Keywords", "isnull"), [2]),
        (expr("Keywords", "not-null"), [0, 1, 3]),
        (expr("Note", "not-contains", "socialbridge"), [3]),
        (expr("Keywords", "in", "Spring", "Follow-up"), [0, 3]),
        (expr("Note", "like", "Posted to _acebook.%"), [0, 2]),
        (expr("Keywords", "lt", "B"), [1]),
        (expr("Keywords", "eq", "SPRING", fn="UCASE"), [0]),
        (expr("CreatedOn", "ge", "2000", fn="YEAR"), [0, 1, 2, 3]),
        (expr("SmartPad.ContactID", "eq", "Contact.1.32"), [2]),
        (
            el(
                "or",
                expr("Keywords", "eq", "Spring"),
                el("condition", expr("ContactID", "eq", "Contact.1.32")),
            ),
            [0, 2],
        ),
    ],
)
def test_operators_and_groups(
    xml: XmlEngine, pads: list[str], condition: ET.Element, expected: list[int]
) -> None:
    answer = xml.send(pad_search(condition))

    assert found(answer) == [pads[i] for i in expected]


def test_several_children_of_a_condition_all_hold(xml: XmlEngine, pads: list[str]) -> None:
    answer = xml.send(
        pad_search(expr("ContactID", "eq", DEMO_CONTACT_ID), expr("Note", "contains", "Facebook"))
    )

    assert found(answer) == [pads[0]]


def test_contacts_are_searched_through_child_objects(xml: XmlEngine) -> None:
    xml.send(
        el(
            "update",
            el("Contact", el("PreferredAddress", el("Postal", "0150")), id="Contact.1.33"),
        )
    )

    answer = xml.send(
        search(
            el("Contact", el("LastName")),
            expr("Contact.PreferredAddress.Postal", "eq", "0150"),
        )
    )

    assert found(answer) == ["Contact.1.33"]
    assert find(answer, "search/Contact").findtext("LastName") == "Lindqvist"


def test_sort_orders_the_matches(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "search",
            el("object", el("Contact", el("LastName"))),
            el("condition", expr("ClientType", "not-null")),
            el("sort", el("item", prop="ClientType", order="desc"), el("item", prop="LastName")),
        )
    )

    assert found(answer) == ["Contact.1.31", "Contact.1.32", "Contact.1.33"]


def test_paging_with_a_search_id_in_a_kept_session(xml: XmlEngine, pads: list[str]) -> None:
    first = xml.send(pad_search(expr("Note", "not-null"), pagesize="3"), keep=True)

    page = find(first, "search")
    search_id = page.attrib["searchid"]
    assert (page.get("page"), page.get("total"), page.get("more")) == ("0", "4", "true")
    assert found(first) == pads[:3]
    assert find(first, "header").find("sessionClosed") is None

    # The next page: the same search with its id and no page; the last page says -1.
    second = xml.send(el("search", searchid=search_id), keep=True)
    last = find(second, "search")
    assert (last.get("page"), last.get("more"), last.get("searchid")) == ("-1", "false", search_id)
    assert found(second) == pads[3:]

    # Any page again, by number.
    again = xml.send(el("search", searchid=search_id, page="0"), keep=True)
    assert found(again) == pads[:3]
    assert find(again, "search").get("more") == "true"


def test_without_keepsession_there_is_no_search_id_and_the_session_closes(
    xml: XmlEngine, pads: list[str]
) -> None:
    kept = xml.send(pad_search(expr("Note", "not-null"), pagesize="2"), keep=True)
    search_id = find(kept, "search").attrib["searchid"]

    closing = xml.send(pad_search(expr("Note", "not-null"), pagesize="2"))

    assert "searchid" not in find(closing, "search").attrib
    assert find(closing, "header/sessionClosed") is not None
    # Closing the session forgot the account's search ids.
    stale = xml.send(el("search", searchid=search_id), keep=True)
    assert codes(stale) == [6006]
    assert find(stale, "search").get("_status") == "error"


def test_an_unknown_search_id_is_6006(xml: XmlEngine) -> None:
    answer = xml.send(el("search", searchid="nope"), keep=True)

    assert codes(answer) == [6006]


def test_a_kept_search_keeps_its_matches_across_later_inserts(
    xml: XmlEngine, pads: list[str]
) -> None:
    first = xml.send(pad_search(expr("Note", "not-null"), pagesize="2"), keep=True)
    search_id = find(first, "search").attrib["searchid"]
    xml.send(el("insert", smartpad(DEMO_CONTACT_ID, "late")), keep=True)

    second = xml.send(el("search", searchid=search_id), keep=True)

    assert find(second, "search").get("total") == "4"
    assert found(second) == pads[2:]


def test_pagesize_defaults_to_2000_and_is_capped_there(xml: XmlEngine, pads: list[str]) -> None:
    default = xml.send(pad_search(expr("Note", "not-null")))
    large = xml.send(pad_search(expr("Note", "not-null"), pagesize="5000"))

    assert find(default, "search").get("pagesize") == "2000"
    assert find(large, "search").get("pagesize") == "2000"
    assert found(large) == pads


def test_a_search_inside_a_transaction_sees_its_writes(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "transaction",
            el("insert", smartpad(DEMO_CONTACT_ID, "fresh marker")),
            pad_search(expr("Note", "eq", "fresh marker")),
        )
    )

    inserted = find(answer, "transaction/insert/SmartPad").attrib["id"]
    assert [o.attrib["id"] for o in find(answer, "transaction/search")] == [inserted]


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        (el("search", el("object", el("SmartPad"))), 6001),
        (search(el("SmartPad")), 6001),
        (search(el("Gadget"), expr("Note", "eq", "x")), 1002),
        (search(el("Phone"), expr("Number", "eq", "x")), 3002),
        (search(el("SmartPad"), expr("Colour", "eq", "x")), 4001),
        (search(el("SmartPad"), expr("Note", "sounds-like", "x")), 5002),
        (search(el("SmartPad"), expr("Note", "eq", "x", fn="REVERSE")), 5001),
        (search(el("SmartPad"), expr("Note", "eq")), 6002),
        (search(el("SmartPad"), expr("Note", "isnull", "x")), 6002),
        (search(el("SmartPad"), el("expr", op="eq")), 6002),
        (search(el("Contact"), expr("Contact.PreferredAddress.City.X.Y", "eq", "x")), 6007),
        (search(el("Contact"), expr("Phones", "eq", "x")), 4002),
        (search(el("Contact"), expr("Phones.Number", "eq", "x")), 4002),
        (search(el("SmartPad"), expr("Note", "eq", "x"), pagesize="0"), 2),
        (search(el("SmartPad"), expr("Note", "eq", "x"), page="-1"), 2),
        (search(el("SmartPad"), el("nand", expr("Note", "eq", "x"))), 1002),
        (search(el("SmartPad"), el("or")), 6001),
    ],
)
def test_bad_searches_fail_inside_the_search(
    xml: XmlEngine, operation: ET.Element, code: int
) -> None:
    answer = xml.send(operation)

    failed = find(answer, "search")
    assert failed.get("_status") == "error"
    assert codes(answer) == [code]


def test_value_kinds_in_expressions(xml: XmlEngine, pads: list[str]) -> None:
    ref = search(el("SmartPad"), el("expr", el("v", "x", type="ref"), prop="Note", op="eq"))
    prop = search(
        el("SmartPad"),
        el("expr", el("v", "Note", type="prop"), prop="Note", op="eq"),
    )
    constants_only = search(
        el("SmartPad"), el("expr", el("v", "Note", type="prop"), prop="Note", op="contains")
    )

    assert codes(xml.send(ref)) == [6003]
    assert found(xml.send(prop)) == pads
    assert codes(xml.send(constants_only)) == [6003]


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([el("item", prop="LastName")] * 3, 6008),
        ([el("item", prop="LastName", order="sideways")], 2),
        ([el("item", prop="Shoe")], 4001),
        ([el("item", prop="Phones")], 4002),
        ([el("column", prop="LastName")], 1002),
    ],
)
def test_bad_sort_items_fail_the_search(xml: XmlEngine, items: list[ET.Element], code: int) -> None:
    operation = el(
        "search",
        el("object", el("Contact")),
        el("condition", expr("LastName", "not-null")),
        el("sort", *items),
    )

    assert codes(xml.send(operation)) == [code]


def test_a_search_id_belongs_to_the_account_that_made_it(xml: XmlEngine, pads: list[str]) -> None:
    xml.post_json("/_sandbox/accounts", {"office": "demo", "user": "other", "password": "pw"})
    kept = xml.send(pad_search(expr("Note", "not-null"), pagesize="1"), keep=True)
    search_id = find(kept, "search").attrib["searchid"]

    header = direct_header("demo", "other", "pw", keep=True)
    answer = xml.answer(document(header, el("search", searchid=search_id)))

    assert codes(answer) == [6006]
    # The owner's session is untouched by the other account's request.
    assert found(xml.send(el("search", searchid=search_id), keep=True)) == [pads[1]]

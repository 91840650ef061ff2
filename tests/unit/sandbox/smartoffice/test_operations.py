"""insert, update, get, delete and method, object by object, with their errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from sandbox.smartoffice.state import DEMO_CONTACT_ID
from tests.unit.sandbox.smartoffice.xmldocs import XmlEngine, codes, el, find, smartpad


def error_of(element: ET.Element) -> tuple[int, str]:
    assert element.get("_status") == "error"
    error = find(element, "error")
    return int(error.attrib["code"]), error.text or ""


def test_insert_answers_each_new_id_and_stores_the_smartpad(xml: XmlEngine) -> None:
    answer = xml.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "Posted to Facebook.", "Spring, Annuities"))
    )

    pad = find(answer, "insert/SmartPad")
    assert pad.attrib["_type"] == "obj"
    assert pad.attrib["_status"] == "inserted"
    assert re.fullmatch(r"SmartPad\.7\.\d+", pad.attrib["id"])
    assert answer.findtext("_status") == "OK"
    [stored] = xml.smartpads()
    assert stored["id"] == pad.attrib["id"]
    assert (stored["ContactID"], stored["Keywords"], stored["Note"]) == (
        DEMO_CONTACT_ID,
        "Spring, Annuities",
        "Posted to Facebook.",
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}-0800", stored["CreatedOn"])


def test_a_note_keeps_its_text_exactly(xml: XmlEngine) -> None:
    note = "  Line one <b>&amp;</b>\n\tline two ✓  \n"

    xml.send(el("insert", smartpad(DEMO_CONTACT_ID, note)))

    assert xml.smartpads()[0]["Note"] == note


def test_a_smartpad_for_a_missing_contact_fails_alone(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "insert",
            smartpad(DEMO_CONTACT_ID, "first"),
            smartpad("Contact.1.999", "lost"),
            smartpad("Contact.1.32", "third"),
        ),
        el("method", el("GetSystemTime")),
    )

    first, failed, third = find(answer, "insert")
    assert first.get("_status") == third.get("_status") == "inserted"
    assert error_of(failed) == (3001, "Object not found: Contact.1.999.")
    assert answer.findtext("method/GetSystemTime")
    assert answer.findtext("_status") == "error"
    assert [p["Note"] for p in xml.smartpads()] == ["first", "third"]


@pytest.mark.parametrize(
    ("pad", "code"),
    [
        (el("SmartPad", el("ContactID", "Contact-31")), 3004),
        (el("SmartPad", el("ContactID", "SmartPad.7.1")), 6),
        (el("SmartPad", el("Note", "no contact")), 2),
        (el("SmartPad", el("ContactID", DEMO_CONTACT_ID), el("Colour", "red")), 4001),
        (el("SmartPad", el("ContactID", DEMO_CONTACT_ID), el("CreatedOn", "2020-01-01")), 4003),
        (el("SmartPad", el("ContactID", DEMO_CONTACT_ID), el("Keywords", "k" * 256)), 2),
        (el("SmartPad", el("ContactID", DEMO_CONTACT_ID), id="SmartPad.7.1"), 2),
        (el("Gadget", el("Name", "x")), 1002),
        (el("Phone", el("Number", "555")), 2),
    ],
)
def test_bad_inserts_fail_with_the_vendor_codes(xml: XmlEngine, pad: ET.Element, code: int) -> None:
    answer = xml.send(el("insert", pad))

    assert error_of(find(answer, "insert")[0])[0] == code
    assert xml.smartpads() == []


def test_get_returns_the_default_properties_or_the_template(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "get",
            el("Contact", id=DEMO_CONTACT_ID),
            el("Contact", el("LastName"), el("FullName"), id="Contact.1.32"),
        )
    )

    default, templated = find(answer, "get")
    assert default.attrib == {"id": DEMO_CONTACT_ID, "_type": "obj"}
    assert default.findtext("LastName") == "Ng"
    assert default.findtext("FirstName") == "Avery"
    assert default.find("TaxID") is None  # not a default property
    assert [child.tag for child in templated] == ["LastName", "FullName"]
    assert templated.findtext("FullName") == "Okafor, Chidi"


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        (el("Contact"), 3005),
        (el("Contact", id="Contact.1"), 3004),
        (el("Contact", id="Contact.1.404"), 3001),
        (el("SmartPad", id=DEMO_CONTACT_ID), 6),
        (el("Contact", el("Shoe"), id=DEMO_CONTACT_ID), 4001),
        (el("lookup", id="4"), 3001),
    ],
)
def test_bad_gets_fail_inside_the_object(xml: XmlEngine, obj: ET.Element, code: int) -> None:
    answer = xml.send(el("get", obj))

    failed = find(answer, "get")[0]
    assert failed.tag == obj.tag
    assert error_of(failed)[0] == code


def test_update_changes_by_id_and_inserts_children_without_ids(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "update",
            el(
                "Contact",
                el("Title", "Dr"),
                el("PreferredAddress", el("City", "Oslo"), el("Postal", "0150")),
                el("Phones", el("Phone", el("AreaCode", "22"), el("Number", "555 0101"))),
                id=DEMO_CONTACT_ID,
            ),
        )
    )

    contact = find(answer, "update/Contact")
    assert contact.attrib == {"id": DEMO_CONTACT_ID, "_type": "obj", "_status": "updated"}
    address = find(contact, "PreferredAddress")
    assert address.get("_status") == "inserted"
    assert find(contact, "Phones").get("_type") == "objs"
    phone = find(contact, "Phones/Phone")
    assert phone.get("_status") == "inserted"

    read = xml.send(
        el(
            "get",
            el(
                "Contact",
                el("Title"),
                el("PreferredAddress", el("City")),
                el("Phones", el("Phone", el("Number"))),
                id=DEMO_CONTACT_ID,
            ),
        )
    )
    got = find(read, "get/Contact")
    assert got.findtext("Title") == "Dr"
    assert find(got, "PreferredAddress").attrib["id"] == address.attrib["id"]
    assert got.findtext("PreferredAddress/City") == "Oslo"
    assert [c.tag for c in find(got, "PreferredAddress")] == ["City"]
    assert find(got, "Phones/Phone").attrib["id"] == phone.attrib["id"]
    assert got.findtext("Phones/Phone/Number") == "555 0101"


def test_an_array_item_is_updated_only_when_its_id_is_given(xml: XmlEngine) -> None:
    first = xml.send(
        el("update", el("Contact", el("Phones", el("Phone", el("Number", "1"))), id="Contact.1.32"))
    )
    phone_id = find(first, "update/Contact/Phones/Phone").attrib["id"]

    second = xml.send(
        el(
            "update",
            el(
                "Contact",
                el(
                    "Phones",
                    el("Phone", el("Number", "1b"), id=phone_id),
                    el("Phone", el("Number", "2")),
                ),
                id="Contact.1.32",
            ),
        )
    )

    updated, inserted = find(second, "update/Contact/Phones")
    assert (updated.get("id"), updated.get("_status")) == (phone_id, "updated")
    assert inserted.get("_status") == "inserted"
    [contact] = [c for c in xml.get_json("/_sandbox/contacts") if c["id"] == "Contact.1.32"]
    assert [p["Number"] for p in contact["Phones"]] == ["1b", "2"]


def test_update_errors(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "update",
            el("Contact", el("Title", "Dr")),
            el("Contact", el("FullName", "X"), id=DEMO_CONTACT_ID),
            el("Contact", el("ClientType", "seven"), id=DEMO_CONTACT_ID),
            el(
                "Contact",
                el("Phones", el("Phone", el("Number", "1"), id="Phone.1.77")),
                id=DEMO_CONTACT_ID,
            ),
            el("Contact", el("Title", "Prof"), id="Contact.1.33"),
        )
    )

    results = list(find(answer, "update"))
    assert [error_of(r)[0] for r in results[:4]] == [3005, 4003, 2, 3001]
    assert results[4].get("_status") == "updated"
    contacts = {c["id"]: c for c in xml.get_json("/_sandbox/contacts")}
    assert contacts[DEMO_CONTACT_ID]["Title"] == "Ms"
    assert contacts["Contact.1.33"]["Title"] == "Prof"


def test_a_failed_object_leaves_nothing_half_written(xml: XmlEngine) -> None:
    # The title comes before the bad child: the object fails whole, the title is not kept.
    answer = xml.send(
        el(
            "update",
            el(
                "Contact",
                el("Title", "Dr"),
                el("PreferredAddress", el("Moon", "1")),
                id=DEMO_CONTACT_ID,
            ),
        )
    )

    assert error_of(find(answer, "update/Contact"))[0] == 4001
    contacts = {c["id"]: c for c in xml.get_json("/_sandbox/contacts")}
    assert contacts[DEMO_CONTACT_ID]["Title"] == "Ms"
    assert contacts[DEMO_CONTACT_ID]["PreferredAddress"] is None


def test_delete_takes_the_top_object_id_and_ignores_children(xml: XmlEngine) -> None:
    inserted = xml.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "bye"), smartpad(DEMO_CONTACT_ID, "stay"))
    )
    doomed, kept = (pad.attrib["id"] for pad in find(inserted, "insert"))

    answer = xml.send(el("delete", el("SmartPad", el("Note", "ignored"), id=doomed)))

    assert find(answer, "delete/SmartPad").attrib == {
        "id": doomed,
        "_type": "obj",
        "_status": "deleted",
    }
    assert [p["id"] for p in xml.smartpads()] == [kept]
    again = xml.send(el("delete", el("SmartPad", id=doomed)))
    assert error_of(find(again, "delete/SmartPad"))[0] == 3001


def test_deleting_a_contact_takes_its_smartpads_and_children(xml: XmlEngine) -> None:
    written = xml.send(
        el("insert", smartpad("Contact.1.33", "hers"), smartpad(DEMO_CONTACT_ID, "other")),
        el("update", el("Contact", el("PreferredPhone", el("Number", "1")), id="Contact.1.33")),
    )
    phone_id = find(written, "update/Contact/PreferredPhone").attrib["id"]

    answer = xml.send(el("delete", el("Contact", id="Contact.1.33")))

    assert find(answer, "delete/Contact").get("_status") == "deleted"
    assert [p["Note"] for p in xml.smartpads()] == ["other"]
    assert "Contact.1.33" not in [c["id"] for c in xml.get_json("/_sandbox/contacts")]
    phone = xml.send(el("get", el("Phone", id=phone_id)))
    assert error_of(find(phone, "get/Phone"))[0] == 3001


def test_refs_link_objects_inserted_in_one_request(xml: XmlEngine) -> None:
    answer = xml.send(
        el(
            "insert",
            el("Contact", el("LastName", "Rivera"), el("FirstName", "Sol"), refid="c"),
            el(
                "SmartPad",
                el("ContactID", "@c", type="ref"),
                el("Note", "@c.LastName", type="ref"),
            ),
        )
    )

    contact, pad = find(answer, "insert")
    assert pad.get("_status") == "inserted"
    [stored] = xml.smartpads(contact.attrib["id"])
    assert stored["Note"] == "Rivera"


def test_an_unknown_ref_fails_the_object(xml: XmlEngine) -> None:
    answer = xml.send(el("insert", el("SmartPad", el("ContactID", "@nobody", type="ref"))))

    assert error_of(find(answer, "insert/SmartPad")) == (2, "Unknown refid: nobody.")


def test_get_system_time_answers_server_time(xml: XmlEngine) -> None:
    answer = xml.send(el("method", el("GetSystemTime")))

    value = answer.findtext("method/GetSystemTime") or ""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value)
    assert value == answer.findtext("_systime")


def test_an_unknown_method_is_7001_inside_it(xml: XmlEngine) -> None:
    answer = xml.send(el("method", el("CheckDuplicateContact")))

    assert error_of(find(answer, "method/CheckDuplicateContact"))[0] == 7001


def test_sync_is_not_supported(xml: XmlEngine) -> None:
    answer = xml.send(el("sync", el("rma", object="Contact", start="p1")))

    assert error_of(find(answer, "sync")) == (1002, "sync is not supported by the sandbox.")
    assert codes(answer) == [1002]

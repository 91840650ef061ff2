"""With a data folder, what the sandbox stored survives a restart."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from flask import Flask

from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from sandbox.smartoffice.state import DEMO_CONTACT_ID, STATE_FILE_NAME
from tests.unit.sandbox.smartoffice.xmldocs import (
    XmlEngine,
    codes,
    direct_header,
    document,
    el,
    find,
    smartpad,
)


def engine(data_dir: Path) -> XmlEngine:
    app: Flask = create_sandbox_smartoffice_app(data_dir=data_dir)
    return XmlEngine(app.test_client())


def test_smartpads_and_contact_changes_survive_a_restart(tmp_path: Path) -> None:
    first = engine(tmp_path)
    written = first.send(
        el("insert", smartpad(DEMO_CONTACT_ID, "kept", "k"), smartpad(DEMO_CONTACT_ID, "gone")),
        el("update", el("Contact", el("PreferredAddress", el("City", "Oslo")), id="Contact.1.32")),
    )
    kept_id, gone_id = (pad.attrib["id"] for pad in find(written, "insert"))
    first.send(el("delete", el("SmartPad", id=gone_id)))

    second = engine(tmp_path)

    assert second.smartpads() == first.smartpads()
    assert [p["id"] for p in second.smartpads()] == [kept_id]
    contacts = {c["id"]: c for c in second.get_json("/_sandbox/contacts")}
    assert contacts["Contact.1.32"]["PreferredAddress"]["City"] == "Oslo"
    # A new id never repeats one handed out before the restart, deleted or not.
    fresh = find(second.send(el("insert", smartpad(DEMO_CONTACT_ID, "new"))), "insert/SmartPad")
    assert fresh.attrib["id"] not in (kept_id, gone_id)


def test_a_cancelled_transaction_never_reaches_the_disk(tmp_path: Path) -> None:
    first = engine(tmp_path)
    answer = first.send(
        el(
            "transaction",
            el("insert", smartpad(DEMO_CONTACT_ID, "cancelled")),
            el("insert", smartpad("Contact.1.404", "fails")),
        )
    )
    assert codes(answer) == [3001]

    assert engine(tmp_path).smartpads() == []


def test_accounts_added_at_run_time_survive_a_restart(tmp_path: Path) -> None:
    engine(tmp_path).post_json(
        "/_sandbox/accounts", {"office": "acme", "user": "ann", "password": "pw"}
    )

    second = engine(tmp_path)
    answer = second.answer(
        document(direct_header("acme", "ann", "pw"), el("method", el("GetSystemTime")))
    )

    assert answer.findtext("_status") == "OK"


def test_a_reset_is_kept_on_disk(tmp_path: Path) -> None:
    first = engine(tmp_path)
    first.post_json("/_sandbox/accounts", {"office": "acme", "user": "ann", "password": "pw"})
    old = find(first.send(el("insert", smartpad(DEMO_CONTACT_ID, "x"))), "insert/SmartPad")
    first.client.delete("/_sandbox/state")

    second = engine(tmp_path)

    assert second.smartpads() == []
    assert [a["office"] for a in second.get_json("/_sandbox/accounts")] == ["acme", "demo"]
    new = find(second.send(el("insert", smartpad(DEMO_CONTACT_ID, "y"))), "insert/SmartPad")
    assert new.attrib["id"] != old.attrib["id"]


def test_the_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    engine(tmp_path).send(el("insert", smartpad(DEMO_CONTACT_ID, "x")))

    mode = stat.S_IMODE(os.stat(tmp_path / STATE_FILE_NAME).st_mode)

    assert mode == 0o600


def test_without_a_data_folder_a_new_app_starts_from_the_seed() -> None:
    XmlEngine(create_sandbox_smartoffice_app().test_client()).send(
        el("insert", smartpad(DEMO_CONTACT_ID, "x"))
    )

    assert XmlEngine(create_sandbox_smartoffice_app().test_client()).smartpads() == []

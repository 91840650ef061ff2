"""The sandbox XML Engine's objects, and the units of work that change them.

    unit = Workspace(store)          # reads see the store plus this unit's own writes
    unit.put(record); unit.delete(object_id)
    changes = unit.changes()         # [(id, record or None)], to persist, then:
    store.apply(changes)             # or drop the unit: nothing of it is kept

A transaction is one unit; outside a transaction each top object of an operation is one, so
an error part-way through an object (a bad child) never leaves half of it behind. New ids
are drawn from per-type counters that never go back, even when a unit is dropped or the
sandbox reset: an id once answered never names another object.

The seed contacts (`SEED_CONTACTS`) are there at every start and after every reset.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from sandbox.smartoffice.catalogue import CATALOGUE, Record, id_number, parse_id

SEED_CONTACTS: tuple[Record, ...] = (
    {
        "_type": "Contact",
        "id": "Contact.1.31",
        "LastName": "Ng",
        "FirstName": "Avery",
        "Title": "Ms",
        "Greeting": "Avery",
        "ClientType": "7",
        "ContactType": "1",
    },
    {
        "_type": "Contact",
        "id": "Contact.1.32",
        "LastName": "Okafor",
        "FirstName": "Chidi",
        "Title": "Mr",
        "Greeting": "Chidi",
        "ClientType": "7",
        "ContactType": "1",
    },
    {
        "_type": "Contact",
        "id": "Contact.1.33",
        "LastName": "Lindqvist",
        "FirstName": "Maja",
        "Greeting": "Maja",
        "ClientType": "1",
        "ContactType": "1",
    },
)

Change = tuple[str, Record | None]
"""One object written (its new record) or deleted (None)."""


class ObjectStore:
    """Committed objects by id, and the next number of each type's ids."""

    def __init__(self) -> None:
        self.objects: dict[str, Record] = {}
        self.counters: dict[str, int] = {name: t.first_number for name, t in CATALOGUE.items()}
        self.reset()

    def reset(self) -> None:
        """Back to the seed contacts; the id counters keep their place."""
        self.objects = {seed["id"]: copy.deepcopy(seed) for seed in SEED_CONTACTS}

    def new_id(self, type_name: str) -> str:
        number = self.counters[type_name]
        self.counters[type_name] = number + 1
        return f"{CATALOGUE[type_name].id_prefix}.{number}"

    def note_id(self, object_id: str) -> None:
        """Keep the counter past an id read back from disk, so it is never drawn again."""
        parsed = parse_id(object_id)
        if parsed is not None and parsed[0] in self.counters:
            self.counters[parsed[0]] = max(self.counters[parsed[0]], parsed[1] + 1)

    def apply(self, changes: list[Change]) -> None:
        for object_id, record in changes:
            self.note_id(object_id)
            if record is None:
                self.objects.pop(object_id, None)
            else:
                self.objects[object_id] = record

    def of_type(self, type_name: str) -> list[Record]:
        """Copies of the committed objects of one type, oldest first."""
        found = [r for r in self.objects.values() if r["_type"] == type_name]
        return copy.deepcopy(sorted(found, key=lambda r: id_number(r["id"])))


class Workspace:
    """One unit of work: writes kept aside until `changes()` is applied to the store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._written: dict[str, Record | None] = {}
        self.refs: dict[str, str] = {}  # refid -> id, for objects inserted in this unit

    def get(self, object_id: str) -> Record | None:
        """A copy of the object as this unit sees it; None when it does not exist."""
        if object_id in self._written:
            record = self._written[object_id]
        else:
            record = self._store.objects.get(object_id)
        return None if record is None else copy.deepcopy(record)

    def new_id(self, type_name: str) -> str:
        return self._store.new_id(type_name)

    def put(self, record: Record) -> None:
        self._written[record["id"]] = copy.deepcopy(record)

    def delete(self, object_id: str) -> None:
        self._written[object_id] = None

    def all_of(self, type_name: str) -> Iterator[Record]:
        """Every object of one type as this unit sees it, oldest first (copies)."""
        ids = {i for i, r in self._store.objects.items() if r["_type"] == type_name}
        ids.update(i for i, r in self._written.items() if r and r["_type"] == type_name)
        for object_id in sorted(ids, key=id_number):
            record = self.get(object_id)
            if record is not None:
                yield record

    def changes(self) -> list[Change]:
        return list(self._written.items())

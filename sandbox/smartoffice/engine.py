"""Runs the operations of one logged-in request against the state, writing the answer.

    engine = Engine(state, owner=("demo", "agent"), keep_session=False, now=state.now())
    engine.run(request_element, answer_element)     # the caller holds state.lock
    engine.summary                                  # what ran, for the request log

Every child of ``<request>`` after the header is an operation (``insert update delete get
search method sync``) or a ``<transaction>`` of operations. The answer mirrors the request:
each operation element comes back with its user attributes, and each object in it with its
``id``, ``_type="obj"`` and, for writes, ``_status`` (``inserted``, ``updated``,
``deleted``); children a write created or changed come back inside their parent.

Errors are written inside the element that failed (``_status="error"`` and an ``<error>``):
an unknown operation in the operation element, a bad object in the object element. Outside a
transaction each object is its own unit of work: the ones before and after a failed object
are kept. A transaction is one unit: its first error stops it, nothing of it is kept, the
answer's ``<transaction>`` says ``_status="error"``, and the operations after the failing
one are left out of the answer. The objects answered before the error still show the ids
and statuses they had while the transaction ran: those ids were never kept, and a client
must read the transaction's outcome, never one object's status, to know what was written.

Choices where the vendor is silent: an unknown object type is 1002 (its tag is unknown), a
``sync`` is 1002 (the sandbox does not implement it), ``<lookup>`` is 3001 (no lookups here),
a method other than GetSystemTime is 7001. Refs work as described: an inserted object's
``refid="x"``, then ``<ContactID type="ref">@x</ContactID>`` (``@x.Prop`` for a value).
Deleting a contact deletes its children and its SmartPads; an insert or update that leaves
SmartPad without a ContactID is refused (2).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from sandbox.smartoffice.catalogue import (
    CATALOGUE,
    Kind,
    ObjectType,
    Property,
    Record,
    ValueRefused,
    check_value,
    format_datetime,
    format_systime,
    parse_id,
    read_value,
)
from sandbox.smartoffice.objects import (
    EngineError,
    answer_object,
    find_property,
    object_type,
    read_template,
    render,
)
from sandbox.smartoffice.search import SearchContext, run_search
from sandbox.smartoffice.state import AccountKey, SmartOfficeState
from sandbox.smartoffice.store import Workspace
from sandbox.smartoffice.xmlio import mark_error, user_attributes

ObjectAction = Callable[[ET.Element, Workspace], ET.Element]


class Engine:
    """One request's run; not shared between requests."""

    def __init__(
        self, state: SmartOfficeState, owner: AccountKey, keep_session: bool, now: dt.datetime
    ) -> None:
        self.state = state
        self.owner = owner
        self.keep_session = keep_session
        self.now = now
        self.refs: dict[str, str] = {}  # refid -> id of objects kept so far
        self.summary: list[dict[str, Any]] = []
        self._objects: dict[str, ObjectAction] = {
            "insert": self._insert,
            "update": self._update,
            "delete": self._delete,
            "get": self._get,
        }

    def run(self, request: ET.Element, answer: ET.Element) -> None:
        for element in list(request)[1:]:
            if element.tag == "transaction":
                self._transaction(element, answer)
            else:
                self._operation(element, answer, None)

    def _transaction(self, element: ET.Element, answer: ET.Element) -> None:
        out = ET.SubElement(answer, "transaction", user_attributes(element))
        unit = Workspace(self.state.store)
        for operation in element:
            if not self._operation(operation, out, unit):
                out.set("_status", "error")
                return
        self._commit(unit)

    def _operation(self, element: ET.Element, parent: ET.Element, unit: Workspace | None) -> bool:
        """Run one operation into `parent`; False when it failed (inside a transaction:
        at its first failure, which stops it)."""
        out = ET.SubElement(parent, element.tag, user_attributes(element))
        entry: dict[str, Any] = {
            "operation": element.tag,
            "in_transaction": unit is not None,
            "objects": [],
        }
        self.summary.append(entry)
        try:
            if element.tag in self._objects:
                return self._each_object(element, out, unit, entry["objects"])
            if element.tag == "search":
                reader = unit or Workspace(self.state.store)
                context = SearchContext(self.owner, self.keep_session, self.state.sessions, reader)
                entry["objects"].append(run_search(element, out, context))
                return True
            if element.tag == "method":
                return self._methods(element, out, unit is not None, entry["objects"])
            if element.tag == "transaction":
                raise EngineError(1002, "A transaction cannot hold another transaction.")
            if element.tag == "sync":
                raise EngineError(1002, "sync is not supported by the sandbox.")
            raise EngineError(1002, f"Unknown tag name: {element.tag}.")
        except EngineError as exc:
            out.clear()
            out.attrib.update(user_attributes(element))
            mark_error(out, exc.code, exc.message)
            return False

    def _each_object(
        self, element: ET.Element, out: ET.Element, unit: Workspace | None, names: list[str]
    ) -> bool:
        action = self._objects[element.tag]
        ok = True
        for obj in element:
            names.append(obj.tag)
            own = unit or Workspace(self.state.store)
            try:
                result = action(obj, own)
            except EngineError as exc:
                failed = answer_object(obj.tag, obj.get("id"), "error")
                out.append(mark_error(failed, exc.code, exc.message))
                if unit is not None:
                    return False
                ok = False
                continue
            out.append(result)
            if unit is None:
                self._commit(own)
        return ok

    def _commit(self, unit: Workspace) -> None:
        changes = unit.changes()
        if changes:
            self.state.commit(changes)
        self.refs.update(unit.refs)

    # --- the object operations ------------------------------------------------------------

    def _insert(self, obj: ET.Element, unit: Workspace) -> ET.Element:
        type_ = object_type(obj.tag)
        if not type_.top_level:
            raise EngineError(2, f"A {type_.name} is inserted inside the object it belongs to.")
        if obj.get("id") is not None:
            raise EngineError(2, "An inserted object takes no id; change objects with update.")
        refid = obj.get("refid")
        if refid is not None and (refid in unit.refs or refid in self.refs):
            raise EngineError(2, f"refid {refid} is used twice.")
        answer = self._create(type_, obj, unit)
        if refid is not None:
            unit.refs[refid] = answer.attrib["id"]
        return answer

    def _update(self, obj: ET.Element, unit: Workspace) -> ET.Element:
        type_ = object_type(obj.tag)
        record = self._locate(obj, type_, unit)
        return self._change(type_, obj, unit, record)

    def _delete(self, obj: ET.Element, unit: Workspace) -> ET.Element:
        type_ = object_type(obj.tag)
        record = self._locate(obj, type_, unit)
        if not type_.top_level:
            raise EngineError(2, f"A {type_.name} is removed by updating its parent.")
        self._delete_tree(record, unit)
        if type_.name == "Contact":
            for pad in unit.all_of("SmartPad"):
                if pad.get("ContactID") == record["id"]:
                    unit.delete(pad["id"])
        return answer_object(obj.tag, record["id"], "deleted")

    def _get(self, obj: ET.Element, unit: Workspace) -> ET.Element:
        if obj.tag == "lookup":
            raise EngineError(3001, "Lookup not found: the sandbox has no lookups.")
        type_ = object_type(obj.tag)
        record = self._locate(obj, type_, unit)
        return render(type_, record, read_template(type_, obj), unit)

    def _methods(
        self, element: ET.Element, out: ET.Element, atomic: bool, names: list[str]
    ) -> bool:
        ok = True
        for call in element:
            names.append(call.tag)
            if call.tag == "GetSystemTime":
                ET.SubElement(out, call.tag).text = format_systime(self.now)
                continue
            message = f"Method not found: {call.tag} (the sandbox has GetSystemTime only)."
            mark_error(ET.SubElement(out, call.tag), 7001, message)
            ok = False
            if atomic:
                break
        return ok

    # --- reading and writing objects -------------------------------------------------------

    def _locate(self, obj: ET.Element, type_: ObjectType, unit: Workspace) -> Record:
        object_id = (obj.get("id") or "").strip()
        if not object_id:
            raise EngineError(3005, f"Object id required: {type_.name}.")
        parsed = parse_id(object_id)
        if parsed is None:
            raise EngineError(3004, f"Invalid Object Id: {object_id}.")
        if parsed[0] != type_.name:
            raise EngineError(6, f"{object_id} is not a {type_.name}.")
        record = unit.get(object_id)
        if record is None:
            raise EngineError(3001, f"Object not found: {object_id}.")
        return record

    def _create(self, type_: ObjectType, obj: ET.Element, unit: Workspace) -> ET.Element:
        record: Record = {"_type": type_.name, "id": unit.new_id(type_.name)}
        if "CreatedOn" in type_.properties:
            record["CreatedOn"] = format_datetime(self.now)
        answer = answer_object(type_.name, record["id"], "inserted")
        self._write(type_, obj, record, unit, answer, creating=True)
        return answer

    def _change(
        self, type_: ObjectType, obj: ET.Element, unit: Workspace, record: Record
    ) -> ET.Element:
        answer = answer_object(type_.name, record["id"], "updated")
        self._write(type_, obj, record, unit, answer, creating=False)
        return answer

    def _write(
        self,
        type_: ObjectType,
        obj: ET.Element,
        record: Record,
        unit: Workspace,
        answer: ET.Element,
        *,
        creating: bool,
    ) -> None:
        """Set the properties `obj` gives on `record`, then keep it in `unit`."""
        seen: set[str] = set()
        for element in obj:
            prop = find_property(type_, element.tag)
            if prop.name in seen:
                raise EngineError(2, f"{type_.name}.{prop.name} is given twice.")
            seen.add(prop.name)
            if prop.read_only:
                raise EngineError(4003, f"Property is read-only: {type_.name}.{prop.name}.")
            if prop.kind is Kind.CHILD:
                self._write_child(prop, element, record, unit, answer, creating)
            elif prop.kind is Kind.ARRAY:
                self._write_array(prop, element, record, unit, answer, creating)
            else:
                record[prop.name] = self._simple_value(type_, prop, element, unit)
        missing = [
            p.name for p in type_.properties.values() if p.required and not record.get(p.name)
        ]
        if missing:
            raise EngineError(2, f"{type_.name} needs {', '.join(missing)}.")
        unit.put(record)

    def _simple_value(
        self, type_: ObjectType, prop: Property, element: ET.Element, unit: Workspace
    ) -> str | None:
        if len(element):
            raise EngineError(2, f"{type_.name}.{prop.name} takes a value, not elements.")
        text = element.text or ""
        if element.get("type") == "ref":
            text = self._dereference(text, unit)
        try:
            value = check_value(prop, text)
        except ValueRefused as exc:
            raise EngineError(2, f"{type_.name}.{exc}") from None
        if value is not None and prop.kind is Kind.ID:
            _check_target(str(prop.target), value, unit)
        return value

    def _dereference(self, text: str, unit: Workspace) -> str:
        """``@x`` is the id of the object inserted with refid x; ``@x.Prop`` its value."""
        refid, _, name = text.strip().removeprefix("@").partition(".")
        if not text.strip().startswith("@") or not refid:
            raise EngineError(2, f"A ref value is @refid or @refid.Property, not {text!r}.")
        object_id = unit.refs.get(refid) or self.refs.get(refid)
        if object_id is None:
            raise EngineError(2, f"Unknown refid: {refid}.")
        if not name:
            return object_id
        record = unit.get(object_id)
        if record is None:
            raise EngineError(3001, f"Object not found: {object_id}.")
        value = read_value(record, find_property(CATALOGUE[record["_type"]], name))
        return "" if value is None else str(value)

    def _write_child(
        self,
        prop: Property,
        element: ET.Element,
        record: Record,
        unit: Workspace,
        answer: ET.Element,
        creating: bool,
    ) -> None:
        child_type = CATALOGUE[str(prop.target)]
        current = record.get(prop.name)
        child_id = element.get("id")
        if child_id is None:
            # A child without an id is a new one; the one it replaces goes with the link.
            child_answer = self._create(child_type, element, unit)
            if current:
                self._delete_tree(unit.get(current), unit)
            record[prop.name] = child_answer.attrib["id"]
        elif creating:
            raise EngineError(2, f"{prop.name} of a new object takes no id.")
        elif child_id != current:
            raise EngineError(3001, f"{child_id} is not the {prop.name} of {record['id']}.")
        else:
            child_answer = self._change(child_type, element, unit, _exists(unit, child_id))
        child_answer.tag = prop.name
        answer.append(child_answer)

    def _write_array(
        self,
        prop: Property,
        element: ET.Element,
        record: Record,
        unit: Workspace,
        answer: ET.Element,
        creating: bool,
    ) -> None:
        item_type = CATALOGUE[str(prop.target)]
        ids: list[str] = list(record.get(prop.name) or [])
        wrapper = ET.SubElement(answer, prop.name, {"_type": "objs"})
        for item in element:
            if item.tag != item_type.name:
                raise EngineError(1002, f"Unknown tag name in {prop.name}: {item.tag}.")
            item_id = item.get("id")
            if item_id is None:
                item_answer = self._create(item_type, item, unit)
                ids.append(item_answer.attrib["id"])
            elif creating:
                raise EngineError(2, f"Items of a new object's {prop.name} take no id.")
            elif item_id not in ids:
                raise EngineError(3001, f"{item_id} is not in {prop.name} of {record['id']}.")
            else:
                item_answer = self._change(item_type, item, unit, _exists(unit, item_id))
            wrapper.append(item_answer)
        record[prop.name] = ids

    def _delete_tree(self, record: Record | None, unit: Workspace) -> None:
        """Delete an object and the child objects it holds."""
        if record is None:
            return
        for prop in CATALOGUE[record["_type"]].properties.values():
            if prop.kind is Kind.CHILD and record.get(prop.name):
                self._delete_tree(unit.get(record[prop.name]), unit)
            elif prop.kind is Kind.ARRAY:
                for item_id in record.get(prop.name) or []:
                    self._delete_tree(unit.get(item_id), unit)
        unit.delete(record["id"])


def _check_target(target: str, value: str, unit: Workspace) -> None:
    """An id property's value must name an existing object of its target type."""
    parsed = parse_id(value)
    if parsed is None:
        raise EngineError(3004, f"Invalid Object Id: {value}.")
    if parsed[0] != target:
        raise EngineError(6, f"{value} is not a {target}.")
    _exists(unit, value)


def _exists(unit: Workspace, object_id: str) -> Record:
    record = unit.get(object_id)
    if record is None:
        raise EngineError(3001, f"Object not found: {object_id}.")
    return record

"""`load_mapping`: a mapping's YAML text checked as a whole and compiled.

Every problem is collected with its line and dotted field (see `mappings.problems`), and
every selector and template is compiled here, so nothing about a mapping's form can fail
later, when a CRM's body arrives. The format is documented in docs/mappings.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from mappings.model import ConnectionMapping, InboundPart
from mappings.problems import MappingInvalid, MappingProblem
from mappings.selectors import ABSENT, Selector, SelectorError
from mappings.spec import Constant, FieldSpec, Origin
from mappings.templates import CompiledTemplate, TemplateProblem
from mappings.transforms import TYPES, DateFormat, check_date_format, map_key
from mappings.yamltree import MapNode, Node, Scalar, SeqNode, parse_tree, plain_value
from schemas.events import DATA_SCHEMAS, EVENT_TYPES
from schemas.writebacks import WRITEBACK_TYPES

VERSION = 1
RECORD_PREFIX = "record."
TIMESTAMP = "timestamp"

_TOP_KEYS = ("version", "inbound", "outbound")
_INBOUND_KEYS = ("type", "id", "fields")
_SOURCES = ("path", "value", "template")
_OPTIONS = (
    "default",
    "map",
    "strip",
    "lower",
    "upper",
    "date",
    "join",
    "truncate",
    "type",
    "max_len",
    "required",
)
_DATE_KEYS = ("from", "to")
# The keys of `data.record` (schemas.base.record_field checks the same on the event).
_RECORD_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def event_field_names() -> tuple[str, ...]:
    """Every data field of any event type, except ``record`` (mapped key by key)."""
    names = {name for schema in DATA_SCHEMAS.values() for name in schema._declared_fields}
    names.discard("record")
    return tuple(sorted(names))


def load_mapping(text: str, *, outbound_fields: Collection[str] | None = None) -> ConnectionMapping:
    """``text`` checked and compiled; MappingInvalid listing every problem otherwise.

    ``outbound_fields``: the field names the connection's CRM kind lets an outbound part
    set. None: not checked; empty: any outbound part is an error.
    """
    tree, problems = parse_tree(text)
    if tree is None:
        raise MappingInvalid(problems)
    loader = _Loader(problems, outbound_fields)
    mapping = loader.document(tree, text)
    if loader.problems or mapping is None:
        raise MappingInvalid(loader.problems)
    return mapping


def _key_name(key: Scalar) -> str | None:
    return key.value if isinstance(key.value, str) else None


def _expected(names: Collection[str]) -> str:
    return ", ".join(names)


def _got(node: Node) -> str:
    if isinstance(node, MapNode):
        return "a mapping"
    if isinstance(node, SeqNode):
        return "a list"
    if node.value is None:
        return "nothing"
    if isinstance(node.value, bool):
        return node.text
    if isinstance(node.value, int | float):
        return f"the number {node.text}"
    return repr(node.text)


class _Loader:
    def __init__(
        self, problems: list[MappingProblem], outbound_fields: Collection[str] | None
    ) -> None:
        self.problems = problems
        self.outbound_fields = outbound_fields
        self.event_fields = event_field_names()

    def add(self, line: int, field: str, message: str) -> None:
        self.problems.append(MappingProblem(line, field, message))

    def wrong(self, node: Node, field: str, expected: str) -> None:
        self.add(node.line, field, f"expected {expected}, got {_got(node)}")

    def entries(
        self, node: MapNode, where: str, allowed: Collection[str]
    ) -> dict[str, tuple[Scalar, Node]]:
        """The node's entries by key; each key not in ``allowed`` is a problem."""
        found: dict[str, tuple[Scalar, Node]] = {}
        for key, value in node.items:
            name = _key_name(key)
            if name is None or name not in allowed:
                field = f"{where}.{key.text}" if where else key.text
                hint = difflib.get_close_matches(key.text, allowed, n=1)
                suggestion = f" (did you mean {hint[0]}?)" if hint else ""
                self.add(
                    key.line,
                    field,
                    f"unknown key{suggestion}; expected one of: {_expected(allowed)}",
                )
                continue
            found[name] = (key, value)
        return found

    # --- the document -----------------------------------------------------------------------

    def document(self, tree: Node, text: str) -> ConnectionMapping | None:
        if not isinstance(tree, MapNode):
            self.wrong(tree, "", "a mapping of version, inbound and outbound")
            return None
        entries = self.entries(tree, "", _TOP_KEYS)
        version = self.version(entries.get("version"), tree.line)
        inbound = None
        if "inbound" in entries:
            inbound = self.inbound(entries["inbound"][1])
        outbound: dict[str, dict[str, FieldSpec]] = {}
        if "outbound" in entries:
            outbound = self.outbound(*entries["outbound"])
        if version is None:
            return None
        return ConnectionMapping(version=version, text=text, inbound=inbound, outbound=outbound)

    def version(self, entry: tuple[Scalar, Node] | None, line: int) -> int | None:
        if entry is None:
            self.add(line, "version", f"missing; write `version: {VERSION}` first")
            return None
        node = entry[1]
        if isinstance(node, Scalar) and type(node.value) is int and node.value == VERSION:
            return VERSION
        self.add(
            node.line,
            "version",
            f"this socialbridge reads mapping version {VERSION}, got {_got(node)}",
        )
        return None

    # --- inbound ----------------------------------------------------------------------------

    def inbound(self, node: Node) -> InboundPart | None:
        if not isinstance(node, MapNode):
            self.wrong(node, "inbound", "a mapping of type, id and fields")
            return None
        entries = self.entries(node, "inbound", _INBOUND_KEYS)
        type_spec = None
        if "type" in entries:
            type_spec = self.field_spec(entries["type"][1], "inbound.type", results=EVENT_TYPES)
        else:
            self.add(node.line, "inbound.type", "missing; say where the event type comes from")
        id_spec = None
        if "id" in entries:
            id_spec = self.field_spec(entries["id"][1], "inbound.id")
        fields: dict[str, FieldSpec] = {}
        if "fields" in entries:
            fields = self.inbound_fields(entries["fields"][1])
        if type_spec is None:
            return None
        return InboundPart(type=type_spec, id=id_spec, fields=fields)

    def inbound_fields(self, node: Node) -> dict[str, FieldSpec]:
        if not isinstance(node, MapNode):
            self.wrong(node, "inbound.fields", "a mapping of event fields")
            return {}
        fields: dict[str, FieldSpec] = {}
        for key, value in node.items:
            name = key.text
            where = f"inbound.fields.{name}"
            message = self.inbound_field_problem(name)
            if message is not None:
                self.add(key.line, where, message)
            # Checked under a wrong name too, so fixing the name reveals no new problem.
            spec = self.field_spec(value, where)
            if spec is not None and message is None:
                fields[name] = spec
        return fields

    def inbound_field_problem(self, name: str) -> str | None:
        if name == TIMESTAMP or name in self.event_fields:
            return None
        if name.startswith(RECORD_PREFIX):
            if _RECORD_KEY.fullmatch(name.removeprefix(RECORD_PREFIX)):
                return None
            return "a record key is 1 to 64 letters, digits or underscores"
        if name == "record":
            return "map the record key by key: record.contact_id, record.contact_email, …"
        hint = difflib.get_close_matches(name, self.event_fields, n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        return (
            f"not a field of any event type{suggestion}; expected one of: "
            f"{_expected(self.event_fields)}, record.<key>, {TIMESTAMP}"
        )

    # --- outbound ---------------------------------------------------------------------------

    def outbound(self, key: Scalar, node: Node) -> dict[str, dict[str, FieldSpec]]:
        allowed = self.outbound_fields
        if allowed is not None and not allowed:
            self.add(key.line, "outbound", "this CRM kind takes no outbound part")
            return {}
        if not isinstance(node, MapNode):
            self.wrong(node, "outbound", "a mapping of write-back types")
            return {}
        outbound: dict[str, dict[str, FieldSpec]] = {}
        for type_key, specs_node in node.items:
            writeback = type_key.text
            where = f"outbound.{writeback}"
            known_type = writeback in WRITEBACK_TYPES
            if not known_type:
                self.add(
                    type_key.line,
                    where,
                    f"not a write-back type; expected one of: {_expected(WRITEBACK_TYPES)}",
                )
            if not isinstance(specs_node, MapNode):
                self.wrong(specs_node, where, "a mapping of fields")
                continue
            specs: dict[str, FieldSpec] = {}
            for field_key, spec_node in specs_node.items:
                name = field_key.text
                known = allowed is None or name in allowed
                if not known:
                    self.add(
                        field_key.line,
                        f"{where}.{name}",
                        "not a field of this CRM kind; expected one of: "
                        + _expected(allowed or ()),
                    )
                spec = self.field_spec(spec_node, f"{where}.{name}")
                if spec is not None and known:
                    specs[name] = spec
            if known_type:
                outbound[writeback] = specs
        return outbound

    # --- field specs ------------------------------------------------------------------------

    def field_spec(
        self, node: Node, where: str, *, results: Collection[str] | None = None
    ) -> FieldSpec | None:
        """The spec at ``node``; None (with problems added) when it has any problem.

        ``results``: the only values the spec may produce from its constants (the event
        types, for ``inbound.type``).
        """
        if isinstance(node, Scalar) and isinstance(node.value, str):
            selector = self.selector(node, where)
            return FieldSpec(selector) if selector is not None else None
        if not isinstance(node, MapNode):
            self.add(
                node.line,
                where,
                "expected a JSONPath (starting with $) or a mapping with path, value or "
                f"template, got {_got(node)}",
            )
            return None
        before = len(self.problems)
        entries = self.entries(node, where, (*_SOURCES, *_OPTIONS))
        origin = self.origin(node, entries, where, results)
        options: dict[str, Any] = {}
        for name in _OPTIONS:
            if name in entries:
                value = entries[name][1]
                options[name] = self.option(name, value, f"{where}.{name}", results)
        self.cross_checks(entries, origin, options, where)
        if origin is None or len(self.problems) > before:
            return None
        return FieldSpec(origin, **options)

    def origin(
        self,
        node: MapNode,
        entries: dict[str, tuple[Scalar, Node]],
        where: str,
        results: Collection[str] | None,
    ) -> Origin | None:
        given = [name for name in _SOURCES if name in entries]
        if not given:
            self.add(node.line, where, "no source: give one of path, value or template")
            return None
        if len(given) > 1:
            key = entries[given[1]][0]
            self.add(key.line, where, f"several sources ({' and '.join(given)}); give one")
            return None
        name = given[0]
        value = entries[name][1]
        if name == "path":
            if isinstance(value, Scalar) and isinstance(value.value, str):
                return self.selector(value, f"{where}.path")
            self.wrong(value, f"{where}.path", "a JSONPath")
            return None
        if name == "template":
            if not (isinstance(value, Scalar) and isinstance(value.value, str)):
                self.wrong(value, f"{where}.template", "text")
                return None
            try:
                return CompiledTemplate(value.value)
            except TemplateProblem as exc:
                self.add(value.line, f"{where}.template", str(exc))
                return None
        constant = self.constant(value, f"{where}.value")
        if constant is ABSENT:
            return None
        self.check_result(value, constant, f"{where}.value", results)
        return Constant(constant)

    def selector(self, node: Scalar, where: str) -> Selector | None:
        assert isinstance(node.value, str)
        try:
            return Selector(node.value)
        except SelectorError as exc:
            self.add(node.line, where, str(exc))
            return None

    def constant(self, node: Node, where: str) -> Any:
        """A scalar or a list of scalars; `ABSENT` (with a problem) otherwise."""
        if isinstance(node, Scalar):
            return node.value
        if isinstance(node, SeqNode) and all(isinstance(item, Scalar) for item in node.items):
            return plain_value(node)
        self.wrong(node, where, "a plain value or a list of them")
        return ABSENT

    def check_result(
        self, node: Node, value: Any, where: str, results: Collection[str] | None
    ) -> None:
        if results is not None and value is not None and value not in results:
            self.add(node.line, where, f"{value!r} is not one of: {_expected(results)}")

    # --- options ----------------------------------------------------------------------------

    def option_default(self, node: Node, where: str, results: Collection[str] | None) -> Any:
        value = self.constant(node, where)
        if value is not ABSENT:
            self.check_result(node, value, where, results)
        return value

    def option_map(
        self, node: Node, where: str, results: Collection[str] | None
    ) -> dict[tuple[str, Any], Any] | None:
        if not isinstance(node, MapNode):
            self.wrong(node, where, "a mapping of value: replacement")
            return None
        table: dict[tuple[str, Any], Any] = {}
        for key, value in node.items:
            if not isinstance(value, Scalar):
                self.wrong(value, f"{where}.{key.text}", "a plain value")
                continue
            self.check_result(value, value.value, f"{where}.{key.text}", results)
            found = map_key(key.value)
            assert found is not None  # keys are scalars
            table[found] = value.value
        return table

    def option(self, name: str, node: Node, where: str, results: Collection[str] | None) -> Any:
        """The compiled value of option ``name`` (problems added when it is refused)."""
        if name == "default":
            return self.option_default(node, where, results)
        if name == "map":
            return self.option_map(node, where, results)
        if name in ("strip", "lower", "upper", "required"):
            return self.option_flag(node, where)
        if name == "date":
            return self.option_date(node, where)
        if name == "join":
            return self.option_join(node, where)
        if name in ("truncate", "max_len"):
            return self.option_count(node, where)
        return self.option_type(node, where)

    def option_flag(self, node: Node, where: str) -> bool:
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        self.wrong(node, where, "true or false")
        return False

    def option_date(self, node: Node, where: str) -> DateFormat | None:
        if not isinstance(node, MapNode):
            self.wrong(node, where, "a mapping with from and to")
            return None
        formats: dict[str, str] = {}
        for name, (_, value) in self.entries(node, where, _DATE_KEYS).items():
            if not (isinstance(value, Scalar) and isinstance(value.value, str)):
                self.wrong(value, f"{where}.{name}", "a format or iso")
                continue
            problem = check_date_format(value.value, reading=name == "from")
            if problem is not None:
                self.add(value.line, f"{where}.{name}", problem)
                continue
            formats[name] = value.value
        return DateFormat(source=formats.get("from", "iso"), target=formats.get("to", "iso"))

    def option_join(self, node: Node, where: str) -> str | None:
        if isinstance(node, Scalar) and isinstance(node.value, str):
            return node.value
        self.add(node.line, where, f'expected a separator in quotes (", "), got {_got(node)}')
        return None

    def option_count(self, node: Node, where: str) -> int | None:
        if isinstance(node, Scalar) and type(node.value) is int and node.value >= 1:
            return node.value
        self.wrong(node, where, "a whole number of at least 1")
        return None

    def option_type(self, node: Node, where: str) -> str | None:
        if isinstance(node, Scalar) and node.value in TYPES:
            assert isinstance(node.value, str)
            return node.value
        self.wrong(node, where, f"one of: {_expected(TYPES)}")
        return None

    def cross_checks(
        self,
        entries: dict[str, tuple[Scalar, Node]],
        origin: Origin | None,
        options: dict[str, Any],
        where: str,
    ) -> None:
        if options.get("lower") and options.get("upper"):
            self.add(entries["upper"][0].line, where, "lower and upper together; give one")
        if (
            "truncate" in entries
            and "join" not in entries
            and isinstance(origin, Selector)
            and not origin.singular
        ):
            self.add(
                entries["truncate"][0].line,
                f"{where}.truncate",
                f"{origin.text} gives a list; add join to cut it at whole items",
            )

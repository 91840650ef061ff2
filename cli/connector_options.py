"""The options `connections add|update` share for the CRM side: settings, inbound mode, mapping.

Each refusal is one line naming the option and the setting, and nothing is stored:

    --crm-setting password: Missing data for required field.
    --mapping smartoffice.yaml: line 7: inbound.fields.post_idd: unknown event field …
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from crm.registry import KIND_NAMES, SettingsInvalid, connector_kind, load_settings
from mappings import MappingInvalid, load_mapping
from socialbridge.inbound_auth import InboundAuth
from store.connections import MAPPING_MAX_CHARACTERS


def crm_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--crm-setting`` (repeatable) and ``--mapping``."""
    func = click.option(
        "--mapping",
        "mapping_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="YAML mapping of the CRM's own body to our event (docs/mappings.md).",
    )(func)
    return click.option(
        "--crm-setting",
        "crm_setting",
        multiple=True,
        metavar="KEY=VALUE",
        help="A setting of the CRM connector (repeatable); see docs/connectors.md.",
    )(func)


def kind_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--crm",
        "--crm-kind",
        "crm_kind",
        type=click.Choice(KIND_NAMES),
        default="webhook",
        show_default=True,
        help="Which CRM: its connector.",
    )(func)


def inbound_auth_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--inbound-auth",
        type=click.Choice([mode.value for mode in InboundAuth]),
        default=None,
        help="How the CRM proves its POSTs: signature (Standard Webhooks) or token (Bearer); "
        "[default: the CRM kind's, signature for webhook].",
    )(func)


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict; a usage error names a malformed or repeated one."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(
                f"expected KEY=VALUE, got {pair!r}", param_hint="'--crm-setting'"
            )
        if key in settings:
            raise click.BadParameter(f"{key} is given twice", param_hint="'--crm-setting'")
        settings[key] = value
    return settings


def checked_settings(
    kind: str, given: Mapping[str, Any], *, generate: bool = False
) -> dict[str, Any]:
    """The settings validated by the kind's schema, or one error line per refused setting."""
    try:
        return load_settings(kind, given, generate=generate)
    except SettingsInvalid as exc:
        lines = [
            f"--crm-setting {name}: {' '.join(messages)}"
            for name, messages in sorted(exc.errors.items())
        ]
        raise click.ClickException("\n".join(lines)) from None


def inbound_mode(kind: str, requested: str | None) -> InboundAuth:
    """The connection's inbound mode: the one asked for, if the CRM kind can use it."""
    modes = connector_kind(kind).capabilities.inbound_auth
    if requested is None:
        return modes[0]
    mode = InboundAuth(requested)
    if mode not in modes:
        allowed = ", ".join(m.value for m in modes)
        raise click.BadParameter(
            f"a {kind} CRM cannot use {mode.value}; it takes: {allowed}",
            param_hint="'--inbound-auth'",
        )
    return mode


def read_mapping(path: Path | None, kind: str) -> str | None:
    """The text of a mapping file, checked for ``kind``; every problem on its own line."""
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror or exc}", param_hint="'--mapping'"
        ) from None
    if len(raw) > MAPPING_MAX_CHARACTERS:
        raise click.BadParameter(
            f"{path}: larger than {MAPPING_MAX_CHARACTERS} bytes", param_hint="'--mapping'"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{path}: not UTF-8 (byte {exc.start})", param_hint="'--mapping'"
        ) from None
    try:
        load_mapping(text, outbound_fields=connector_kind(kind).capabilities.outbound_fields)
    except MappingInvalid as exc:
        lines = [f"--mapping {path}: {problem}" for problem in exc.problems]
        raise click.ClickException("\n".join(lines)) from None
    return text

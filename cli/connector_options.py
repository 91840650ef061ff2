"""The options `connections add|update` share for the CRM side: settings, inbound mode, mapping.

Everything here is checked before anything is stored, and each refusal names the option
(and the setting) it is about, one ``Error:`` line each:

    Error: --crm-setting password: Required with auth=direct.
    Error: --mapping smartoffice.yaml: line 7: inbound.fields.post_idd: not a field of …

Exit codes: 2 when the command line itself is wrong (an option, a setting, a mode the CRM kind
cannot use, a mapping file that cannot be read); 1 when a mapping file's content is refused,
as `mappings validate` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import click

from cli.mapping_file import MappingFileError, MappingFileUnreadable, read_mapping_file
from console import connections
from console import mappings as mapping_service
from crm.registry import KIND_NAMES, KINDS
from socialbridge.inbound_auth import InboundAuth
from store.connections import WEBHOOK_KIND

# The webhook kind's one setting, which --crm-secret also gives.
WEBHOOK_SECRET_SETTING = "secret"  # noqa: S105 - a setting's name


class Refused(click.ClickException):
    """Several refusals at once, printed one ``Error: …`` line each; nothing was stored."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = tuple(lines)

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", file=file, err=True)


class RefusedOptions(Refused):
    """Refusals of what was typed on the command line: a usage error's exit code."""

    exit_code = 2


def crm_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--crm-setting`` (repeatable) and ``--mapping``."""
    func = click.option(
        "--mapping",
        "mapping_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="YAML mapping of the CRM's own body to our event, checked for the CRM kind "
        "(docs/mappings.md).",
    )(func)
    return click.option(
        "--crm-setting",
        "crm_setting",
        multiple=True,
        metavar="KEY=VALUE",
        help="A setting of the CRM connector (repeatable); each kind's are in docs/connectors.md.",
    )(func)


def kind_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--crm",
        "--crm-kind",
        "crm_kind",
        type=click.Choice(KIND_NAMES),
        default=WEBHOOK_KIND,
        show_default=True,
        help="Which kind of CRM, i.e. which connector writes to it (docs/connectors.md).",
    )(func)


def inbound_auth_option(func: Callable[..., Any]) -> Callable[..., Any]:
    defaults = ", ".join(
        f"{entry.capabilities.default_inbound_auth.value} for {entry.kind}"
        for entry in KINDS.values()
    )
    return click.option(
        "--inbound-auth",
        type=click.Choice([mode.value for mode in InboundAuth]),
        default=None,
        help="How the CRM proves its POSTs: signature (Standard Webhooks) or token (Bearer) "
        f"[default: the CRM kind's: {defaults}].",
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


def check_crm_secret(kind: str, crm_secret: str | None, given: Mapping[str, str]) -> None:
    """Refuse ``--crm-secret`` for a kind without a signing secret, or beside ``secret=``."""
    if crm_secret is None:
        return
    if kind != WEBHOOK_KIND:
        raise click.BadParameter(
            f"only a webhook CRM has a signing secret; a {kind} CRM's credentials are "
            "given with --crm-setting",
            param_hint="'--crm-secret'",
        )
    if WEBHOOK_SECRET_SETTING in given:
        raise click.BadParameter(
            f"give it or --crm-setting {WEBHOOK_SECRET_SETTING}=…, not both",
            param_hint="'--crm-secret'",
        )


def checked_settings(
    kind: str, given: Mapping[str, Any], *, generate: bool = False
) -> dict[str, Any]:
    """The settings validated by the kind's schema, or one error line per refused setting."""
    try:
        return connections.checked_settings(kind, given, generate=generate)
    except connections.ConnectionRefused as exc:
        lines = [
            f"--crm-setting {name.removeprefix('crm_settings.')}: {' '.join(messages)}"
            for name, messages in exc.errors.items()
        ]
        raise RefusedOptions(lines) from None


def inbound_mode(kind: str, requested: str | None) -> InboundAuth:
    """The connection's inbound mode: the one asked for, if the CRM kind can use it."""
    try:
        return connections.inbound_mode(kind, requested)
    except connections.ConnectionRefused as exc:
        raise click.BadParameter(
            str(exc).removeprefix("inbound_auth: "), param_hint="'--inbound-auth'"
        ) from None


def read_mapping(path: Path | None, kind: str) -> str | None:
    """The text of a mapping file, checked for ``kind``; every problem on its own line."""
    if path is None:
        return None
    problems: list[str]
    try:
        text = read_mapping_file(path)
    except MappingFileUnreadable as exc:
        raise click.BadParameter(str(exc), param_hint="'--mapping'") from None
    except MappingFileError as exc:
        problems = [str(exc)]
    else:
        checked = mapping_service.check_text(text, kind)
        if checked.valid:
            return text
        problems = [str(problem) for problem in checked.problems]
    raise Refused([f"--mapping {path}: {problem}" for problem in problems])

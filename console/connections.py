"""Connections: what the console's connections pages and `socialbridge connections` do, once each.

Each operation is one function on the store (and, where it runs something, the services and
the Celery app); the web views and the CLI only read their input, call it, and render what
comes back. A refusal is `ConnectionRefused`, its ``errors`` keyed by the field it is about
(a form shows each at its input; the CLI names its option).

    create_connection   a new connection of any CRM kind, checked whole before it is stored
    update_connection   new name, token, URL, settings (secrets write-only) or schedule
    check_connection    every GHL call the flows make, then the CRM's own check
    rotate_secret       a new webhook secret or inbound token (or keep only the newest)
    activate            resume the connection and queue its waiting events again
    disconnect          delete its GHL tokens; its events wait
    delete_connection   delete it with everything recorded for it

The form of a kind's settings is read from its schema (`settings_fields`), so a new CRM kind
gets its form without a template change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import Celery
from marshmallow import fields as ma_fields
from marshmallow import validate

from console import mappings
from console.ghl_check import CheckLine, Outcome, check_calls, scope_lines
from console.hints import reconnect_hint, status_words
from crm.connector import secret_names
from crm.registry import DEFAULT_KIND as REGISTRY_DEFAULT_KIND
from crm.registry import KINDS, SettingsInvalid, connector_kind, load_settings
from socialbridge import urls
from socialbridge.config import Settings
from socialbridge.errors import IntegrationError
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, ConnectionStatus, DuplicateName, GhlAuth, Store
from workers.release import activate_and_enqueue
from workers.services import Services

# How many of its post records a check reads to find a GHL post to fetch.
RECENT_POSTS = 50
# Why a connection is disconnected when a user did it (GHL's UNINSTALL gives its own reason).
DISCONNECT_REASON = "disconnected with `socialbridge connections disconnect`"

T = TypeVar("T")
# The kind a new connection's form starts with: the CLI's default too.
DEFAULT_KIND = REGISTRY_DEFAULT_KIND


class ConnectionRefused(ValueError):
    """The operation was refused and nothing changed; ``errors`` by field, one line each."""

    def __init__(self, errors: Mapping[str, list[str]], *, message: str | None = None) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__(
            message
            or "; ".join(f"{name}: {' '.join(messages)}" for name, messages in self.errors.items())
        )

    @property
    def messages(self) -> str:
        """Every message, without the fields' names (for a refusal about one thing)."""
        return " ".join(message for messages in self.errors.values() for message in messages)

    @classmethod
    def one(cls, name: str, message: str) -> ConnectionRefused:
        return cls({name: [message]})


# --- the form of a kind's settings ----------------------------------------------------------


@dataclass(frozen=True)
class SettingField:
    """One setting of a CRM kind as a form input."""

    name: str
    description: str
    required: bool
    secret: bool
    choices: tuple[str, ...] = ()
    numeric: bool = False


def settings_fields(kind: str) -> list[SettingField]:
    """The inputs of ``kind``'s settings, in the schema's order, from its marshmallow fields."""
    entry = connector_kind(kind)
    schema = entry.settings_schema
    secrets = secret_names(schema)
    found: list[SettingField] = []
    for name, declared in schema._declared_fields.items():
        choices: tuple[str, ...] = ()
        for check in _validators(declared):
            if isinstance(check, validate.OneOf):
                choices = tuple(str(choice) for choice in check.choices)
        found.append(
            SettingField(
                name=name,
                description=str(declared.metadata.get("description", "")),
                # A setting the kind generates may be left out (a new webhook secret).
                required=bool(declared.required) and name not in entry.generated,
                secret=name in secrets,
                choices=choices,
                numeric=isinstance(declared, ma_fields.Number),
            )
        )
    return found


def _validators(declared: ma_fields.Field[Any]) -> list[Any]:
    return list(getattr(declared, "validators", []))


def kind_titles() -> dict[str, str]:
    """Every CRM kind and its title, for a choice."""
    return {kind: entry.title for kind, entry in KINDS.items()}


@dataclass(frozen=True)
class KindInfo:
    """What a page needs to know of a CRM kind (the registry's entry, without its code)."""

    kind: str
    title: str
    needs_url: bool
    inbound_modes: tuple[str, ...]
    secret_settings: frozenset[str]


def kind_info(kind: str) -> KindInfo:
    """``kind``'s entry; ValueError naming the known kinds when there is no such kind."""
    entry = connector_kind(kind)
    return KindInfo(
        kind=entry.kind,
        title=entry.title,
        needs_url=entry.capabilities.needs_url,
        inbound_modes=tuple(mode.value for mode in entry.capabilities.inbound_auth),
        secret_settings=entry.secret_settings,
    )


# --- create and update ------------------------------------------------------------------


@dataclass(frozen=True)
class NewConnection:
    """What a new connection is made of (as typed: text, blanks for what was not given)."""

    name: str
    crm_kind: str
    ghl_auth: str = GhlAuth.PIT.value
    location_id: str = ""
    ghl_token: str = ""
    crm_url: str = ""
    crm_settings: Mapping[str, Any] = field(default_factory=dict)
    inbound_auth: str = ""
    mapping: str | None = None
    # Who saved the mapping's first version (store.mapping_versions): a user, the command line.
    mapping_author: str | None = None
    stats_interval_seconds: int | None = None


def inbound_mode(kind: str, requested: str | None) -> InboundAuth:
    """The connection's inbound mode: the one asked for, if the CRM kind can use it."""
    modes = connector_kind(kind).capabilities.inbound_auth
    if not requested:
        return modes[0]
    mode = next((m for m in modes if m.value == requested), None)
    if mode is None:
        allowed = ", ".join(m.value for m in modes)
        raise ConnectionRefused.one(
            "inbound_auth", f"a {kind} CRM cannot use {requested}; it takes: {allowed}"
        )
    return mode


def checked_settings(
    kind: str, given: Mapping[str, Any], *, generate: bool = False
) -> dict[str, Any]:
    """The settings validated by the kind's schema; ConnectionRefused names each refused one."""
    try:
        return load_settings(kind, given, generate=generate)
    except SettingsInvalid as exc:
        raise ConnectionRefused(
            {f"crm_settings.{name}": messages for name, messages in sorted(exc.errors.items())}
        ) from None


def checked_mapping(text: str | None, kind: str) -> str | None:
    """A mapping's text when it is valid for ``kind`` (an empty one is not); None for None."""
    if text is None:
        return None
    checked = mappings.check_text(text, kind)
    if not checked.valid:
        raise ConnectionRefused({"mapping": [str(problem) for problem in checked.problems]})
    return text


def create_connection(store: Store, settings: Settings, new: NewConnection) -> ConnectionRecord:
    """Check ``new`` whole, then store it (active; OAuth: needs_reauth until installed)."""
    try:
        entry = connector_kind(new.crm_kind)
    except ValueError as exc:
        raise ConnectionRefused.one("crm_kind", str(exc)) from None
    errors: dict[str, list[str]] = {}
    try:
        auth = GhlAuth(new.ghl_auth)
    except ValueError:
        raise ConnectionRefused.one("ghl_auth", "expected pit or oauth") from None
    if auth is GhlAuth.PIT:
        if not new.location_id:
            errors["location_id"] = ["A Private Integration token belongs to one location."]
        if not new.ghl_token:
            errors["ghl_token"] = ["Give the location's Private Integration token."]
    else:
        if new.ghl_token:
            errors["ghl_token"] = ["An OAuth connection gets its tokens from the install."]
        missing = settings.missing_ghl_app_settings()
        if missing:
            errors["ghl_auth"] = [
                f"configuration: {' and '.join(missing)} not set: OAuth installs your GHL "
                "marketplace app and needs its client id and secret (docs/ghl-auth.md)"
            ]
    if entry.capabilities.needs_url and not new.crm_url:
        errors["crm_url"] = [f"A {new.crm_kind} CRM needs a URL."]
    if not entry.capabilities.needs_url and new.crm_url:
        errors["crm_url"] = [
            f"{new.crm_kind} connections have no URL: their settings say where results go."
        ]
    mode = _collect(errors, lambda: inbound_mode(new.crm_kind, new.inbound_auth))
    loaded = _collect(
        errors, lambda: checked_settings(new.crm_kind, new.crm_settings, generate=True)
    )
    mapping = _collect(errors, lambda: checked_mapping(new.mapping, new.crm_kind))
    if errors:
        raise ConnectionRefused(errors)
    if mode is None or loaded is None:  # only with errors, raised above
        raise ConnectionRefused.one("connection", "could not be checked")
    interval = new.stats_interval_seconds or settings.stats_interval_seconds
    return _stored(
        new.name,
        lambda: store.create_connection(
            name=new.name,
            location_id=new.location_id,
            ghl_token=new.ghl_token,
            ghl_auth=auth.value,
            crm_url=new.crm_url,
            crm_kind=new.crm_kind,
            crm_settings=loaded,
            inbound_auth=mode,
            mapping=mapping,
            mapping_author=new.mapping_author,
            stats_interval_seconds=interval,
        ),
    )


def update_connection(
    store: Store,
    record: ConnectionRecord,
    *,
    name: str | None = None,
    ghl_token: str | None = None,
    crm_url: str | None = None,
    crm_secret: str | None = None,
    crm_settings: Mapping[str, Any] | None = None,
    mapping: str | None = None,
    mapping_author: str | None = None,
    remove_mapping: bool = False,
    stats_interval_seconds: int | None = None,
) -> ConnectionRecord:
    """Change what is given (None: keep). ``crm_settings`` is the whole new set (a form's
    values go through `merged_settings` first), checked again as a whole."""
    errors: dict[str, list[str]] = {}
    if ghl_token is not None and record.ghl_auth == GhlAuth.OAUTH:
        errors["ghl_token"] = ["An OAuth connection gets its tokens from the install."]
    if crm_url is not None and not connector_kind(record.crm_kind).capabilities.needs_url:
        errors["crm_url"] = [
            f"{record.crm_kind} connections have no URL: their settings say where results go."
        ]
    loaded = None
    if crm_settings is not None:
        loaded = _collect(errors, lambda: checked_settings(record.crm_kind, crm_settings))
    checked = _collect(errors, lambda: checked_mapping(mapping, record.crm_kind))
    if errors:
        raise ConnectionRefused(errors)
    return _stored(
        name or record.name,
        lambda: store.update_connection(
            record.id,
            name=name,
            ghl_token=ghl_token,
            crm_url=crm_url,
            crm_secret=crm_secret,
            crm_settings=loaded,
            mapping=checked,
            mapping_author=mapping_author,
            remove_mapping=remove_mapping,
            stats_interval_seconds=stats_interval_seconds,
        ),
    )


def merged_settings(record: ConnectionRecord, given: Mapping[str, str]) -> dict[str, Any]:
    """The stored settings with a form's changes: blank secrets kept, blank others removed."""
    secrets = connector_kind(record.crm_kind).secret_settings
    merged = dict(record.crm_settings)
    for name, value in given.items():
        if name in secrets and value == "":
            continue
        if value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def patched_settings(record: ConnectionRecord, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The stored settings with the API's changes: a value replaces, None removes, a setting
    not named (a secret too) is kept."""
    patched = dict(record.crm_settings)
    for name, value in changes.items():
        if value is None:
            patched.pop(name, None)
        else:
            patched[name] = value
    return patched


def _collect(errors: dict[str, list[str]], make: Callable[[], T]) -> T | None:
    """What ``make`` makes, or None with its refusals added to ``errors`` (all at once)."""
    try:
        return make()
    except ConnectionRefused as exc:
        errors.update(exc.errors)
        return None


def _stored(name: str, store_it: Callable[[], ConnectionRecord]) -> ConnectionRecord:
    """The store's refusals (a name taken, a value it cannot keep) as ConnectionRefused."""
    try:
        stored = store_it()
    except DuplicateName:
        taken = f"a connection named {name!r} exists already"
        raise ConnectionRefused({"name": [taken]}, message=taken) from None
    except ValueError as exc:
        # The store names the field first: "stats_interval_seconds: …".
        field_name, _, message = str(exc).partition(": ")
        errors = {field_name: [message]} if message else {"connection": [str(exc)]}
        raise ConnectionRefused(errors, message=str(exc)) from None
    return stored


# --- check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """Both sides of a check: one line per GHL call, and the CRM's own check."""

    ghl: list[CheckLine]
    crm_ok: bool
    crm_detail: str
    scope_fix: str | None = None

    @property
    def failures(self) -> int:
        return sum(line.failed for line in self.ghl) + (0 if self.crm_ok else 1)

    @property
    def ok(self) -> bool:
        return self.failures == 0


def check_connection(
    services: Services, settings: Settings, record: ConnectionRecord, *, post_id: str | None = None
) -> CheckResult:
    """Make every GHL call the flows make, then reach the CRM; nothing is written anywhere."""
    lines = [*scope_lines(record), *_ghl_lines(services, settings, record, post_id)]
    missing = any(line.missing_scope for line in lines)
    scope_fix = None
    if missing or any(line.failed and line.what == "scopes" for line in lines):
        scope_fix = _scope_fix(settings, record)
    try:
        crm = services.crm_for(record)
        try:
            return CheckResult(lines, True, crm.check(), scope_fix)
        finally:
            crm.close()
    except (IntegrationError, ValueError) as exc:  # ValueError: a URL or secret it refuses
        return CheckResult(lines, False, str(exc), scope_fix)


def _ghl_lines(
    services: Services, settings: Settings, record: ConnectionRecord, post_id: str | None
) -> list[CheckLine]:
    if not record.has_ghl_token:
        detail = f"{record.name} has no GHL token ({status_words(record)}); "
        return [CheckLine(Outcome.FAILED, "token", detail + reconnect_hint(record, settings))]
    lines: list[CheckLine] = []
    if record.status != ConnectionStatus.ACTIVE:
        lines.append(CheckLine(Outcome.INFO, "status", status_words(record)))
    location = record.location_id
    if post_id is None:
        post_id = next(
            (
                post.ghl_post_id
                for post in services.store.list_posts(record.id, limit=RECENT_POSTS)
                if post.ghl_post_id and post.location_id == location
            ),
            None,
        )
    today = dt.datetime.now(dt.UTC).date()
    try:
        with services.ghl_for(record) as ghl:
            lines.extend(check_calls(ghl, location, post_id=post_id, today=today))
    except (IntegrationError, ValueError) as exc:  # a client that cannot be built
        lines.append(CheckLine(Outcome.FAILED, "client", str(exc)))
    return lines


def _scope_fix(settings: Settings, record: ConnectionRecord) -> str:
    if record.ghl_auth == GhlAuth.OAUTH:
        return (
            "grant the missing scopes by installing again (the app must ask for them): "
            + urls.install_url(settings, record.id)
        )
    return (
        "give the Private Integration token the missing scopes in GHL (Settings > Private "
        f"Integrations), or use a new one: socialbridge connections update {record.name} "
        "--ghl-token TOKEN"
    )


# --- secrets and state ------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """The secrets (or tokens) that work after a rotation, newest first."""

    token_mode: bool
    active: tuple[str, ...]

    @property
    def what(self) -> str:
        return "inbound token" if self.token_mode else "webhook secret"


def rotate_secret(store: Store, record: ConnectionRecord, *, retire: bool = False) -> Rotation:
    """A new webhook secret or inbound token (both work until retired); or, with ``retire``,
    keep only the newest."""
    token_mode = record.inbound_auth == InboundAuth.TOKEN
    active: tuple[str, ...]
    if retire:
        retire_ = store.retire_inbound_tokens if token_mode else store.retire_webhook_secrets
        active = retire_(record.id, keep=1)
    else:
        newest = (
            store.add_inbound_token(record.id)
            if token_mode
            else store.add_webhook_secret(record.id)
        )
        rotated = store.get_connection(record.id)
        if rotated is None:
            active = (newest,)
        else:
            active = rotated.inbound_tokens if token_mode else rotated.webhook_secrets
    return Rotation(token_mode, active)


@dataclass(frozen=True)
class Activation:
    was: str
    reason: str | None
    released: int


def activate(
    store: Store, celery: Celery, settings: Settings, record: ConnectionRecord
) -> Activation | None:
    """Resume the connection and queue its waiting events in order; None if already active.

    ConnectionRefused when it has no GHL token (it needs an authorization first).
    """
    if record.status == ConnectionStatus.ACTIVE:
        return None
    if not record.has_ghl_token:
        raise ConnectionRefused.one(
            "ghl_token",
            f"{record.name} has no GHL token ({status_words(record)}): "
            + reconnect_hint(record, settings),
        )
    try:
        released = activate_and_enqueue(store, celery, record.id)
    except ValueError as exc:  # the token went (a disconnect) since it was read
        raise ConnectionRefused.one("ghl_token", str(exc)) from None
    return Activation(record.status, record.status_reason, len(released))


def newest_credential(record: ConnectionRecord) -> tuple[str, str]:
    """What the CRM authenticates with, by name: shown once, after the creation that made it."""
    if record.inbound_auth == InboundAuth.TOKEN:
        return ("inbound token", record.inbound_token or "")
    return ("webhook secret", record.webhook_secrets[0])


def is_connected(record: ConnectionRecord) -> bool:
    """Whether there is anything to disconnect: a GHL token, or a status not disconnected."""
    return record.status != ConnectionStatus.DISCONNECTED or record.has_ghl_token


def disconnect(store: Store, record: ConnectionRecord, reason: str = DISCONNECT_REASON) -> bool:
    """Delete the connection's GHL tokens; its events wait. False if it was already so."""
    if not is_connected(record):
        return False
    store.disconnect_connection(record.id, reason)
    return True


def delete_connection(store: Store, id_or_name: str) -> tuple[str, str] | None:
    """Delete a connection with its events, posts and snapshots: its (id, name), or None.

    Found without decrypting: a connection whose secrets cannot be read can still go.
    """
    found = store.find_connection_name(id_or_name)
    if found is None:
        return None
    store.delete_connection(found[0])
    return found

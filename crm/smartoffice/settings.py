"""The settings of a SmartOffice connection, and the credentials they make.

SmartOffice's XML Engine is reached in one of two modes (``--crm-setting auth=…``):

    direct   (default) ``office``, ``user`` and ``password`` are sent in the request's
             ``<header>``: the office's own XML Engine URL, as the older developer wiki has it.
    gateway  the API gateway handed over at onboarding: ``sitename``, ``office``, ``user``,
             ``api_key`` and ``api_secret`` travel as the HTTP headers ``sitename``,
             ``username`` (``<sitename>_<office>_<user>``), ``api-key`` and ``api-secret``;
             the ``<header>`` elements are sent empty.

``stats_contact_id`` (optional, ``Contact.<n>.<n>``) is the contact that statistics
write-backs land on when the event names no contact of its own.

What the schema refuses, each error keyed by the setting's name (the CLI prints them as
``--crm-setting <name>: <message>``):

- a setting the mode needs and lacks;
- the other mode's credentials (``password`` with ``gateway``; ``sitename``, ``api_key``,
  ``api_secret`` with ``direct``): a connection keeps no secret it never uses, and a key given
  without ``auth=gateway`` is far more often a forgotten ``auth`` than a wish;
- control characters anywhere (XML 1.0 cannot carry most of them), and in gateway mode any
  value that is not printable ASCII without surrounding spaces, since it is an HTTP header.

An empty value counts as not given, so ``--crm-setting password=`` removes a setting when a
connection moves from one mode to the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from crm.connector import SettingsSchema, secret_field

CONTACT_ID = re.compile(r"Contact\.\d+\.\d+")
"""A SmartOffice contact's global id, e.g. ``Contact.1.31``."""

MASK = "***"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class AuthMode(StrEnum):
    DIRECT = "direct"
    GATEWAY = "gateway"


REQUIRED: Mapping[AuthMode, tuple[str, ...]] = {
    AuthMode.DIRECT: ("office", "user", "password"),
    AuthMode.GATEWAY: ("sitename", "office", "user", "api_key", "api_secret"),
}
"""The settings each mode needs, in the order an administrator would look them up."""

_OTHER_MODE: Mapping[AuthMode, tuple[str, ...]] = {
    AuthMode.DIRECT: ("sitename", "api_key", "api_secret"),
    AuthMode.GATEWAY: ("password",),
}
_HEADER_VALUES = ("sitename", "office", "user", "api_key", "api_secret")


def _text(description: str) -> fields.String:
    return fields.String(metadata={"description": description})


class SmartOfficeSettings(SettingsSchema):
    auth = fields.String(
        load_default=AuthMode.DIRECT.value,
        validate=validate.OneOf([mode.value for mode in AuthMode]),
        metadata={"description": "direct (credentials in the XML header) or gateway (API keys)"},
    )
    office = _text("SmartOffice office name")
    user = _text("SmartOffice user name the integration logs in as")
    password = secret_field(metadata={"description": "the user's password (auth=direct)"})
    sitename = _text("site name given with the gateway keys (auth=gateway)")
    api_key = secret_field(metadata={"description": "API gateway key (auth=gateway)"})
    api_secret = secret_field(metadata={"description": "API gateway secret (auth=gateway)"})
    stats_contact_id = fields.String(
        validate=validate.Regexp(
            CONTACT_ID, error="Expected a SmartOffice contact id such as Contact.1.31."
        ),
        metadata={"description": "contact that statistics land on when an event names none"},
    )

    @pre_load
    def _drop_empty(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value != ""}
        return data

    @validates_schema
    def _check_mode(self, data: dict[str, Any], **_: Any) -> None:
        try:
            mode = AuthMode(data.get("auth", AuthMode.DIRECT.value))
        except ValueError:
            return  # the `auth` field reports it
        errors: dict[str, list[str]] = {}
        for name in REQUIRED[mode]:
            if name not in data:
                errors[name] = [f"Required with auth={mode.value}."]
        for name in _OTHER_MODE[mode]:
            if name in data:
                other = AuthMode.GATEWAY if mode is AuthMode.DIRECT else AuthMode.DIRECT
                errors[name] = [
                    f"Only used with auth={other.value}; remove it (an empty value removes "
                    "a setting)."
                ]
        for name, value in data.items():
            if name in errors or not isinstance(value, str):
                continue
            if _CONTROL.search(value):
                errors[name] = ["Must not contain control characters."]
            elif mode is AuthMode.GATEWAY and name in _HEADER_VALUES and not _header_safe(value):
                errors[name] = [
                    "Sent as an HTTP header with auth=gateway: printable ASCII only, "
                    "without leading or trailing spaces."
                ]
        if errors:
            raise ValidationError(errors)


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable() and value == value.strip()


@dataclass(frozen=True)
class Credentials:
    """Who the connector logs in as; ``masked()`` is the copy that may be shown or logged."""

    auth: AuthMode
    office: str
    user: str
    password: str = ""
    sitename: str = ""
    api_key: str = ""
    api_secret: str = ""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Credentials:
        """The credentials of loaded settings; ValueError naming the first one that is missing.

        The settings were validated when the connection was saved; this check is for a stored
        connection that no longer fits the schema, which then cannot be used at all.
        """
        try:
            mode = AuthMode(str(settings.get("auth") or AuthMode.DIRECT.value))
        except ValueError:
            raise ValueError("CRM setting auth: expected direct or gateway") from None
        for name in REQUIRED[mode]:
            if not settings.get(name):
                raise ValueError(f"CRM setting {name}: required with auth={mode.value}")
        values = {name: str(settings.get(name) or "") for name in REQUIRED[mode]}
        return cls(auth=mode, **values)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values in use, for removing them from anything logged."""
        return tuple(value for value in (self.password, self.api_key, self.api_secret) if value)

    def masked(self) -> Credentials:
        """The same credentials with every secret replaced by ``***``."""
        return replace(
            self,
            password=MASK if self.password else "",
            api_key=MASK if self.api_key else "",
            api_secret=MASK if self.api_secret else "",
        )

    def http_headers(self) -> dict[str, str]:
        """The gateway's four headers (none in direct mode)."""
        if self.auth is AuthMode.DIRECT:
            return {}
        return {
            "sitename": self.sitename,
            "username": f"{self.sitename}_{self.office}_{self.user}",
            "api-key": self.api_key,
            "api-secret": self.api_secret,
        }

    def describe(self) -> str:
        """Who logs in, for people: ``direct login, office demo, user agent``."""
        if self.auth is AuthMode.DIRECT:
            return f"direct login, office {self.office}, user {self.user}"
        return f"API gateway, site {self.sitename}, office {self.office}, user {self.user}"

    def refusal_hint(self) -> str:
        """What to check when SmartOffice refuses these credentials."""
        if self.auth is AuthMode.DIRECT:
            return "check the connection's office, user and password settings"
        return (
            "check the connection's sitename, office, user, api_key and api_secret settings "
            "(gateway keys expire every 90 days)"
        )

"""The settings of an IXACT Contact connection: the mail server that sends, and who sends.

IXACT Contact has no API; it files email. A connection names the SMTP server that sends as
the agent (``--crm-setting KEY=VALUE``):

    smtp_host            the mail server (required), a host name or IP address, no port
    smtp_port            default 587 (465 with smtp_security=tls)
    smtp_security        starttls (default), tls (TLS from the first byte), or none: plain
                         text, refused for any host but a loopback one (localhost,
                         127.0.0.0/8, ::1), so a password never crosses a network in clear
    smtp_ca_file         a PEM file of the CA that signed the server's certificate (a
                         private CA); when given, it is the only CA trusted
    smtp_user            the login (optional: some relays take mail without one)
    smtp_password        its password (secret; required with smtp_user, refused without)
    sender               the From address: an *authorized sender address* of the IXACT
                         account (its login address or one added under email capture)
    notes_address        IXACT's capture address, the envelope's only recipient
                         (default notes@ixactcontact.com)
    stats_contact_email  the contact statistics are filed under when an event names none

Every error is keyed by the setting's name (the CLI prints ``--crm-setting <name>: …``).
An empty value counts as not given, so ``--crm-setting smtp_user=`` removes a setting. The
port is kept only when given: a connection moved from starttls to tls later gets 465, not
a stale 587. `SmtpSettings.from_settings` turns stored settings into what the connector uses.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from crm.connector import SettingsSchema, secret_field
from crm.ixact.addresses import ADDRESS_RULE, is_address

NOTES_ADDRESS = "notes@ixactcontact.com"
"""IXACT's email capture address: the envelope's only recipient."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


class Security(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


DEFAULT_PORTS: Mapping[Security, int] = {
    Security.STARTTLS: 587,
    Security.TLS: 465,
    Security.NONE: 587,
}
"""The submission port of each mode, used when ``smtp_port`` is not given."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1 (brackets allowed)."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _host_problem(host: str) -> str | None:
    """Why ``host`` is no SMTP host name or IP address, or None when it is one."""
    if "://" in host:
        return "Give the host name alone (smtp.example.com), without a scheme."
    bare = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return None
    if ":" in host:
        return "Give the host name alone; the port is the smtp_port setting."
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        return "Expected a host name (smtp.example.com) or an IP address."
    return None


class _Address(fields.String):
    """An email address by `crm.ixact.addresses.is_address`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not is_address(text):
            raise ValidationError(f"Expected {ADDRESS_RULE}.")
        return text


class _CaFile(fields.String):
    """A readable PEM file of CA certificates, kept as an absolute path.

    Absolute because the worker that reads it may run in another folder than the command
    that saved it. Loaded once here, so a wrong file is refused when it is set, not at the
    first write.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        path = os.path.abspath(os.path.expanduser(text))
        if not os.path.isfile(path):
            raise ValidationError(f"No such file: {path}.")
        if not os.access(path, os.R_OK):
            raise ValidationError(f"Not readable: {path}.")
        try:
            ssl.create_default_context(cafile=path)
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise ValidationError(f"Not a PEM file of CA certificates: {path}.") from None
        return path


class IxactSettings(SettingsSchema):
    smtp_host = fields.String(
        required=True, metadata={"description": "the SMTP server that sends (host name or IP)"}
    )
    smtp_port = fields.Integer(
        strict=False,
        validate=validate.Range(min=1, max=65535),
        metadata={"description": "SMTP port; default 587, or 465 with smtp_security=tls"},
    )
    smtp_security = fields.String(
        load_default=Security.STARTTLS.value,
        validate=validate.OneOf([mode.value for mode in Security]),
        metadata={"description": "starttls (default), tls, or none (loopback hosts only)"},
    )
    smtp_ca_file = _CaFile(
        metadata={"description": "PEM file of the CA to trust for the server's certificate"}
    )
    smtp_user = fields.String(metadata={"description": "SMTP login (optional)"})
    smtp_password = secret_field(metadata={"description": "SMTP password (with smtp_user)"})
    sender = _Address(
        required=True,
        metadata={"description": "From address: an authorized sender address of the account"},
    )
    notes_address = _Address(
        load_default=NOTES_ADDRESS,
        metadata={"description": "IXACT's email capture address, the only recipient"},
    )
    stats_contact_email = _Address(
        metadata={"description": "contact that statistics are filed under when an event names none"}
    )

    @pre_load
    def _drop_empty(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value != ""}
        return data

    # Run even when a field failed, so one attempt names every problem at once.
    @validates_schema(skip_on_field_errors=False)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        for name, value in data.items():
            # The password is sent base64-encoded and never shown: any text will do.
            if name != "smtp_password" and isinstance(value, str) and _CONTROL.search(value):
                errors[name] = ["Must not contain control characters."]
        host = data.get("smtp_host")
        if isinstance(host, str) and "smtp_host" not in errors:
            problem = _host_problem(host)
            if problem is not None:
                errors["smtp_host"] = [problem]
            elif data.get("smtp_security") == Security.NONE and not is_loopback(host):
                errors["smtp_security"] = [
                    f"none (no encryption) is only allowed for a loopback host (localhost, "
                    f"127.0.0.1, ::1), not {host}: use starttls or tls."
                ]
        if "smtp_user" in data and "smtp_password" not in data:
            errors["smtp_password"] = ["Required with smtp_user."]
        if "smtp_password" in data and "smtp_user" not in data:
            errors["smtp_password"] = [
                "Only used with smtp_user; give smtp_user too, or remove the password (an "
                "empty value removes a setting)."
            ]
        if errors:
            raise ValidationError(errors)


@dataclass(frozen=True)
class SmtpSettings:
    """What the connector uses, from a connection's loaded settings; the password never shows."""

    host: str
    port: int
    security: Security
    sender: str
    notes_address: str = NOTES_ADDRESS
    ca_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    stats_contact_email: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpSettings:
        """The settings the connector needs; ValueError naming the first unusable one.

        They were validated when the connection was saved; this check is for a stored
        connection that no longer fits the schema, which then cannot be used at all.
        """
        for name in ("smtp_host", "sender"):
            if not settings.get(name):
                raise ValueError(f"CRM setting {name}: required")
        try:
            security = Security(str(settings.get("smtp_security") or Security.STARTTLS.value))
        except ValueError:
            raise ValueError("CRM setting smtp_security: expected starttls, tls or none") from None
        # A bracketed IPv6 literal is how people write one; sockets take it bare.
        host = str(settings["smtp_host"]).removeprefix("[").removesuffix("]")
        if security is Security.NONE and not is_loopback(host):
            raise ValueError("CRM setting smtp_security: none is only allowed for a loopback host")
        user = settings.get("smtp_user") or None
        password = settings.get("smtp_password") or None
        if user and not password:
            raise ValueError("CRM setting smtp_password: required with smtp_user")
        try:
            port = int(settings.get("smtp_port") or DEFAULT_PORTS[security])
        except (TypeError, ValueError):
            raise ValueError("CRM setting smtp_port: expected a port number") from None
        return cls(
            host=host,
            port=port,
            security=security,
            sender=str(settings["sender"]),
            notes_address=str(settings.get("notes_address") or NOTES_ADDRESS),
            ca_file=settings.get("smtp_ca_file") or None,
            user=str(user) if user else None,
            password=str(password) if password else None,
            stats_contact_email=settings.get("stats_contact_email") or None,
        )

    @property
    def url(self) -> str:
        """Where mail goes, for logs and previews: ``smtp://host:587`` (``smtps://`` for tls)."""
        scheme = "smtps" if self.security is Security.TLS else "smtp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def describe(self) -> str:
        """How the server is reached, for people: ``STARTTLS, login agent@example.com``."""
        how = {
            Security.STARTTLS: "STARTTLS",
            Security.TLS: "TLS",
            Security.NONE: "no encryption (loopback)",
        }[self.security]
        if self.ca_file:
            how += ", private CA"
        return f"{how}, login {self.user}" if self.user else f"{how}, no login"

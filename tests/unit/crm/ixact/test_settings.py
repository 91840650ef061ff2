"""The settings schema of an IXACT Contact connection and the SMTP settings it makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from crm.connector import secret_names
from crm.ixact.settings import (
    NOTES_ADDRESS,
    IxactSettings,
    Security,
    SmtpSettings,
    is_loopback,
)
from crm.registry import SettingsInvalid, load_settings
from tests.tlsutil import make_self_signed

MINIMAL = {"smtp_host": "smtp.example.com", "sender": "agent@example.com"}


def load(values: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = IxactSettings().load(values)
    return loaded


def errors_of(values: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        load(values)
    messages: dict[str, Any] = caught.value.messages  # type: ignore[assignment]
    return messages


def test_the_minimal_settings_take_the_defaults() -> None:
    assert load(MINIMAL) == {
        **MINIMAL,
        "smtp_security": "starttls",
        "notes_address": "notes@ixactcontact.com",
    }


def test_host_and_sender_are_required() -> None:
    assert errors_of({}) == {
        "smtp_host": ["Missing data for required field."],
        "sender": ["Missing data for required field."],
    }


def test_only_the_password_is_a_secret() -> None:
    assert secret_names(IxactSettings) == {"smtp_password"}


def test_an_unknown_setting_is_refused_by_name() -> None:
    assert errors_of({**MINIMAL, "smtp_pass": "x"}) == {"smtp_pass": ["Unknown field."]}


def test_the_port_is_read_from_text_and_kept_in_range() -> None:
    assert load({**MINIMAL, "smtp_port": "2525"})["smtp_port"] == 2525
    assert "smtp_port" in errors_of({**MINIMAL, "smtp_port": "0"})
    assert "smtp_port" in errors_of({**MINIMAL, "smtp_port": "65536"})
    assert errors_of({**MINIMAL, "smtp_port": "submission"}) == {
        "smtp_port": ["Not a valid integer."]
    }


def test_security_is_one_of_three() -> None:
    assert load({**MINIMAL, "smtp_security": "tls"})["smtp_security"] == "tls"
    errors = errors_of({**MINIMAL, "smtp_security": "ssl"})
    assert list(errors) == ["smtp_security"]
    assert "starttls, tls, none" in errors["smtp_security"][0]


def test_no_encryption_is_refused_for_a_host_that_is_not_loopback() -> None:
    errors = errors_of({**MINIMAL, "smtp_security": "none"})

    assert list(errors) == ["smtp_security"]
    [message] = errors["smtp_security"]
    assert "only allowed for a loopback host" in message
    assert "smtp.example.com" in message


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "127.0.0.1", "127.8.9.10", "::1"])
def test_no_encryption_is_allowed_on_loopback(host: str) -> None:
    loaded = load({**MINIMAL, "smtp_host": host, "smtp_security": "none"})
    assert loaded["smtp_security"] == "none"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.255.0.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("mail.localhost.example", False),
        ("::2", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("smtp://smtp.example.com", "without a scheme"),
        ("smtp.example.com:587", "the port is the smtp_port setting"),
        ("smtp example com", "Expected a host name"),
        ("-smtp.example.com", "Expected a host name"),
    ],
)
def test_a_host_that_is_no_host_is_refused(host: str, says: str) -> None:
    errors = errors_of({**MINIMAL, "smtp_host": host})
    assert list(errors) == ["smtp_host"]
    assert says in errors["smtp_host"][0]


def test_ip_addresses_are_hosts() -> None:
    assert load({**MINIMAL, "smtp_host": "192.0.2.25"})["smtp_host"] == "192.0.2.25"
    assert load({**MINIMAL, "smtp_host": "[2001:db8::25]"})["smtp_host"] == "[2001:db8::25]"


def test_a_user_needs_a_password_and_a_password_needs_a_user() -> None:
    assert errors_of({**MINIMAL, "smtp_user": "agent"}) == {
        "smtp_password": ["Required with smtp_user."]
    }
    errors = errors_of({**MINIMAL, "smtp_password": "pw"})
    assert list(errors) == ["smtp_password"]
    assert "Only used with smtp_user" in errors["smtp_password"][0]
    assert load({**MINIMAL, "smtp_user": "agent", "smtp_password": "pw"})["smtp_user"] == "agent"


@pytest.mark.parametrize("name", ["sender", "notes_address", "stats_contact_email"])
@pytest.mark.parametrize(
    "value",
    [
        "agent",
        "Agent <agent@example.com>",
        "agent@example",
        "agënt@example.com",
        "a@b.com, c@d.com",
    ],
)
def test_addresses_must_be_plain_email_addresses(name: str, value: str) -> None:
    errors = errors_of({**MINIMAL, name: value})
    assert list(errors) == [name]
    assert "an email address such as agent@example.com" in errors[name][0]


def test_addresses_are_kept_without_surrounding_spaces() -> None:
    loaded = load({**MINIMAL, "sender": " agent@example.com ", "stats_contact_email": "s@ex.org"})
    assert loaded["sender"] == "agent@example.com"
    assert loaded["stats_contact_email"] == "s@ex.org"


def test_control_characters_are_refused_except_in_the_password() -> None:
    errors = errors_of({**MINIMAL, "smtp_user": "agent\nbcc", "smtp_password": "p\tw"})
    assert errors == {"smtp_user": ["Must not contain control characters."]}


def test_an_empty_value_counts_as_not_given() -> None:
    # How `connections update` removes a setting: the stored value is merged, "" drops it.
    assert load({**MINIMAL, "smtp_user": "", "smtp_password": "", "smtp_port": ""}) == load(MINIMAL)


def test_a_ca_file_is_loaded_and_kept_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, _ = make_self_signed(tmp_path)
    monkeypatch.chdir(tmp_path)

    loaded = load({**MINIMAL, "smtp_ca_file": cert.name})

    assert loaded["smtp_ca_file"] == str(cert)


def test_a_ca_file_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    assert errors_of({**MINIMAL, "smtp_ca_file": str(missing)}) == {
        "smtp_ca_file": [f"No such file: {missing}."]
    }
    assert errors_of({**MINIMAL, "smtp_ca_file": str(tmp_path)}) == {
        "smtp_ca_file": [f"No such file: {tmp_path}."]
    }


def test_a_ca_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert errors_of({**MINIMAL, "smtp_ca_file": str(junk)}) == {
        "smtp_ca_file": [f"Not a PEM file of CA certificates: {junk}."]
    }


def test_the_registry_stores_plain_values_and_names_each_refusal() -> None:
    stored = load_settings("ixact", {**MINIMAL, "smtp_port": "465", "smtp_security": "tls"})
    assert stored == {
        **MINIMAL,
        "smtp_port": 465,
        "smtp_security": "tls",
        "notes_address": NOTES_ADDRESS,
    }
    with pytest.raises(SettingsInvalid) as caught:
        load_settings("ixact", {"smtp_host": "mail.example.com", "smtp_security": "none"})
    assert set(caught.value.errors) == {"sender", "smtp_security"}


# --- SmtpSettings ---------------------------------------------------------------------------


def test_smtp_settings_default_the_port_by_security() -> None:
    assert SmtpSettings.from_settings(MINIMAL).port == 587
    assert SmtpSettings.from_settings({**MINIMAL, "smtp_security": "tls"}).port == 465
    assert SmtpSettings.from_settings({**MINIMAL, "smtp_port": 2525}).port == 2525


def test_smtp_settings_from_stored_values() -> None:
    smtp = SmtpSettings.from_settings(
        {
            **load_settings("ixact", {**MINIMAL, "smtp_user": "agent", "smtp_password": "pw-9"}),
            "stats_contact_email": "office@example.com",
        }
    )
    assert smtp.security is Security.STARTTLS
    assert (smtp.user, smtp.password) == ("agent", "pw-9")
    assert smtp.notes_address == NOTES_ADDRESS
    assert smtp.stats_contact_email == "office@example.com"
    assert smtp.url == "smtp://smtp.example.com:587"
    assert smtp.describe() == "STARTTLS, login agent"
    assert "pw-9" not in repr(smtp)


def test_smtp_settings_name_what_a_stored_connection_lacks() -> None:
    with pytest.raises(ValueError, match="CRM setting sender: required"):
        SmtpSettings.from_settings({"smtp_host": "smtp.example.com"})
    with pytest.raises(ValueError, match="smtp_security: none is only allowed for a loopback"):
        SmtpSettings.from_settings({**MINIMAL, "smtp_security": "none"})
    with pytest.raises(ValueError, match="smtp_password: required with smtp_user"):
        SmtpSettings.from_settings({**MINIMAL, "smtp_user": "agent"})


def test_smtp_settings_take_an_ipv6_host_bare_and_show_it_bracketed() -> None:
    smtp = SmtpSettings.from_settings(
        {**MINIMAL, "smtp_host": "[::1]", "smtp_security": "tls", "smtp_port": 2465}
    )
    assert smtp.host == "::1"
    assert smtp.url == "smtps://[::1]:2465"

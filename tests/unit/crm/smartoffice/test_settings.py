"""The settings schema of a SmartOffice connection and the credentials it makes."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from crm.connector import secret_names
from crm.smartoffice.settings import AuthMode, Credentials, SmartOfficeSettings

DIRECT = {"office": "demo", "user": "agent", "password": "pw-1"}
GATEWAY = {
    "auth": "gateway",
    "sitename": "acme",
    "office": "demo",
    "user": "agent",
    "api_key": "key-1",
    "api_secret": "secret-1",
}


def load(values: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = SmartOfficeSettings().load(values)
    return loaded


def errors_of(values: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        load(values)
    messages: dict[str, Any] = caught.value.messages  # type: ignore[assignment]
    return messages


def test_direct_is_the_default_mode() -> None:
    assert load(DIRECT) == {**DIRECT, "auth": "direct"}


def test_gateway_settings_load() -> None:
    assert load(GATEWAY) == GATEWAY


def test_the_three_credentials_are_secrets() -> None:
    assert secret_names(SmartOfficeSettings) == {"password", "api_key", "api_secret"}


def test_direct_names_each_setting_it_lacks() -> None:
    assert errors_of({"office": "demo"}) == {
        "user": ["Required with auth=direct."],
        "password": ["Required with auth=direct."],
    }


def test_gateway_names_each_setting_it_lacks() -> None:
    assert errors_of({"auth": "gateway", "office": "demo"}) == {
        "sitename": ["Required with auth=gateway."],
        "user": ["Required with auth=gateway."],
        "api_key": ["Required with auth=gateway."],
        "api_secret": ["Required with auth=gateway."],
    }


def test_gateway_keys_without_auth_gateway_are_refused_by_name() -> None:
    errors = errors_of({**DIRECT, "api_key": "key-1", "sitename": "acme"})

    assert set(errors) == {"api_key", "sitename"}
    assert "Only used with auth=gateway" in errors["api_key"][0]


def test_a_password_in_gateway_mode_is_refused() -> None:
    errors = errors_of({**GATEWAY, "password": "pw-1"})

    assert list(errors) == ["password"]
    assert "Only used with auth=direct" in errors["password"][0]


def test_an_empty_value_counts_as_not_given() -> None:
    # How `connections update` moves a connection from direct to gateway: the old password
    # is merged in, and an empty value removes it.
    assert load({**GATEWAY, "password": ""}) == GATEWAY


def test_an_unknown_mode_is_refused_by_its_setting() -> None:
    errors = errors_of({**DIRECT, "auth": "oauth"})

    assert list(errors) == ["auth"]


def test_unknown_settings_are_refused_by_name() -> None:
    assert list(errors_of({**DIRECT, "pasword": "x"})) == ["pasword"]


def test_control_characters_are_refused() -> None:
    assert errors_of({**DIRECT, "user": "agent\x01"}) == {
        "user": ["Must not contain control characters."]
    }


@pytest.mark.parametrize("value", ["clé", " key", "key\t"])
def test_gateway_header_values_must_be_printable_ascii(value: str) -> None:
    errors = errors_of({**GATEWAY, "api_key": value})

    assert list(errors) == ["api_key"]
    assert "HTTP header" in errors["api_key"][0]


def test_direct_credentials_may_be_any_text() -> None:
    assert load({**DIRECT, "password": "pässwörd with spaces "})["password"] == (
        "pässwörd with spaces "
    )


def test_stats_contact_id_must_be_a_contact_id() -> None:
    assert load({**DIRECT, "stats_contact_id": "Contact.1.31"})["stats_contact_id"] == (
        "Contact.1.31"
    )
    errors = errors_of({**DIRECT, "stats_contact_id": "31"})
    assert list(errors) == ["stats_contact_id"]


def test_credentials_of_direct_settings() -> None:
    credentials = Credentials.from_settings(load(DIRECT))

    assert credentials == Credentials(
        auth=AuthMode.DIRECT, office="demo", user="agent", password="pw-1"
    )
    assert credentials.http_headers() == {}
    assert credentials.describe() == "direct login, office demo, user agent"
    assert credentials.secrets == ("pw-1",)


def test_credentials_of_gateway_settings_make_the_four_headers() -> None:
    credentials = Credentials.from_settings(load(GATEWAY))

    assert credentials.http_headers() == {
        "sitename": "acme",
        "username": "acme_demo_agent",
        "api-key": "key-1",
        "api-secret": "secret-1",
    }
    assert credentials.password == ""
    assert credentials.secrets == ("key-1", "secret-1")


def test_masked_credentials_hide_every_secret() -> None:
    masked = Credentials.from_settings(load(GATEWAY)).masked()

    assert masked.http_headers()["api-key"] == "***"
    assert masked.http_headers()["api-secret"] == "***"
    assert masked.http_headers()["username"] == "acme_demo_agent"


def test_stored_settings_missing_a_credential_cannot_make_credentials() -> None:
    with pytest.raises(ValueError, match="CRM setting password: required with auth=direct"):
        Credentials.from_settings({"office": "demo", "user": "agent"})

"""SECRET_KEY_FALLBACKS: how it is read, refused, documented, and given to the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from socialbridge.config import ConfigError, Settings, settings_environment
from store import SecretBox, Store, migrate
from store.engine import make_engine
from store.models import ConnectionRow

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_no_fallbacks_by_default() -> None:
    assert Settings.from_env({"SECRET_KEY": "k"}).fallback_secret_keys() == ()


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("old", ("old",)),
        ("older,old", ("older", "old")),
        ("  older ,\told  ", ("older", "old")),
    ],
    ids=["one", "two", "spaces"],
)
def test_fallbacks_are_comma_separated_keys_in_order(value: str, keys: tuple[str, ...]) -> None:
    settings = Settings.from_env({"SECRET_KEY": "new", "SECRET_KEY_FALLBACKS": value})
    assert settings.fallback_secret_keys() == keys


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("old,", "item 2 of 2 is empty"),
        ("a,,b", "item 2 of 3 is empty"),
        (",old", "item 1 of 2 is empty"),
        ("   ", "item 1 of 1 is empty"),
    ],
)
def test_an_empty_item_is_refused_naming_the_setting(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"SECRET_KEY_FALLBACKS: {message}"):
        Settings.from_env({"SECRET_KEY": "new", "SECRET_KEY_FALLBACKS": value})


def test_the_fallbacks_reach_other_processes_as_they_were_given() -> None:
    settings = Settings.from_env({"SECRET_KEY": "new", "SECRET_KEY_FALLBACKS": "older, old"})
    env = settings_environment(settings)
    assert env["SECRET_KEY_FALLBACKS"] == "older, old"
    assert Settings.from_env(env).fallback_secret_keys() == ("older", "old")


def test_a_store_from_settings_reads_under_the_fallback_and_writes_under_secret_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'socialbridge.db'}"
    migrate.upgrade(url)
    old = Store(url, "old")
    made = old.create_connection(name="acme", location_id="loc", ghl_token="ghl-token")
    old.dispose()
    settings = Settings.from_mapping(
        {"database_url": url, "secret_key": "new", "secret_key_fallbacks": "old"}
    )
    store = Store.from_settings(settings)
    try:
        found = store.get_connection(made.id)
        assert found is not None
        assert found.ghl_token == "ghl-token"
        updated = store.update_connection(made.id, ghl_token="ghl-token-2")
        assert updated.ghl_token == "ghl-token-2"
    finally:
        store.dispose()
    assert SecretBox("new").is_current(_raw_ghl_token(url, made.id))


def test_a_store_from_settings_needs_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY: not set"):
        Store.from_settings(Settings.from_mapping({"secret_key_fallbacks": "old"}))


def test_the_setting_and_the_rotation_procedure_are_documented() -> None:
    configuration = (DOCS / "configuration.md").read_text()
    assert "| `SECRET_KEY_FALLBACKS` | `(empty)` |" in configuration
    operations = (DOCS / "operations.md").read_text()
    section = operations.split("## Rotating SECRET_KEY\n", 1)[1].split("\n## ", 1)[0]
    for step in ("SECRET_KEY_FALLBACKS", "restart", "socialbridge secrets rotate"):
        assert step in section


def _raw_ghl_token(url: str, connection_id: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            token = connection.scalar(
                select(ConnectionRow.ghl_token_encrypted).where(ConnectionRow.id == connection_id)
            )
    finally:
        engine.dispose()
    assert isinstance(token, str)
    return token

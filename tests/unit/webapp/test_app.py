"""create_app: settings from an object, a mapping or the environment, and what it wires."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from socialbridge.config import ConfigError, Settings
from tests.unit.webapp.conftest import SECRET_KEY
from webapp import create_app
from workers.services import Services


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings.from_mapping(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": SECRET_KEY,
            "webhook_max_bytes": 4096,
        }
    )


@pytest.fixture
def root_logging() -> Iterator[None]:
    """create_app(None) configures logging: put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_settings_object_is_used_as_it_is(settings: Settings) -> None:
    app = create_app(settings)
    try:
        assert app.config["SOCIALBRIDGE_SETTINGS"] is settings
        assert app.config["SECRET_KEY"] == SECRET_KEY
        assert app.config["MAX_CONTENT_LENGTH"] == 4096
        celery = app.extensions["celery"]
        assert celery.conf.broker_url == settings.redis_url
        assert app.extensions["socialbridge"] is celery.services
        assert app.extensions["socialbridge"].settings is settings
    finally:
        app.extensions["celery"].close()


def test_given_services_are_the_ones_the_app_uses(settings: Settings) -> None:
    services = Services(settings)

    app = create_app(settings, services=services)

    assert app.extensions["socialbridge"] is services
    app.extensions["celery"].close()
    services.dispose()


def test_a_mapping_is_read_as_settings(database_url: str, redis_url: str) -> None:
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "k", "REDIS_URL": redis_url})

    assert app.config["SOCIALBRIDGE_SETTINGS"].database_url == database_url
    app.extensions["celery"].close()


def test_without_a_secret_key_the_app_is_not_built(database_url: str) -> None:
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: not set"):
        create_app({"database_url": database_url})


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^COLOUR: unknown setting$"):
        create_app({"secret_key": "k", "colour": "red"})


def test_without_config_the_environment_is_read(
    monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str, root_logging: None
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    app = create_app()

    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert logging.getLogger().level == logging.WARNING
    app.extensions["celery"].close()

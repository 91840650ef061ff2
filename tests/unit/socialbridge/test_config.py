from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from socialbridge.config import (
    SETTINGS,
    ConfigError,
    Settings,
    read_env_file,
    settings_environment,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_defaults_need_nothing_but_a_secret_key_to_run() -> None:
    settings = Settings.from_env({})
    assert settings.ghl_base_url == "https://services.leadconnectorhq.com"
    with pytest.raises(ConfigError, match="SECRET_KEY: not set"):
        settings.require_secret_key()


def test_ghl_api_version_is_no_longer_read() -> None:
    # The Version is chosen per endpoint (ghl/endpoints.py); an old environment still starts.
    assert Settings.from_env({"GHL_API_VERSION": "v3"}) == Settings.from_env({})
    with pytest.raises(ConfigError, match="GHL_API_VERSION: unknown setting"):
        Settings.from_mapping({"ghl_api_version": "v3"})


def test_environment_values_are_typed() -> None:
    settings = Settings.from_env({"PORT": "9000", "GHL_TIMEOUT": "2.5", "SECRET_KEY": "k"})
    assert settings.port == 9000
    assert settings.ghl_timeout == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT: expected int, got 'eighty'"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: expected a sqlite:// or postgresql://"),
        ({"REDIS_URL": "localhost"}, "REDIS_URL: expected redis://"),
        ({"RETRY_BACKOFF_MAX": "0"}, "RETRY_BACKOFF_MAX: must be a positive number"),
        ({"SWEEP_INTERVAL": "-1"}, "SWEEP_INTERVAL: must be a positive number"),
        ({"UNEXPECTED_MAX_ATTEMPTS": "0"}, "UNEXPECTED_MAX_ATTEMPTS: must be a positive number"),
        ({"LEASE_SECONDS": "2"}, "LEASE_SECONDS: must be at least 3"),
        ({"STATS_INTERVAL_SECONDS": "299"}, "STATS_INTERVAL_SECONDS: must be from 300"),
        ({"STATS_INTERVAL_SECONDS": "2678401"}, "STATS_INTERVAL_SECONDS: must be from 300"),
        ({"TASK_SOFT_TIME_LIMIT": "500"}, "TASK_SOFT_TIME_LIMIT: must be below TASK_TIME_LIMIT"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: expected text or json"),
        ({"GHL_RATE_LIMIT": "-1"}, "GHL_RATE_LIMIT: must be 0 (no shared limiter) or more"),
        ({"GHL_RATE_WINDOW_SECONDS": "0"}, "GHL_RATE_WINDOW_SECONDS: must be a positive number"),
        ({"GHL_DAILY_LIMIT": "0"}, "GHL_DAILY_LIMIT: must be a positive number"),
        ({"RATE_LIMIT_WAIT_IN_PROCESS": "40"}, "RATE_LIMIT_WAIT_IN_PROCESS: must be from 0"),
        ({"RATE_LIMIT_WAIT_IN_PROCESS": "-1"}, "RATE_LIMIT_WAIT_IN_PROCESS: must be from 0"),
        ({"TAG_CACHE_TTL": "-1"}, "TAG_CACHE_TTL: must be 0 (no cache) or more"),
        ({"GHL_TOKEN_REFRESH_MARGIN": "0"}, "GHL_TOKEN_REFRESH_MARGIN: must be a positive"),
        ({"GHL_REFRESH_LOCK_SECONDS": "0"}, "GHL_REFRESH_LOCK_SECONDS: must be a positive"),
        ({"GHL_OAUTH_AUTHORIZE_URL": "ftp://x"}, "GHL_OAUTH_AUTHORIZE_URL: expected an http"),
        ({"PUBLIC_URL": "bridge.example.com"}, "PUBLIC_URL: expected an http"),
        ({"WORKER_POOL": "gevent"}, "WORKER_POOL: expected threads or prefork, got 'gevent'"),
        ({"WORKER_CONCURRENCY": "-1"}, "WORKER_CONCURRENCY: must be from 0"),
        ({"WORKER_CONCURRENCY": "513"}, "WORKER_CONCURRENCY: must be from 0"),
        ({"WORKER_CONCURRENCY": "many"}, "WORKER_CONCURRENCY: expected int, got 'many'"),
    ],
)
def test_a_bad_value_names_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_the_worker_runs_32_threads_unless_told_otherwise() -> None:
    settings = Settings.from_env({})
    assert (settings.worker_pool, settings.worker_concurrency) == ("threads", 0)
    assert settings.worker_slots == 32
    assert Settings.from_env({"WORKER_CONCURRENCY": "8"}).worker_slots == 8


def test_a_prefork_worker_runs_a_process_per_cpu_unless_told_otherwise() -> None:
    prefork = Settings.from_env({"WORKER_POOL": "prefork"})
    assert prefork.worker_slots == (os.cpu_count() or 1)
    assert prefork.replace(worker_concurrency=3).worker_slots == 3


def test_unknown_setting_in_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match="DATABSE_URL: unknown setting"):
        Settings.from_mapping({"databse_url": "sqlite://"})


def test_env_file_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "socialbridge.env"
    env_file.write_text("# made by make run\n\nPORT=8100\nSECRET_KEY=from-file\n")
    settings = Settings.from_env({"SECRET_KEY": "from-env"}, env_file=env_file)
    assert settings.port == 8100
    assert settings.secret_key == "from-env"


def test_a_malformed_env_file_line_is_located(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("PORT=1\nnonsense\n")
    with pytest.raises(ConfigError, match=r"bad.env:2: expected KEY=VALUE, got 'nonsense'"):
        read_env_file(env_file)


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOCS.read_text()
    missing = [
        name
        for name, default, _ in SETTINGS
        if f"| `{name}` | `{default if default != repr('') else '(empty)'}` |" not in text
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("On", True), ("false", False), ("0", False), ("no", False)],
)
def test_a_yes_or_no_setting_reads_the_usual_words(raw: str, expected: bool) -> None:
    assert Settings.from_env({"SESSION_COOKIE_SECURE": raw}).session_cookie_secure is expected


def test_a_yes_or_no_setting_refuses_other_words() -> None:
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE: expected true or false"):
        Settings.from_env({"SESSION_COOKIE_SECURE": "sometimes"})


def test_a_yes_or_no_setting_survives_the_trip_through_the_environment() -> None:
    settings = Settings.from_mapping({"session_cookie_secure": False})
    again = Settings.from_env(settings_environment(settings))
    assert again.session_cookie_secure is False


def test_a_negative_proxy_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT"):
        Settings.from_env({"TRUSTED_PROXY_COUNT": "-1"})

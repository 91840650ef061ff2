"""`socialbridge secrets rotate`, as an operator runs it after changing SECRET_KEY."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from cli import main
from cli import secrets as secrets_command
from store import ConnectionRecord, SecretUnreadable, Store, migrate
from store.engine import make_engine
from store.models import ConnectionRow

OLD_KEY = "cli-old-secret-key"
NEW_KEY = "cli-new-secret-key"


@dataclass
class Setup:
    url: str

    def store(self, key: str) -> Store:
        return Store(self.url, key)

    def connection(self, key: str, name: str, **extra: Any) -> ConnectionRecord:
        store = self.store(key)
        try:
            return store.create_connection(
                name=name,
                location_id=f"loc_{name}",
                ghl_token=f"ghl-token-{name}",
                crm_url=f"http://crm.test/hooks/{name}",
                **extra,
            )
        finally:
            store.dispose()

    def agency(self, key: str, company_id: str) -> None:
        store = self.store(key)
        try:
            store.save_agency(
                company_id,
                access_token=f"agency-access-{company_id}",
                refresh_token=f"agency-refresh-{company_id}",
                expires_at=datetime.now(UTC) + timedelta(hours=24),
                scopes=["oauth.write"],
                approved_locations=["loc_a"],
            )
        finally:
            store.dispose()

    def rotate(self, *args: str, **env: str) -> Result:
        """`secrets rotate ARGS` with SECRET_KEY the new key and the old one its fallback."""
        environment = {
            "DATABASE_URL": self.url,
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_FALLBACKS": OLD_KEY,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        return CliRunner().invoke(main, ["secrets", "rotate", *args], env=environment)

    def raw(self) -> list[dict[str, Any]]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(ConnectionRow.__table__).order_by(ConnectionRow.id)
                )
                return [dict(row) for row in rows.mappings()]
        finally:
            engine.dispose()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    # The CLI also reads var/socialbridge.env under the working folder: keep any away.
    monkeypatch.chdir(tmp_path)
    return Setup(url)


def readable_with_the_new_key_alone(setup: Setup) -> list[ConnectionRecord]:
    store = setup.store(NEW_KEY)
    try:
        return store.list_connections()
    finally:
        store.dispose()


def test_rotate_after_a_key_change_leaves_everything_readable_with_the_new_key_alone(
    setup: Setup,
) -> None:
    made = [
        setup.connection(OLD_KEY, "acme"),
        setup.connection(OLD_KEY, "globex", inbound_auth="token"),
    ]
    with pytest.raises(SecretUnreadable):
        readable_with_the_new_key_alone(setup)

    result = setup.rotate()

    assert result.exit_code == 0, result.output
    # Four secrets of a connection that signs (GHL token, CRM secret, CRM settings, webhook
    # secrets), five of one with an inbound token.
    assert result.stdout.splitlines() == [
        "connections:     2",
        "re-encrypted:    9 value(s) of 2 connection(s)",
        "already current: 0 value(s)",
        "every stored secret is under SECRET_KEY now: SECRET_KEY_FALLBACKS can go",
    ]
    after = readable_with_the_new_key_alone(setup)
    assert [(r.name, r.ghl_token, r.crm_settings, r.webhook_secrets, r.inbound_tokens)
            for r in after] == [
        (r.name, r.ghl_token, r.crm_settings, r.webhook_secrets, r.inbound_tokens)
        for r in made
    ]  # fmt: skip
    # And the commands work without the fallback.
    listed = CliRunner().invoke(
        main,
        ["connections", "list"],
        env={"DATABASE_URL": setup.url, "SECRET_KEY": NEW_KEY, "LOG_LEVEL": "WARNING"},
    )
    assert listed.exit_code == 0, listed.output
    assert "acme" in listed.stdout
    assert "globex" in listed.stdout


def test_a_second_run_finds_everything_current(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    assert setup.rotate().exit_code == 0
    before = setup.raw()

    result = setup.rotate("--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "connections": 1,
        "connections_rotated": 0,
        "values_rotated": 0,
        "values_current": 4,
        "dry_run": False,
        "agencies": 0,
        "agencies_rotated": 0,
    }
    assert setup.raw() == before


def test_a_value_no_key_opens_exits_1_naming_it_and_changes_nothing(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    stray = setup.connection("a key nobody kept", "umbrella")
    before = setup.raw()

    result = setup.rotate()

    assert result.exit_code == 1
    assert (
        f"umbrella ({stray.id}): ghl_token_encrypted, crm_secret_encrypted, "
        "webhook_secrets_encrypted, crm_settings_encrypted." in result.stderr
    )
    assert "Nothing was re-encrypted" in result.stderr
    assert "acme" not in result.stderr
    assert stray.ghl_token not in result.output
    assert setup.raw() == before


def test_the_refusal_in_json_lists_each_unreadable_value(setup: Setup) -> None:
    stray = setup.connection("a key nobody kept", "umbrella")

    result = setup.rotate("--json")

    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["error"] == "unreadable"
    assert {
        (value["connection_id"], value["connection_name"], value["column"])
        for value in answer["unreadable"]
    } == {
        (stray.id, "umbrella", column)
        for column in (
            "ghl_token_encrypted",
            "crm_secret_encrypted",
            "crm_settings_encrypted",
            "webhook_secrets_encrypted",
        )
    }


def test_dry_run_counts_and_changes_nothing(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    setup.connection(NEW_KEY, "globex")
    before = setup.raw()

    result = setup.rotate("--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "connections:      2",
        "would re-encrypt: 4 value(s) of 1 connection(s)",
        "already current:  4 value(s)",
        "dry run: nothing was changed",
    ]
    assert setup.raw() == before
    with pytest.raises(SecretUnreadable):
        readable_with_the_new_key_alone(setup)


def test_progress_is_a_line_per_so_many_connections_on_stderr(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets_command, "PROGRESS_EVERY", 2)
    for number in range(5):
        setup.connection(OLD_KEY, f"c{number}")

    result = setup.rotate()

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "  2/5 connections re-encrypted",
        "  4/5 connections re-encrypted",
        "  5/5 connections re-encrypted",
    ]
    assert "re-encrypted:    20 value(s) of 5 connection(s)" in result.stdout


def test_an_empty_fallback_item_is_a_configuration_error(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    before = setup.raw()

    result = setup.rotate(SECRET_KEY_FALLBACKS=f"{OLD_KEY},")

    assert result.exit_code == 1
    assert "SECRET_KEY_FALLBACKS: item 2 of 2 is empty" in result.stderr
    assert setup.raw() == before


def test_agency_grants_are_rotated_and_counted_apart(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    setup.agency(OLD_KEY, "comp_1")

    result = setup.rotate()

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "connections:     1",
        "agency grants:   1",
        "re-encrypted:    6 value(s) of 1 connection(s) and 1 agency grant(s)",
        "already current: 0 value(s)",
        "every stored secret is under SECRET_KEY now: SECRET_KEY_FALLBACKS can go",
    ]
    store = setup.store(NEW_KEY)
    try:
        agency = store.get_agency("comp_1")
    finally:
        store.dispose()
    assert agency is not None
    assert (agency.access_token, agency.refresh_token) == (
        "agency-access-comp_1",
        "agency-refresh-comp_1",
    )


def test_an_unreadable_agency_token_is_named_in_json_and_nothing_changes(setup: Setup) -> None:
    setup.connection(OLD_KEY, "acme")
    setup.agency("a key nobody kept", "comp_lost")
    before = setup.raw()

    result = setup.rotate("--json")

    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer == {
        "error": "unreadable",
        "unreadable": [],
        "unreadable_agencies": [
            {"company_id": "comp_lost", "column": "access_token_encrypted"},
            {"company_id": "comp_lost", "column": "refresh_token_encrypted"},
        ],
    }
    assert "agency comp_lost: access_token_encrypted, refresh_token_encrypted" in result.stderr
    assert "agency-access-comp_lost" not in result.output
    assert setup.raw() == before

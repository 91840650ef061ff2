"""The CLI as a user runs it: click's CliRunner, settings from the environment only.

The sandbox GHL and CRM run as real HTTP servers (the CLI builds its own clients from
GHL_BASE_URL and the connection's CRM URL); the store is a real SQLite database, emptied
before each test, and Redis the unit tests' own database.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cli import main
from sandbox.crm import create_sandbox_crm_app
from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.server import ServerThread
from sandbox.smartoffice import XML_PATH, create_sandbox_smartoffice_app
from store import ConnectionRecord, Store
from tests.dbutil import clear_database, temporary_database

SECRET_KEY = "cli-test-secret-key"
PUBLIC_URL = "https://bridge.example"


@dataclass(frozen=True)
class Sandboxes:
    ghl_url: str
    crm_url: str


@dataclass
class Cli:
    """Runs `socialbridge …` with a fixed environment; `env` may be changed by a test."""

    env: dict[str, str | None]
    store: Store
    sandboxes: Sandboxes

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        """Run the command; an environment variable given as None is unset."""
        runner = CliRunner()
        return runner.invoke(
            main, list(args), input=input, env={**self.env, **env}, catch_exceptions=False
        )

    def connection(self, name: str = "acme", **overrides: Any) -> ConnectionRecord:
        """A connection to the demo location, with its account on the sandbox CRM."""
        account = f"acct_{secrets.token_hex(4)}"
        crm_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        values: dict[str, Any] = {
            "name": name,
            "location_id": DEFAULT_LOCATION,
            "ghl_token": DEFAULT_TOKEN,
            "crm_url": f"{self.sandboxes.crm_url}/hooks/{account}",
            "crm_secret": crm_secret,
        }
        values.update(overrides)
        httpx.post(
            f"{self.sandboxes.crm_url}/_sandbox/accounts",
            json={"account": account, "secret": crm_secret},
        ).raise_for_status()
        return self.store.create_connection(**values)

    def ghl_fault(self, **fault: Any) -> None:
        httpx.post(f"{self.sandboxes.ghl_url}/_sandbox/faults", json=fault).raise_for_status()

    def crm_statistics(self, connection: ConnectionRecord) -> list[dict[str, Any]]:
        account = connection.crm_url.rsplit("/", 1)[-1]
        answer = httpx.get(f"{self.sandboxes.crm_url}/_sandbox/accounts/{account}/statistics")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found


def lines(text: str) -> list[str]:
    return text.splitlines()


def columns(line: str) -> Sequence[str]:
    """The cells of a table line (cells are separated by two spaces or more)."""
    return re.split(r" {2,}", line.strip())


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[Sandboxes]:
    with (
        ServerThread(create_sandbox_ghl_app(rate_limit=10_000)) as ghl,
        ServerThread(create_sandbox_crm_app()) as crm,
    ):
        yield Sandboxes(ghl_url=ghl.url, crm_url=crm.url)


@pytest.fixture(scope="session")
def cli_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cli")
    with temporary_database("sqlite", folder, upgrade=True) as (url, _):
        yield url


@pytest.fixture
def cli(
    cli_database: str,
    redis_url: str,
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    # The CLI also reads var/socialbridge.env under the working folder (`make run`'s file):
    # run from an empty folder so that no developer's file leaks in.
    monkeypatch.chdir(tmp_path)
    clear_database(cli_database)
    httpx.delete(f"{sandboxes.ghl_url}/_sandbox/faults").raise_for_status()
    store = Store(cli_database, SECRET_KEY)
    env: dict[str, str | None] = {
        "DATABASE_URL": cli_database,
        "SECRET_KEY": SECRET_KEY,
        "REDIS_URL": redis_url,
        "GHL_BASE_URL": sandboxes.ghl_url,
        "PUBLIC_URL": PUBLIC_URL,
        "STATS_INTERVAL_SECONDS": "86400",
        "LOG_LEVEL": "WARNING",
    }
    yield Cli(env=env, store=store, sandboxes=sandboxes)
    store.dispose()


@pytest.fixture(scope="session")
def smartoffice_url() -> Iterator[str]:
    """The XML Engine URL of a sandbox SmartOffice served over HTTP, for `connections check`.

    Its seed account (sandbox/smartoffice/state.py: ``DEMO_*``) logs in both ways. Only
    harmless calls are made to it, so one server serves the whole session.
    """
    with ServerThread(create_sandbox_smartoffice_app()) as server:
        yield f"{server.url}{XML_PATH}"

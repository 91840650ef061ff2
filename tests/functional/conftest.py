"""Start the whole system once per database kind (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.crm.app import create_sandbox_crm_app
from sandbox.ghl.app import create_sandbox_ghl_app
from sandbox.mail.server import MailSandbox, server_tls_context
from sandbox.server import ServerThread
from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import QUICK_TIMINGS, System, Worker
from tests.functional.ixact import Ixact
from tests.functional.smartoffice import SmartOffice
from tests.functional.spec_check import assert_journal_conforms
from tests.tlsutil import make_self_signed
from webapp import create_app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything in this folder, so `-m functional` / `-m "not functional"` select it."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.functional)


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[tuple[str, str]]:
    with (
        # GHL's own limit (100 a location per 10 s) would make attempt counts depend on how
        # many tests ran in the last 10 s on the demo location; 429s are injected instead
        # (test_reliability, test_recovery) and the limit has unit tests of its own.
        ServerThread(create_sandbox_ghl_app(rate_limit=100_000)) as ghl,
        ServerThread(create_sandbox_crm_app()) as crm,
    ):
        yield ghl.url, crm.url


@pytest.fixture(scope="session")
def smartoffice_sandbox() -> Iterator[str]:
    """The sandbox SmartOffice XML Engine on real HTTP; its URL."""
    with ServerThread(create_sandbox_smartoffice_app()) as server:
        yield server.url


@pytest.fixture(scope="session")
def mail_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate (PEM) for the sandbox mail server, and its key."""
    return make_self_signed(tmp_path_factory.mktemp("mail-tls"))


@pytest.fixture(scope="session")
def mail_sandbox(mail_certificate: tuple[Path, Path]) -> Iterator[MailSandbox]:
    """The sandbox mail server: STARTTLS with `mail_certificate`, AUTH required (its seed
    login), messages kept in memory."""
    tls = server_tls_context(*mail_certificate)
    with MailSandbox(tls_context=tls, require_auth=True) as server:
        yield server


@pytest.fixture(scope="session", params=database_kinds())
def system(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: EmbeddedRedis,
    sandboxes: tuple[str, str],
    smartoffice_sandbox: str,
    mail_sandbox: MailSandbox,
) -> Iterator[System]:
    kind: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"system-{kind}")
    ghl_url, crm_url = sandboxes
    with temporary_database(kind, tmp, upgrade=True) as (database_url, engine_options):
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_server.url,
                "secret_key": "functional-tests-secret-key",
                "ghl_base_url": ghl_url,
                **QUICK_TIMINGS,
                "max_attempts": 4,
                # Every test lists the tags it expects GHL to answer (faults included): a list
                # cached by an earlier test would skip those calls. test_tag_cache.py runs
                # its own stack with the cache on.
                "tag_cache_ttl": 0,
            }
        )
        store = Store(database_url, settings.secret_key, engine_options=engine_options)
        app = create_app(settings)
        worker = Worker(settings, tmp / "worker.log")
        worker.start()
        with ServerThread(app) as web:
            yield System(
                settings=settings.replace(public_url=web.url),
                store=store,
                web_url=web.url,
                ghl_url=ghl_url,
                crm_url=crm_url,
                worker=worker,
                smartoffice_url=smartoffice_sandbox,
                mail_url=mail_sandbox.http_url,
                smtp_port=mail_sandbox.smtp_port,
            )
        worker.stop()
        app.extensions["socialbridge"].dispose()
        store.dispose()


@pytest.fixture
def bridge(system: System) -> Iterator[System]:
    """The system with clean sandbox faults and journal.

    Afterwards every GHL exchange of the test is checked against the official spec.
    """
    system.reset_sandboxes()
    yield system
    assert_journal_conforms(system.ghl_journal())
    system.reset_sandboxes()


@pytest.fixture
def smartoffice(bridge: System) -> Iterator[SmartOffice]:
    """The system, with the sandbox SmartOffice at its seed: no SmartPads, requests, faults."""
    office = SmartOffice(bridge)
    office.reset()
    yield office
    office.reset()


@pytest.fixture
def ixact(bridge: System, mail_certificate: tuple[Path, Path]) -> Iterator[Ixact]:
    """The system, with the sandbox mail server emptied of messages and faults."""
    mail = Ixact(bridge, ca_file=mail_certificate[0])
    mail.reset()
    yield mail
    mail.reset()

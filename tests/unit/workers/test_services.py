"""Services: one pooled transport per outside system, shared by the per-event clients."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.server import ServerThread
from socialbridge.config import Settings
from store import ConnectionRecord, migrate
from workers.services import Services, SharedTransport


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[Services, ConnectionRecord]]:
    url = f"sqlite:///{tmp_path / 'services.db'}"
    migrate.upgrade(url)
    with ServerThread(create_sandbox_ghl_app()) as ghl:
        settings = Settings.from_mapping(
            {"database_url": url, "secret_key": "k", "ghl_base_url": ghl.url}
        )
        services = Services(settings)
        connection = services.store.create_connection(
            name="pooled",
            location_id=DEFAULT_LOCATION,
            ghl_token=DEFAULT_TOKEN,
            crm_url="http://127.0.0.1:9/hooks/pooled",
        )
        yield services, connection
        services.dispose()


def test_clients_of_successive_events_share_one_transport(
    services: tuple[Services, ConnectionRecord],
) -> None:
    bridge, connection = services
    answers = []
    transports = []
    for _ in range(3):
        # Each event opens and closes its own client, as execute_event does.
        with bridge.ghl_for(connection) as ghl:
            answers.append(len(ghl.list_accounts(connection.location_id)))
            transports.append(ghl._http._transport)

    assert answers == [6, 6, 6]
    assert len({id(t) for t in transports}) == 1
    assert isinstance(transports[0], SharedTransport)


def test_ghl_and_the_crm_get_their_own_pools(services: tuple[Services, ConnectionRecord]) -> None:
    bridge, connection = services
    with bridge.ghl_for(connection) as ghl:
        ghl_transport = ghl._http._transport
    crm = bridge.crm_for(connection)
    crm_transport = crm._http._transport  # type: ignore[attr-defined]
    crm.close()

    assert ghl_transport is not crm_transport
    assert isinstance(crm_transport, SharedTransport)


def test_an_injected_transport_wins_over_the_pool(
    services: tuple[Services, ConnectionRecord],
) -> None:
    bridge, connection = services
    injected = httpx.MockTransport(lambda request: httpx.Response(500))
    with_fake = Services(bridge.settings, store=bridge.store, ghl_transport=injected)

    with with_fake.ghl_for(connection) as ghl:
        assert ghl._http._transport is injected


def test_threads_of_a_worker_call_ghl_at_once_through_one_pool(
    services: tuple[Services, ConnectionRecord],
) -> None:
    # What Celery's threads pool does: events on 16 threads, each with its own client.
    bridge, connection = services
    transports: list[httpx.BaseTransport] = []

    def one_event(_: int) -> int:
        with bridge.ghl_for(connection) as ghl:
            transports.append(ghl._http._transport)
            return len(ghl.list_accounts(connection.location_id))

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one_event, range(64)))

    assert answers == [6] * 64
    assert len({id(t) for t in transports}) == 1
    # The pool keeps a connection alive for each of the worker's 32 threads.
    pool_of_ghl = transports[0]
    assert isinstance(pool_of_ghl, SharedTransport)
    assert isinstance(pool_of_ghl.inner, httpx.HTTPTransport)
    assert pool_of_ghl.inner._pool._max_keepalive_connections == 32


def test_threads_asking_for_the_store_at_once_share_one(tmp_path: Path) -> None:
    settings = Settings.from_mapping(
        {"database_url": f"sqlite:///{tmp_path / 'x.db'}", "secret_key": "k"}
    )
    services = Services(settings)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            stores = list(pool.map(lambda _: services.store, range(64)))
        assert len({id(store) for store in stores}) == 1
    finally:
        services.dispose()

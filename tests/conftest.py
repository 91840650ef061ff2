"""Fixtures every test folder may use: one private Redis for the whole run, and --skip-slow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from socialbridge.embedded_redis import EmbeddedRedis


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-slow",
        action="store_true",
        default=False,
        help="Deselect the tests marked `slow` (chaos and load runs).",
    )
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="The browser tests save a screenshot of each console page here (docs/screenshots).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--skip-slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A redis-server of our own (AOF under a temporary folder), started once per run."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


# The functional tests' worker consumes database 0 of the same server; unit tests keep out of
# its way in a database of their own.
UNIT_REDIS_DB = 15


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of an emptied Redis database that no worker reads, for one test."""
    url = f"redis://127.0.0.1:{redis_server.port}/{UNIT_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url

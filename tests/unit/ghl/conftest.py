"""Fixtures: a FakeGHL behind httpx.MockTransport, and GHLClients talking to it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ghl import GHLClient
from tests.unit.ghl.fake_ghl import BASE_URL, FakeGHL

TOKEN = "pit-0123456789-secret-token"


@pytest.fixture
def fake() -> FakeGHL:
    return FakeGHL()


@pytest.fixture
def http(fake: FakeGHL) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake)) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> GHLClient:
    """A client whose every request and answer FakeGHL checks against its version's file."""
    return GHLClient(http, token=TOKEN)

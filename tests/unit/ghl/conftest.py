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
    """A client speaking Version 2021-07-28."""
    return GHLClient(http, token=TOKEN)


@pytest.fixture
def client_v3(http: httpx.Client) -> GHLClient:
    """A client speaking Version v3."""
    return GHLClient(http, token=TOKEN, api_version="v3")


@pytest.fixture(params=["2021-07-28", "v3"])
def any_client(request: pytest.FixtureRequest, http: httpx.Client) -> GHLClient:
    """The client once per API version: every request is checked against that version's file."""
    return GHLClient(http, token=TOKEN, api_version=request.param)

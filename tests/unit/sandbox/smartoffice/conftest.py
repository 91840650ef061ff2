"""Fixtures of the sandbox XML Engine's tests: a fresh app per test, its client, its /xml."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from tests.unit.sandbox.smartoffice.xmldocs import XmlEngine


@pytest.fixture
def app() -> Flask:
    return create_sandbox_smartoffice_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def xml(client: FlaskClient) -> XmlEngine:
    return XmlEngine(client)

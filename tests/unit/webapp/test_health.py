"""/healthz and /readyz, with the store and Redis up or down (/metrics: test_metrics.py)."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from socialbridge.embedded_redis import free_port
from store.migrate import head_revision, upgrade
from tests.unit.webapp.conftest import AppFactory


def test_healthz_answers_while_the_process_lives(client: FlaskClient) -> None:
    answer = client.get("/healthz")

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_readyz_is_ok_when_the_store_and_redis_answer(client: FlaskClient) -> None:
    answer = client.get("/readyz")

    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
    }


def test_readyz_is_503_and_names_redis_when_redis_is_down(make_app: AppFactory) -> None:
    down = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()

    answer = down.get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable: ConnectionError"},
    }


def test_readyz_is_503_and_names_the_database_when_it_is_down(make_app: AppFactory) -> None:
    url = f"postgresql+psycopg://bridge:pw@127.0.0.1:{free_port()}/bridge"
    down = make_app(database_url=url).test_client()

    answer = down.get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable: OperationalError", "redis": "ok"},
    }


def test_readyz_is_503_on_a_schema_of_an_older_release(
    make_app: AppFactory, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    old = make_app(database_url=url).test_client()

    answer = old.get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json()["checks"]["database"] == (
        f"schema at 0001, expected {head_revision()}: run socialbridge db upgrade"
    )

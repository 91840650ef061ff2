"""The GHL-facing endpoints' fuzz cases: reproducible from their seed, each what it says it is,
and each answered as it says by the web app itself (in-process, with the sandbox GHL)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from flask.testing import FlaskClient

from ghl.app_webhooks import load_ed25519_public_key
from ghl.endpoints import OAUTH_SCOPES
from sandbox.ghl import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
    create_sandbox_ghl_app,
)
from socialbridge.config import Settings
from socialbridge.oauth_state import read_state
from store import Store, migrate
from tests.dbutil import Database, database_params, temporary_database
from tests.faults import fuzz
from tests.faults import fuzzcases as fz
from tests.faults import fuzzcases_ghl as fg
from tests.faults.rawhttp import RawAnswer, RawRequest
from tests.faults.stack import FaultStack
from tests.faults.test_fuzzcases import TARGETS
from webapp import create_app
from workers.services import Services

SECRET_KEY = "fuzz-ghl-test-secret-key"
PUBLIC_URL = "https://bridge.example"
REDIRECT_URI = f"{PUBLIC_URL}/oauth/ghl/callback"
LIMIT = 262_144
NOW = 1_800_000_000.0
COUNT = 600
EXPECTATIONS = {"200", "302", "400", "401", "404", "405", "409", "413", "422", "502"}
EXPECTATIONS |= {"4xx", "not5xx"}
LOCATIONS = ("loc_pinned", "loc_shared", "loc_lonely")


@pytest.fixture(scope="module")
def cases() -> list[fg.GhlCase]:
    return fg.generate_ghl_cases(7, COUNT, max_body_bytes=LIMIT, first_number=4500)


def by_category(cases: list[fg.GhlCase], category: str) -> list[fg.GhlCase]:
    return [c for c in cases if c.category == category]


def offline_side() -> fg.GhlSide:
    """A side whose install page must not be asked for a code."""

    def authorize(choice: Any) -> str:
        raise AssertionError(f"no live code was expected, asked {choice}")

    targets = fg.GhlTargets(
        pinned="con_1000000000000001",
        shared=("con_1000000000000002", "con_1000000000000003"),
        unplaced="con_1000000000000004",
        pit="con_1000000000000005",
        pinned_location=LOCATIONS[0],
        shared_location=LOCATIONS[1],
        lonely_location=LOCATIONS[2],
    )
    return fg.GhlSide(targets, SECRET_KEY, authorize)


def headers_of(request: RawRequest) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers]


# --- the cases ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_cases(cases: list[fg.GhlCase]) -> None:
    again = fg.generate_ghl_cases(7, COUNT, max_body_bytes=LIMIT, first_number=4500)

    assert again == cases
    assert fg.generate_ghl_cases(8, COUNT, max_body_bytes=LIMIT, first_number=4500) != cases
    assert [c.number for c in cases] == list(range(4500, 4500 + COUNT))


def test_the_crm_receivers_cases_are_left_as_they_were() -> None:
    before = fz.generate_cases(7, 300, TARGETS)
    fg.generate_ghl_cases(7, 300, max_body_bytes=LIMIT)

    assert fz.generate_cases(7, 300, TARGETS) == before


def test_every_category_and_endpoint_is_used(cases: list[fg.GhlCase]) -> None:
    categories = list(fg.GHL_CATEGORIES)

    assert [c.category for c in cases[: len(categories)]] == categories
    assert {c.category for c in cases} == set(categories)
    assert {c.endpoint for c in cases} == set(fg.ENDPOINTS)
    assert {c.expect for c in cases} == EXPECTATIONS


def test_only_the_install_documents_5xx_answers(cases: list[fg.GhlCase]) -> None:
    by_endpoint = {c.endpoint: c.documented_5xx for c in cases}

    assert by_endpoint == {
        fg.APP_WEBHOOK: frozenset(),
        fg.OAUTH_START: frozenset({503}),
        fg.OAUTH_CALLBACK: frozenset({502, 503}),
    }
    callback = next(c for c in cases if c.endpoint == fg.OAUTH_CALLBACK)
    webhook = next(c for c in cases if c.endpoint == fg.APP_WEBHOOK)
    assert [callback.allows(s) for s in (200, 429, 500, 502, 503, 504, None)] == [
        True, True, False, True, True, False, False,
    ]  # fmt: skip
    assert [webhook.allows(s) for s in (200, 429, 500, 502, 503)] == [
        True, True, False, False, False,
    ]  # fmt: skip


def test_every_app_webhook_is_signed_as_its_mode_says(cases: list[fg.GhlCase]) -> None:
    key = load_ed25519_public_key(SANDBOX_WEBHOOK_PUBLIC_KEY_PEM)
    side = offline_side()
    modes: set[str] = set()
    for case in (c for c in cases if c.endpoint == fg.APP_WEBHOOK):
        request = fg.build_ghl_request(case, side, NOW)
        signatures = [v for n, v in request.headers if n.lower() == b"x-ghl-signature"]
        modes.add(case.signing or "")
        if case.signing in (fg.SIGNED, fg.SIG_BOTH, fg.SIG_UPPER, fg.SIG_SPACES):
            [signature] = signatures
            key.verify(base64.b64decode(signature.strip()), request.body)
        elif case.signing in (fg.SIG_OTHER_BODY, fg.SIG_TAMPERED, fg.SIG_OTHER_KEY):
            [signature] = signatures
            with pytest.raises(InvalidSignature):
                key.verify(base64.b64decode(signature), request.body)
        elif case.signing in (fg.UNSIGNED, fg.SIG_RSA_ONLY):
            assert signatures == []
    assert modes == set(fg.SIGNING_MODES)


def test_timestamps_are_filled_in_at_send_time_and_shifted(cases: list[fg.GhlCase]) -> None:
    side = offline_side()
    shifted = [c for c in by_category(cases, "app timestamp") if c.shift]

    assert shifted
    for case in shifted:
        sent = json.loads(fg.build_ghl_request(case, side, NOW).body)
        moment = dt.datetime.fromisoformat(sent["timestamp"])
        assert moment.timestamp() == NOW + case.shift
        assert (case.expect == "401") is (abs(case.shift) > fg.MAX_SKEW_SECONDS)
    assert fg.ghl_timestamp(dt.datetime(2026, 5, 1, 12, 0, 0, 123456, dt.UTC)) == (
        "2026-05-01T12:00:00.123Z"
    )


def test_sizes_are_padded_to_the_byte_and_the_over_limit_expected_413(
    cases: list[fg.GhlCase],
) -> None:
    side = offline_side()
    for case in by_category(cases, "app size"):
        body = fg.build_ghl_request(case, side, NOW).body
        if case.pad_to is not None:
            assert len(body) == case.pad_to
            json.loads(body)
    over = [
        c
        for c in cases
        if c.endpoint == fg.APP_WEBHOOK
        and not c.chunked
        and c.content_length is None
        and len(fg.app_body(c, NOW)) > LIMIT
    ]
    assert over
    assert {c.expect for c in over} == {"413"}


def test_install_queries_are_filled_with_the_roles_and_fresh_states(
    cases: list[fg.GhlCase],
) -> None:
    side = offline_side()
    targets = side.targets
    named = {targets.pinned, targets.gone, targets.pit, "agency"}
    moment = dt.datetime.fromtimestamp(NOW, dt.UTC)
    states = 0
    for case in (c for c in cases if c.endpoint != fg.APP_WEBHOOK and not c.live):
        target = fg.resolve_target(case, side, NOW)
        assert b"@" not in target
        if b"=@STATE" not in case.target:
            continue
        query = parse_qs(urlsplit(target.decode("latin-1")).query)
        claims = read_state(SECRET_KEY, query["state"][0] or query["state"][1], now=moment,
                            max_age=dt.timedelta(days=1))  # fmt: skip
        assert claims.connection_id in named
        old = b"@STATE_OLD@" in case.target
        assert (moment - claims.issued_at).total_seconds() == (fg.STATE_AGE_SECONDS if old else 0)
        states += 1
    assert states > 10


def test_the_app_webhook_contract_for_a_few_payloads() -> None:
    base: dict[str, Any] = {
        "type": "INSTALL", "appId": "app", "locationId": "loc", "timestamp": fg.NOW,
        "webhookId": "wh",
    }  # fmt: skip
    examples: list[tuple[dict[str, Any], str]] = [
        ({}, "200"),
        ({"type": "ContactCreate", "appId": None}, "200"),  # ignored: names nobody
        ({"appId": None}, "422"),
        ({"locationId": None}, "422"),
        ({"locationId": None, "locationIds": ["a"]}, "200"),
        ({"locationId": None, "locationIds": []}, "422"),
        ({"locationIds": None}, "422"),
        ({"locationId": "x" * 101}, "422"),  # the schema takes it; the event log does not
        ({"locationId": " "}, "422"),
        ({"webhookId": "a\x01b"}, "422"),
        ({"companyName": "x" * 500, "installType": ""}, "200"),
        ({"extra": {"k\x00": 1}}, "422"),
        ({"timestamp": "2026-01-01"}, "401"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "422"),
        ({"timestamp": 1}, "422"),
    ]
    for change, expect in examples:
        assert fg.app_answer({**base, **change}) == expect, change
    assert fg.app_answer([base]) == "422"


def test_spread_keeps_each_order_and_mixes_them() -> None:
    first, second = list(range(100)), [f"g{n}" for n in range(25)]

    merged = fg.spread(first, second)

    assert [x for x in merged if isinstance(x, int)] == first
    assert [x for x in merged if isinstance(x, str)] == second
    assert all(any(isinstance(x, str) for x in merged[i : i + 6]) for i in range(0, 120, 6))


def test_tokens_are_found_in_an_answer() -> None:
    answer = RawAnswer(200, b"<p>token sbx-at-abc and the-secret</p>")

    assert fg.tokens_in(answer, ["the-secret", "other"]) == [
        "sbx-at-",
        "a secret of 10 characters",
    ]
    assert fg.tokens_in(RawAnswer(200, b"<p>fine</p>"), ["the-secret"]) == []


# --- each case answered as it says, by the web app in-process ----------------------------------


@pytest.fixture(scope="module", params=database_params())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    with temporary_database(request.param, tmp_path_factory.mktemp("ghl-fuzz"), upgrade=True) as db:
        yield db


@pytest.fixture
def system(database: Database, redis_url: str) -> Iterator[tuple[FlaskClient, fg.GhlSide]]:
    """The web app with GHL OAuth set up against the sandbox GHL in-process, the connections
    the install cases name, and a side whose codes that sandbox issues."""
    database_url, _ = database
    sandbox = create_sandbox_ghl_app()
    settings = Settings.from_mapping(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": SECRET_KEY,
            "public_url": PUBLIC_URL,
            "ghl_base_url": "http://ghl.sandbox",
            "ghl_client_id": SANDBOX_CLIENT_ID,
            "ghl_client_secret": SANDBOX_CLIENT_SECRET,
            "ghl_webhook_public_key": SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
            "webhook_max_bytes": LIMIT,
        }
    )
    services = Services(settings, ghl_transport=httpx.WSGITransport(app=sandbox))
    app = create_app(settings, services=services)
    store: Store = app.extensions["socialbridge"].store
    ghl = sandbox.test_client()
    for location in LOCATIONS:
        added = ghl.post(
            "/_sandbox/locations", json={"location_id": location, "token": f"pit-{location}"}
        )
        assert added.status_code in (200, 201)

    def connection(name: str, location_id: str, auth: str = "oauth") -> str:
        token = "pit-fuzz" if auth == "pit" else ""
        made = store.create_connection(
            name=f"{name}-{time.monotonic_ns()}",
            location_id=location_id,
            ghl_token=token,
            ghl_auth=auth,
            crm_url="http://crm.example/hooks/x",
        )
        return made.id

    def authorize(choice: Any) -> str:
        scopes = fg.AGENCY_SCOPES if choice.get("agency") == "1" else OAUTH_SCOPES
        query = fg.install_query(REDIRECT_URI, scopes)
        answer = ghl.get(f"/oauth/chooselocation?{query}&{httpx.QueryParams(choice)}")
        return fg.code_of(answer.status_code, answer.headers.get("Location", ""))

    targets = fg.GhlTargets(
        pinned=connection("pinned", LOCATIONS[0]),
        shared=(connection("shared-a", LOCATIONS[1]), connection("shared-b", LOCATIONS[1])),
        unplaced=connection("unplaced", ""),
        pit=connection("pit", LOCATIONS[2], auth="pit"),
        pinned_location=LOCATIONS[0],
        shared_location=LOCATIONS[1],
        lonely_location=LOCATIONS[2],
    )
    yield app.test_client(), fg.GhlSide(targets, SECRET_KEY, authorize)
    app.extensions["socialbridge"].dispose()
    app.extensions["celery"].close()


def send_in_process(client: FlaskClient, request: RawRequest) -> RawAnswer:
    path, _, query = request.target.decode("latin-1").partition("?")
    answer = client.open(
        path,
        method=request.method.decode(),
        query_string=query,
        headers=headers_of(request),
        data=request.body,
    )
    return RawAnswer(answer.status_code, answer.get_data())


def test_every_case_is_answered_as_its_contract_says(
    system: tuple[FlaskClient, fg.GhlSide], cases: list[fg.GhlCase]
) -> None:
    client, side = system
    # What only the HTTP server sees (framing, sizes, raw bytes) is left to `make fuzz`.
    sent = [c for c in cases if not c.wire]
    wrong = []
    for case in sent:
        request = fg.build_ghl_request(case, side, time.time())
        answer = send_in_process(client, request)
        if not fg.matches(case, answer.status) or not case.allows(answer.status):
            got = f"got {answer.status}, expected {case.expect}: {answer.body[:200]!r}"
            wrong.append(f"#{case.number} [{case.category}] {case.description}: {got}")
        assert fg.tokens_in(answer, [SANDBOX_CLIENT_SECRET, SECRET_KEY]) == [], case

    assert wrong == []
    assert len(sent) > COUNT * 0.85
    assert {c.category for c in sent} == set(fg.GHL_CATEGORIES)
    assert sum(c.live for c in sent) > 20


# --- the fuzz run's wiring ---------------------------------------------------------------------


def test_ghl_requests_may_be_none_but_not_fewer(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.parse_args([]).ghl_requests == 1000
    assert fuzz.parse_args(["--ghl-requests", "0"]).ghl_requests == 0
    with pytest.raises(SystemExit):
        fuzz.parse_args(["--ghl-requests", "-1"])

    assert "--ghl-requests: expected a whole number, 0 or more" in capsys.readouterr().err


def test_the_fuzz_run_configures_the_sandbox_marketplace_app() -> None:
    assert fuzz.SETTINGS["ghl_client_id"] == SANDBOX_CLIENT_ID
    assert fuzz.SETTINGS["ghl_client_secret"] == SANDBOX_CLIENT_SECRET
    assert fuzz.SETTINGS["ghl_webhook_public_key"] == SANDBOX_WEBHOOK_PUBLIC_KEY_PEM


def test_the_fuzz_run_makes_the_install_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    migrate.upgrade(url)
    stack = FaultStack(tmp_path, sandboxes=False)
    stack.settings = Settings.from_mapping({"database_url": url, "secret_key": "k" * 32})
    stack.store = Store(url, stack.settings.secret_key)
    added: list[str] = []
    monkeypatch.setattr(stack, "add_ghl_location", lambda location, _: added.append(location))
    try:
        targets = fuzz._ghl_targets(stack)

        def oauth_at(location_id: str) -> list[str]:
            return [c.id for c in stack.store.oauth_connections(location_id=location_id)]

        assert added == list(fuzz.GHL_LOCATIONS)
        assert oauth_at(targets.pinned_location) == [targets.pinned]
        assert sorted(oauth_at(targets.shared_location)) == sorted(targets.shared)
        assert oauth_at(targets.lonely_location) == []
        assert oauth_at("") == [targets.unplaced]
        pit = stack.store.get_connection(targets.pit)
        assert pit is not None
        assert (pit.ghl_auth, pit.location_id) == ("pit", targets.lonely_location)
        assert stack.store.get_connection(targets.gone) is None
    finally:
        stack.store.dispose()


def test_only_undocumented_5xx_fail_the_run(cases: list[fg.GhlCase]) -> None:
    callback = next(c for c in cases if c.endpoint == fg.OAUTH_CALLBACK)
    webhook = next(c for c in cases if c.endpoint == fg.APP_WEBHOOK)
    crm = fz.generate_cases(7, 1, TARGETS)[0]
    request = RawRequest(b"GET", b"/", ())

    def failed(case: Any, status: int) -> bool:
        return fuzz.Exchange(case, request, RawAnswer(status, b"")).server_error

    assert [failed(callback, s) for s in (400, 500, 502, 503)] == [False, True, False, False]
    assert [failed(webhook, s) for s in (429, 500, 502, 503)] == [False, True, True, True]
    assert [failed(crm, s) for s in (422, 500, 503)] == [False, True, True]

"""The token targets' fuzz cases: reproducible from their seed, apart from the signature
targets' cases, and each what it says it is, checked against the mapping engine itself."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from mappings import load_mapping, map_inbound
from schemas.events import EVENT_TYPES, CrmEvent, load_event
from socialbridge.config import Settings
from store import Store, migrate
from tests.faults import fuzz
from tests.faults import fuzzcases as fz
from tests.faults import fuzzcases_token as ft
from tests.faults.rawhttp import RawRequest
from tests.faults.stack import FaultStack
from tests.faults.test_fuzzcases import NOW, SECRET, TARGETS, json_depth

TOKEN = "sbt_" + "t" * 43
OTHER_TOKEN = "sbt_" + "o" * 43
LIMIT = 262_144
TOKEN_TARGETS = [
    fz.FuzzTarget(
        connection_id=f"con_10000000000000{n}",
        location_id=f"loc_token_{n}",
        tag_ids=tuple(f"tag_t{n}_{i}" for i in range(10)),
        ghl_post_ids=(f"post_t{n}_1",),
        max_body_bytes=LIMIT,
        delivery_id_mapped=n % 2 == 0,
    )
    for n in range(4)
]
MAPPINGS = {
    with_id: load_mapping(ft.mapping_text(delivery_id=with_id), outbound_fields=())
    for with_id in (True, False)
}
RECEIVED = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
EXPECTATIONS = {"200", "202", "401", "404", "405", "413", "415", "422", "4xx"}


@pytest.fixture(scope="module")
def token_cases() -> list[fz.FuzzCase]:
    return ft.generate_token_cases(7, 1500, TOKEN_TARGETS, first_number=1500)


@pytest.fixture(scope="module")
def signature_cases() -> list[fz.FuzzCase]:
    return fz.generate_cases(7, 300, TARGETS)


def token_request_of(case: fz.FuzzCase) -> RawRequest:
    return fz.build_request(
        case, TOKEN_TARGETS[case.target], SECRET, NOW, token=TOKEN, other_token=OTHER_TOKEN
    )


def token_headers_of(case: fz.FuzzCase) -> dict[str, str]:
    return {n.decode("latin-1"): v.decode("latin-1") for n, v in token_request_of(case).headers}


def mapped_by_the_receiver(case: fz.FuzzCase) -> tuple[CrmEvent, str | None]:
    """The event the receiver's mapping and validation make of the case's body."""
    target = TOKEN_TARGETS[case.target]
    mapped = map_inbound(
        MAPPINGS[target.delivery_id_mapped], json.loads(fz.case_body(case)), received_at=RECEIVED
    )
    return load_event(mapped.envelope), mapped.delivery_id


def test_the_same_seed_gives_the_same_token_requests(token_cases: list[fz.FuzzCase]) -> None:
    again = ft.generate_token_cases(7, 1500, TOKEN_TARGETS, first_number=1500)

    assert again == token_cases
    assert ft.generate_token_cases(8, 1500, TOKEN_TARGETS, first_number=1500) != token_cases
    assert [token_request_of(c) for c in again[:300]] == [
        token_request_of(c) for c in token_cases[:300]
    ]


def test_token_cases_leave_the_signature_cases_as_they_were(
    signature_cases: list[fz.FuzzCase],
) -> None:
    # Each generator keeps its own random stream: drawing one list never moves the other.
    ft.generate_token_cases(7, 300, TOKEN_TARGETS)

    assert fz.generate_cases(7, 300, TARGETS) == signature_cases
    assert all(c.bearer is None for c in signature_cases)


def test_every_token_category_and_target_is_used(token_cases: list[fz.FuzzCase]) -> None:
    categories = list(ft.TOKEN_CATEGORIES)

    assert [c.category for c in token_cases[: len(categories)]] == categories
    assert {c.category for c in token_cases} == set(categories)
    assert {c.target for c in token_cases} == {0, 1, 2, 3}
    assert [c.number for c in token_cases] == list(range(1500, 3000))


def test_every_token_case_says_its_answer_and_how_it_authenticates(
    token_cases: list[fz.FuzzCase],
) -> None:
    assert {c.expect for c in token_cases} <= EXPECTATIONS
    assert {c.bearer for c in token_cases} <= set(fz.BEARER_MODES)
    assert {c.bearer for c in token_cases if c.category == "token auth"} == set(fz.BEARER_MODES) - {
        fz.BEARER
    }
    # Every answer class the contract has for these requests is met somewhere.
    assert {c.expect for c in token_cases} == EXPECTATIONS


@pytest.mark.parametrize("with_id", [True, False])
def test_the_mappings_load_and_map_what_the_issue_names(with_id: bool) -> None:
    inbound = MAPPINGS[with_id].inbound

    assert inbound is not None
    assert set(inbound.event_types) == set(EVENT_TYPES)
    assert (inbound.id is not None) is with_id
    assert {"post_id", "ghl_post_id", "tag_ids", "record.contact_id"} <= set(inbound.fields)


def test_valid_token_bodies_make_valid_events(token_cases: list[fz.FuzzCase]) -> None:
    valid = [c for c in token_cases if c.category == "token valid"]

    assert len(valid) > 150
    for case in valid:
        event, delivery_id = mapped_by_the_receiver(case)
        body = json.loads(fz.case_body(case))
        assert event.type in EVENT_TYPES
        assert ft.mapped_answer(body, TOKEN_TARGETS[case.target]) == "202"
        if TOKEN_TARGETS[case.target].delivery_id_mapped:
            assert delivery_id is not None
            assert delivery_id == ft.delivery_key(case, TOKEN_TARGETS[case.target])[1]
    assert {mapped_by_the_receiver(c)[0].type for c in valid} == set(EVENT_TYPES)
    titles = [json.loads(c.body).get("post", {}).get("title", "") for c in valid]
    assert any(len(title.strip()) > 500 for title in titles)  # truncate is exercised
    assert any(title != title.strip() for title in titles)  # and strip


# The examples of docs/mappings.md ("Inbound: what the receiver does with a body").
DOC_BODIES = [
    {"event": "social_post_published", "delivery": {"id": "dlv_1"},
     "post": {"id": "crm-1", "ghl_id": "ghl-9", "tags": [{"id": "t1"}]},
     "contact": {"id": "Contact.1.31"}},
    {"event": "tag_info", "delivery": {"id": 7},
     "post": {"id": "crm-1", "tags": [{"id": "t1"}, {"id": "t2"}]}, "contact": {"id": 31}},
    {"event": "stats", "delivery": {"id": "dlv_3"}, "contact": {"id": "Contact.1.2"}},
]  # fmt: skip


@pytest.mark.parametrize("body", DOC_BODIES)
@pytest.mark.parametrize("target", TOKEN_TARGETS[:2])
def test_the_documented_bodies_are_accepted(body: dict[str, Any], target: fz.FuzzTarget) -> None:
    assert ft.mapped_answer(body, target) == "202"


@pytest.mark.parametrize(
    ("change", "with_id", "without_id"),
    [
        ({"event": "contact_deleted"}, "422", "422"),
        ({"event": 1}, "422", "422"),
        ({"event": "post.published"}, "202", "202"),  # passes the map unchanged
        ({"delivery": {"id": True}}, "422", "202"),  # read only where the mapping has an id
        ({"delivery": {"id": None}}, "202", "202"),
        ({"delivery": {"id": 1.5}}, "202", "202"),
        ({"post": {"id": 5, "tags": [{"id": "t1"}]}}, "422", "422"),
        ({"post": {"id": "p", "tags": [{"id": "t1"}] * 501}}, "422", "422"),
        ({"post": {"id": "p", "tags": {"*": {"id": "t1"}}}}, "202", "202"),
        ({"post": {"id": "p", "tags": []}}, "422", "422"),
        ({"post": {"id": "p", "tags": [{"id": None}]}}, "422", "422"),
        ({"contact": {"id": ["Contact.1.2"]}}, "422", "422"),
        ({"contact": {"id": "c" * 513}}, "422", "422"),
        ({"contact": {"id": False}}, "202", "202"),
        ({"contact": {"id": None}}, "202", "202"),
        ({"sent_at": None}, "422", "422"),
        ({"sent_at": "2026-11-23T10:00:00+02:00"}, "202", "202"),
        ({"note": "\x00", "\ud800": 1}, "202", "202"),  # the mapping never reads them
    ],
)
def test_the_mapped_contract_for_a_tag_request(
    change: dict[str, Any], with_id: str, without_id: str
) -> None:
    body = {**DOC_BODIES[1], **change}

    assert ft.mapped_answer(body, TOKEN_TARGETS[0]) == with_id
    assert ft.mapped_answer(body, TOKEN_TARGETS[1]) == without_id


@pytest.mark.parametrize(
    ("title", "expect"),
    [
        (None, "202"),
        ("  " + "x" * 700, "202"),  # cut to 500 characters
        ("abc\x00", "422"),
        (" " * 3 + "x" * 500 + "\x00", "202"),  # the NUL lies past the cut
        ("x\udfffy", "422"),
        (["x"], "422"),  # a list cannot be truncated
        (12, "422"),
    ],
)
def test_the_mapped_contract_for_a_title(title: Any, expect: str) -> None:
    body = {**DOC_BODIES[0], "post": {"id": "crm-1", "title": title}}

    assert ft.mapped_answer(body, TOKEN_TARGETS[0]) == expect


def test_a_token_request_carries_the_token_and_no_signature(
    token_cases: list[fz.FuzzCase],
) -> None:
    case = next(c for c in token_cases if c.category == "token valid")
    request = token_request_of(case)
    headers = token_headers_of(case)

    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & set(headers)
    assert request.target == b"/webhooks/crm/" + TOKEN_TARGETS[case.target].connection_id.encode()
    with pytest.raises(ValueError, match="token"):
        fz.build_request(case, TOKEN_TARGETS[case.target], SECRET, NOW)


@pytest.mark.parametrize(
    ("mode", "authorization"),
    [
        (fz.NO_AUTHORIZATION, None),
        (fz.TOKEN_IN_QUERY, None),
        (fz.OTHER_TOKEN, f"Bearer {OTHER_TOKEN}"),
        ("the scheme in lower case", f"bearer {TOKEN}"),
        ("the token less its last character", f"Bearer {TOKEN[:-1]}"),
        ("a NUL after the token", f"Bearer {TOKEN}\x00"),
    ],
)
def test_each_bearer_mode_makes_its_header(
    token_cases: list[fz.FuzzCase], mode: str, authorization: str | None
) -> None:
    case = replace(next(c for c in token_cases if c.category == "token valid"), bearer=mode)

    assert token_headers_of(case).get("Authorization") == authorization
    assert (b"?token=" in token_request_of(case).target) is (mode == fz.TOKEN_IN_QUERY)


def test_a_signature_instead_of_the_token_is_one_the_connection_would_verify(
    token_cases: list[fz.FuzzCase],
) -> None:
    case = next(c for c in token_cases if c.bearer == fz.SIGNED_INSTEAD)
    now = int(time.time())
    request = fz.build_request(case, TOKEN_TARGETS[case.target], SECRET, now, token=TOKEN)
    headers = {n.decode(): v.decode() for n, v in request.headers}

    assert "Authorization" not in headers
    assert case.expect == "401"
    Webhook(SECRET).verify(fz.case_body(case), headers, json_parse=False)


def test_repeats_are_expected_to_be_duplicates(token_cases: list[fz.FuzzCase]) -> None:
    accepted: dict[tuple[int, tuple[str, str]], fz.FuzzCase] = {}
    repeats = 0
    for case in token_cases:
        if case.expect not in ("200", "202"):
            continue
        key = (case.target, ft.delivery_key(case, TOKEN_TARGETS[case.target]))
        # A 200 repeats an earlier accepted delivery to the same connection; a 202 repeats none.
        assert (case.expect == "200") is (key in accepted)
        repeats += case.expect == "200"
        accepted.setdefault(key, case)
    resends = [c for c in token_cases if c.category == "token resend"]
    assert repeats > 50
    assert {c.expect for c in resends} == {"200", "202"}


def test_ids_differing_only_in_lone_surrogates_are_expected_as_new_deliveries(
    token_cases: list[fz.FuzzCase],
) -> None:
    by_number = {c.number: c for c in token_cases}
    swapped = [
        c
        for c in token_cases
        if "lone surrogate(s) changed" in c.description
        and TOKEN_TARGETS[c.target].delivery_id_mapped
    ]

    assert swapped
    for case in swapped:
        resent = re.search(r"as case (\d+)", case.description)
        assert resent is not None
        _, new_id = mapped_by_the_receiver(case)
        _, old_id = mapped_by_the_receiver(by_number[int(resent[1])])
        assert new_id is not None
        assert old_id is not None
        assert new_id != old_id
        # What made them one delivery before 5a844a9: lone surrogates encoded as "?".
        assert new_id.encode("utf-8", "replace") == old_id.encode("utf-8", "replace")
    assert "202" in {c.expect for c in swapped}


def test_without_a_delivery_id_a_respaced_body_is_a_new_delivery(
    token_cases: list[fz.FuzzCase],
) -> None:
    respaced = [c for c in token_cases if "spaced otherwise" in c.description]
    by_mapping = {
        with_id: {
            c.expect for c in respaced if TOKEN_TARGETS[c.target].delivery_id_mapped is with_id
        }
        for with_id in (True, False)
    }

    assert by_mapping[True] == {"200"}
    assert "202" in by_mapping[False]


def test_hostile_values_reach_the_mapped_paths(token_cases: list[fz.FuzzCase]) -> None:
    def described(category: str) -> str:
        return " ".join(c.description for c in token_cases if c.category == category)

    for place in ("event", "delivery.id", "post.id", "post.title", "post.tags", "contact.id"):
        assert f"as {place} (" in described("mapped types")
        assert f"in {place} (" in described("mapped strings") or place == "post.tags"
    assert "10,000 tags" in described("mapped sizes")
    assert "a record value of 513 characters" in described("mapped sizes")
    assert "keys like selectors" in described("mapped keys")
    assert "event 'post.published'" in described("mapped event")
    bodies = [c.body for c in token_cases if c.category == "mapped strings"]
    assert any(b"\\u0000" in body for body in bodies)
    assert any(b"\\ud8" in body or b"\\udc" in body or b"\\udf" in body for body in bodies)


def test_mapped_nesting_is_within_or_past_the_limit_as_it_says(
    token_cases: list[fz.FuzzCase],
) -> None:
    nested = [c for c in token_cases if c.category == "mapped nesting"]

    assert nested
    for case in nested:
        depth = json_depth(case.body)
        assert (depth > fz.MAX_NESTING) is (" in all " not in case.description)
        if depth > fz.MAX_NESTING:
            assert case.expect == "422"
    assert any(json_depth(c.body) == fz.MAX_NESTING for c in nested)


def test_a_body_over_the_limit_is_expected_to_be_refused_first() -> None:
    small = [replace(t, max_body_bytes=4096) for t in TOKEN_TARGETS]
    cases = ft.generate_token_cases(3, 600, small)
    over = [c for c in cases if len(fz.case_body(c)) > 4096 and not c.chunked]

    assert over
    assert all(c.expect == "413" for c in over if c.connection is None and c.method == b"POST")


def test_interleave_spreads_one_list_through_the_other(
    signature_cases: list[fz.FuzzCase], token_cases: list[fz.FuzzCase]
) -> None:
    merged = fz.interleave(signature_cases, token_cases[:100])

    assert [c for c in merged if c.bearer is None] == signature_cases
    assert [c for c in merged if c.bearer is not None] == token_cases[:100]
    # Every fourth request or so is a token one, from the start to the end.
    assert all(any(c.bearer for c in merged[i : i + 8]) for i in range(0, 400, 8))


def test_token_requests_may_be_none_but_not_fewer(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.parse_args([]).token_requests == 1500
    assert fuzz.parse_args(["--token-requests", "0"]).token_requests == 0
    with pytest.raises(SystemExit):
        fuzz.parse_args(["--token-requests", "-1"])

    assert "--token-requests: expected a whole number, 0 or more" in capsys.readouterr().err


def imported_modules(module_file: str) -> set[str]:
    """The modules a source file imports (``import x`` and ``from x import y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(module_file).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_shared_module_imports_nothing_of_the_token_one() -> None:
    # The token cases build on the shared pieces; the other way round would be a cycle.
    assert "tests.faults.fuzzcases" in imported_modules(ft.__file__)
    assert not any("fuzzcases_token" in name for name in imported_modules(fz.__file__))


@pytest.fixture
def ghl_locations() -> list[tuple[str, str]]:
    """The (location, token) pairs the stack was asked to add to the GHL sandbox."""
    return []


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ghl_locations: list[tuple[str, str]]
) -> Iterator[FaultStack]:
    """A stack with only its store: no process and no sandbox is started."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    migrate.upgrade(url)
    made = FaultStack(tmp_path, sandboxes=False)
    made.settings = Settings.from_mapping({"database_url": url, "secret_key": "k" * 32})
    made.store = Store(url, made.settings.secret_key)

    def add_ghl_location(location_id: str, token: str) -> None:
        ghl_locations.append((location_id, token))

    monkeypatch.setattr(made, "add_ghl_location", add_ghl_location)
    yield made
    made.store.dispose()


def test_the_fuzz_run_makes_token_connections_with_their_mappings(
    stack: FaultStack, ghl_locations: list[tuple[str, str]]
) -> None:
    connections, targets = fuzz._connections(stack, 4, token_auth=True)

    assert [c.name for c in connections] == [f"fuzz-token-{n}" for n in range(4)]
    assert all(c.inbound_auth == "token" and c.inbound_token for c in connections)
    assert [t.delivery_id_mapped for t in targets] == [True, False, True, False]
    for connection, target in zip(connections, targets, strict=True):
        assert connection.mapping == ft.mapping_text(delivery_id=target.delivery_id_mapped)
        assert target.connection_id == connection.id
        assert target.location_id == connection.location_id
        assert target.tag_ids  # the sandbox location's seeded tags
    assert ghl_locations == [(f"loc_fuzz_token_{n}", f"pit-fuzz-token-{n}") for n in range(4)]


def test_the_fuzz_run_makes_signature_connections_as_before(stack: FaultStack) -> None:
    connections, targets = fuzz._connections(stack, 2)

    assert [c.name for c in connections] == ["fuzz-0", "fuzz-1"]
    assert all(c.inbound_auth == "signature" and c.inbound_token is None for c in connections)
    assert all(c.mapping is None for c in connections)
    assert [t.location_id for t in targets] == ["loc_fuzz_0", "loc_fuzz_1"]
    assert not any(t.delivery_id_mapped for t in targets)

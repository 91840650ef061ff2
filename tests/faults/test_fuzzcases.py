"""The fuzz generator: reproducible from its seed, and each case is what it says it is."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from schemas.events import EVENT_TYPES
from tests.faults import fuzzcases as fz
from tests.faults.rawhttp import RawRequest

SECRET = "whsec_" + base64.b64encode(b"fuzz-test-secret-0123456789").decode()
NOW = 1_800_000_000
TARGETS = [
    fz.FuzzTarget(
        connection_id=f"con_000000000000000{n}",
        location_id=f"loc_{n}",
        tag_ids=tuple(f"tag_{n}_{i}" for i in range(10)),
        ghl_post_ids=(f"post_{n}_1",),
        max_body_bytes=4096,
    )
    for n in range(3)
]


@pytest.fixture(scope="module")
def cases() -> list[fz.FuzzCase]:
    return fz.generate_cases(7, 1500, TARGETS)


def request_of(case: fz.FuzzCase, now: int = NOW) -> RawRequest:
    return fz.build_request(case, TARGETS[case.target], SECRET, now)


def headers_of(case: fz.FuzzCase, now: int = NOW) -> dict[str, str]:
    return {n.decode("latin-1"): v.decode("latin-1") for n, v in request_of(case, now).headers}


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects, strings skipped (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        char = chr(byte)
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def test_the_same_seed_gives_the_same_requests(cases: list[fz.FuzzCase]) -> None:
    assert fz.generate_cases(7, 1500, TARGETS) == cases
    assert fz.generate_cases(8, 1500, TARGETS) != cases
    assert [request_of(c) for c in cases[:200]] == [request_of(c) for c in cases[:200]]


def test_every_category_and_target_is_used(cases: list[fz.FuzzCase]) -> None:
    assert [c.category for c in cases[: len(fz.CATEGORIES)]] == list(fz.CATEGORIES)
    assert {c.target for c in cases} == {0, 1, 2}
    assert len({c.webhook_id for c in cases if c.category != "resend"}) > 1000


def test_a_valid_case_is_signed_as_the_receiver_checks_it(cases: list[fz.FuzzCase]) -> None:
    valid = [c for c in cases if c.category == "valid"]
    assert len(valid) > 100
    for case in valid:
        request = request_of(case, now=int(time.time()))
        body = fz.case_body(case)
        headers = {n.decode(): v.decode() for n, v in request.headers}
        Webhook(SECRET).verify(body, headers, json_parse=False)
        event = json.loads(body)
        assert event["type"] in EVENT_TYPES
        assert request.target == b"/webhooks/crm/" + TARGETS[case.target].connection_id.encode()


def test_a_stale_signature_is_stale(cases: list[fz.FuzzCase]) -> None:
    stale = next(c for c in cases if c.signing == fz.STALE)

    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(
            fz.case_body(stale), headers_of(stale, now=int(time.time())), json_parse=False
        )


@pytest.mark.parametrize(
    ("mode", "missing"),
    [
        (fz.MISSING_ID, {"webhook-id"}),
        (fz.MISSING_SIGNATURE, {"webhook-signature"}),
        (fz.UNSIGNED, {"webhook-id", "webhook-timestamp", "webhook-signature"}),
    ],
)
def test_missing_headers_are_missing(
    cases: list[fz.FuzzCase], mode: str, missing: set[str]
) -> None:
    case = next(c for c in cases if c.category == "valid")
    sent = headers_of(fz.FuzzCase(**{**case.__dict__, "signing": mode}))

    assert not missing & set(sent)


def test_nesting_cases_are_deeper_than_allowed(cases: list[fz.FuzzCase]) -> None:
    nested = [c for c in cases if c.category == "nesting"]

    assert nested
    assert all(json_depth(c.body) > fz.MAX_NESTING for c in nested)
    assert max(json_depth(c.body) for c in nested) >= 1000


def test_bad_string_cases_hold_a_lone_surrogate_or_a_nul(cases: list[fz.FuzzCase]) -> None:
    bad = [c for c in cases if c.category == "bad strings"]

    assert bad
    assert all(b"\\ud8" in c.body or b"\\udc" in c.body or b"\\udf" in c.body
               or b"\\u0000" in c.body for c in bad)  # fmt: skip


def test_size_cases_are_padded_to_the_byte_and_stay_valid_json(cases: list[fz.FuzzCase]) -> None:
    padded = [c for c in cases if c.pad_to is not None]

    assert {c.pad_to for c in padded} >= {4096, 4097}
    for case in padded:
        body = fz.case_body(case)
        assert len(body) == case.pad_to
        assert json.loads(body) == json.loads(case.body)
        assert case.expect == ("413" if len(body) > 4096 else "202")


def test_chunked_requests_carry_the_whole_body() -> None:
    request = RawRequest(b"POST", b"/x", (), body=b"a" * 40000, chunked=True)
    head, _, wire = request.encode(b"h").partition(b"\r\n\r\n")
    received = b""
    while True:
        size_line, _, wire = wire.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        received, wire = received + wire[:size], wire[size + 2 :]

    assert b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    assert received == request.body


@pytest.mark.parametrize(
    ("expect", "status", "matches"),
    [
        ("202", 202, True),
        ("202", 200, False),
        ("4xx", 413, True),
        ("4xx", 500, False),
        ("not5xx", 404, True),
        ("not5xx", 503, False),
        ("422", None, False),
    ],
)
def test_answers_are_matched_against_the_contract(
    expect: str, status: int | None, matches: bool
) -> None:
    assert fz.answer_matches(expect, status) is matches

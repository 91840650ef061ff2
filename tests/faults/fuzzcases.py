"""Hostile requests for the webhook receiver, generated from a seed: the same seed, the same list.

    cases = generate_cases(seed=1, count=3000, targets=targets)
    request = build_request(cases[0], targets[cases[0].target], secret, now=int(time.time()))

Each case is one request and what the contract (docs/webhooks.md, docs/mappings.md, and
issue-level rules such as "nesting deeper than 32 levels is 422") says it must be answered:
``expect`` is a status, ``4xx``, or ``not5xx`` where several answers are right. Signatures
depend on the clock, so a case says how to sign (`SIGNING_MODES`) or how to authenticate
with a token (`BEARER_MODES`), and `build_request` makes those headers at send time.

This module holds what every case shares (`FuzzTarget`, `FuzzCase`, `answer_matches`,
`build_request`, `interleave`, and the helpers the generators use) and the signature targets'
cases. Signature targets (`generate_cases`) take our own event format under Standard Webhooks
signatures; their categories, each a function below: valid events of the three types (with
odd but valid text), resends of an earlier valid event, deep nesting, lone surrogates and NUL
in strings and keys, huge and tiny numbers, wrong types, unknown types and fields, bodies at
and over the size limit (Content-Length, chunked, lying lengths), Content-Types, signatures,
webhook-ids, connection ids, broken JSON, other methods, odd headers.

The token targets' cases (`Authorization: Bearer` and a mapping of the CRM's own body) are
`tests.faults.fuzzcases_token`'s, which builds on this module; nothing here imports it.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.events import (
    EVENT_TYPES,
    POST_PUBLISHED,
    STATISTICS_PLATFORMS,
    TAG_DETAILS_REQUESTED,
)
from tests.faults.rawhttp import RawRequest
from tests.faults.signing import signature

JSON = b"application/json"
WEBHOOK_PATH = b"/webhooks/crm/"
MAX_NESTING = 32
"""The deepest JSON the receiver must take; one level more is answered 422."""
STALE_SECONDS = 600
"""Past the receiver's ±5 minutes."""

# How the signature headers are made when the request is sent.
VALID = "valid"
UNSIGNED = "unsigned"
MISSING_ID = "missing webhook-id"
MISSING_TIMESTAMP = "missing webhook-timestamp"
MISSING_SIGNATURE = "missing webhook-signature"
WRONG_SECRET = "wrong secret"
STALE = "stale timestamp"
FUTURE = "future timestamp"
TIMESTAMP_TEXT = "timestamp not a number"
TIMESTAMP_NEGATIVE = "negative timestamp"
TIMESTAMP_HUGE = "timestamp of 20 digits"
TIMESTAMP_FRACTION = "timestamp with a fraction"
SIGNATURE_EMPTY = "empty signature"
SIGNATURE_NO_COMMA = "signature without a comma"
SIGNATURE_NOT_BASE64 = "signature not base64"
SIGNATURE_OTHER_VERSION = "signature of version v2"
SIGNATURE_AMONG_MANY = "right signature after 200 wrong ones"
SIGNATURE_OTHER_BODY = "signature of another body"
SIGNING_MODES = (
    VALID, UNSIGNED, MISSING_ID, MISSING_TIMESTAMP, MISSING_SIGNATURE, WRONG_SECRET, STALE,
    FUTURE, TIMESTAMP_TEXT, TIMESTAMP_NEGATIVE, TIMESTAMP_HUGE, TIMESTAMP_FRACTION,
    SIGNATURE_EMPTY, SIGNATURE_NO_COMMA, SIGNATURE_NOT_BASE64, SIGNATURE_OTHER_VERSION,
    SIGNATURE_AMONG_MANY, SIGNATURE_OTHER_BODY,
)  # fmt: skip
WRONG_SECRET_VALUE = "whsec_" + "d3Jvbmctc2VjcmV0LWZvci1mdXp6aW5nLTEyMzQ1Ng=="


@dataclass(frozen=True)
class FuzzTarget:
    """The connection the requests are for, and what the system behind it knows."""

    connection_id: str
    location_id: str
    tag_ids: tuple[str, ...]
    ghl_post_ids: tuple[str, ...]
    max_body_bytes: int
    delivery_id_mapped: bool = False
    """A token target's: whether its mapping reads a delivery id
    (`fuzzcases_token.mapping_text`); without one, the receiver knows a repeat by the SHA-256
    of its body."""


@dataclass(frozen=True)
class FuzzCase:
    """One request, before it is signed, and the answer it must get."""

    number: int
    category: str
    description: str
    expect: str
    body: bytes
    webhook_id: bytes
    target: int = 0
    """Which of the targets (connections) it is sent to."""
    method: bytes = b"POST"
    connection: bytes | None = None
    """The path segment after /webhooks/crm/, as sent; None: the target's connection id."""
    content_type: bytes | None = JSON
    signing: str = VALID
    chunked: bool = False
    content_length: bytes | None = None
    pad_to: int | None = None
    """Pad the JSON body with spaces to this many bytes (kept out of memory until sent)."""
    extra_headers: tuple[tuple[bytes, bytes], ...] = field(default=())
    bearer: str | None = None
    """A token target's case: how its Authorization header is made (`BEARER_MODES`). None: a
    signature target's, signed as ``signing`` says."""


def answer_matches(expect: str, status: int | None) -> bool:
    """Whether ``status`` is an answer ``expect`` allows (None: no answer, never right)."""
    if status is None:
        return False
    if expect == "not5xx":
        return status < 500
    if expect == "4xx":
        return 400 <= status < 500
    return str(status) == expect


# --- sending -----------------------------------------------------------------------------------


def case_body(case: FuzzCase) -> bytes:
    """The body as sent: padded with spaces before its last byte when the case says so."""
    if case.pad_to is None or case.pad_to <= len(case.body):
        return case.body
    return case.body[:-1] + b" " * (case.pad_to - len(case.body)) + case.body[-1:]


def build_request(
    case: FuzzCase,
    target: FuzzTarget,
    secret: str,
    now: int,
    *,
    token: str | None = None,
    other_token: str | None = None,
) -> RawRequest:
    """The request of ``case``, signed (or not) as it says, at Unix time ``now``.

    A token target's case (``case.bearer`` set) needs the connection's inbound ``token``;
    ``secret`` is then the connection's own webhook secret, for the cases that sign instead,
    and ``other_token`` another connection's token (a made-up one when None).
    """
    body = case_body(case)
    connection = target.connection_id.encode() if case.connection is None else case.connection
    headers: list[tuple[bytes, bytes]] = []
    if case.content_type is not None:
        headers.append((b"Content-Type", case.content_type))
    if case.bearer is None:
        headers += _signature_headers(case, body, secret, now)
    else:
        if token is None:
            raise ValueError(f"case {case.number} is for a token target: give its token")
        headers += _bearer_headers(case, body, secret, now, token, other_token or WRONG_TOKEN)
        if case.bearer == TOKEN_IN_QUERY:
            connection += b"?token=" + token.encode()
    headers += case.extra_headers
    return RawRequest(
        method=case.method,
        target=WEBHOOK_PATH + connection,
        headers=tuple(headers),
        body=body,
        chunked=case.chunked,
        content_length=case.content_length,
    )


def _signature_headers(
    case: FuzzCase, body: bytes, secret: str, now: int
) -> list[tuple[bytes, bytes]]:
    mode = case.signing
    if mode == UNSIGNED:
        return []
    timestamp = {
        STALE: str(now - STALE_SECONDS).encode(),
        FUTURE: str(now + STALE_SECONDS).encode(),
        TIMESTAMP_TEXT: b"yesterday",
        TIMESTAMP_NEGATIVE: b"-1",
        TIMESTAMP_HUGE: b"9" * 20,
        TIMESTAMP_FRACTION: f"{now}.5".encode(),
    }.get(mode, str(now).encode())
    key = WRONG_SECRET_VALUE if mode == WRONG_SECRET else secret
    signed_body = body + b" " if mode == SIGNATURE_OTHER_BODY else body
    right = signature(key, case.webhook_id, timestamp, signed_body).encode()
    value = {
        SIGNATURE_EMPTY: b"",
        SIGNATURE_NO_COMMA: b"v1",
        SIGNATURE_NOT_BASE64: b"v1,!!!not base64!!!",
        SIGNATURE_OTHER_VERSION: b"v2," + right[3:],
        SIGNATURE_AMONG_MANY: b" ".join([b"v1,AAAA"] * 200 + [right]),
    }.get(mode, right)
    headers = [
        (b"webhook-id", case.webhook_id),
        (b"webhook-timestamp", timestamp),
        (b"webhook-signature", value),
    ]
    missing = {
        MISSING_ID: b"webhook-id",
        MISSING_TIMESTAMP: b"webhook-timestamp",
        MISSING_SIGNATURE: b"webhook-signature",
    }.get(mode)
    return [header for header in headers if header[0] != missing]


# --- sending to token targets: the Authorization header ----------------------------------------

# How the Authorization header of a token target's request is made, and the answer it gets
# (for a valid body). RFC 9110: the scheme is case-insensitive, and one or more spaces may
# follow it. Values gunicorn refuses before the app (NUL and control characters, a field over
# its 8,190 bytes) are a 400 or 431 there, a 401 in the app: 4xx either way.
BEARER = "Bearer and the token"
NO_AUTHORIZATION = "no Authorization header"
OTHER_TOKEN = "another connection's token"
AUTHORIZATION_TWICE = "a wrong Authorization header, then the right one"
SIGNED_INSTEAD = "a valid signature (the connection's own secret) and no token"
SIGNED_AND_TOKEN = "the token and a valid signature"
TOKEN_IN_QUERY = "the token in the query string, no header"
WRONG_TOKEN = "sbt_" + "A" * 43
"""A token of the real form (`sbt_` and 43 URL-safe characters) that no connection has."""
_BEARER_VALUES: Final[dict[str, Callable[[bytes], bytes]]] = {
    BEARER: lambda token: b"Bearer " + token,
    "the scheme in lower case": lambda token: b"bearer " + token,
    "the scheme in upper case": lambda token: b"BEARER " + token,
    "two spaces before the token": lambda token: b"Bearer  " + token,
    "an empty Authorization header": lambda _: b"",
    "Bearer and no token": lambda _: b"Bearer",
    "Bearer and spaces": lambda _: b"Bearer    ",
    "Basic with the token as password": lambda token: b"Basic " + base64.b64encode(b"crm:" + token),
    "the scheme Token": lambda token: b"Token " + token,
    "the token without a scheme": lambda token: token,
    "a wrong token of the same form": lambda _: b"Bearer " + WRONG_TOKEN.encode(),
    "the token less its last character": lambda token: b"Bearer " + token[:-1],
    "the token and one character more": lambda token: b"Bearer " + token + b"A",
    "the token in upper case": lambda token: b"Bearer " + token.upper(),
    "a tab instead of the space": lambda token: b"Bearer\t" + token,
    "Bearer and 8,000 characters": lambda _: b"Bearer " + b"A" * 8000,
    "Bearer and 20,000 characters": lambda _: b"Bearer " + b"A" * 20_000,
    "the token with UTF-8 letters": lambda token: b"Bearer " + token + "é✓".encode(),
    "the token with a Latin-1 byte": lambda token: b"Bearer " + token + b"\xe9",
    "a NUL after the token": lambda token: b"Bearer " + token + b"\x00",
    "a NUL as the token": lambda _: b"Bearer \x00",
    "a control character in the token": lambda token: b"Bearer " + token[:8] + b"\x01" + token[8:],
}
BEARER_MODES: Final[dict[str, str]] = {
    BEARER: "202",
    "the scheme in lower case": "202",
    "the scheme in upper case": "202",
    "two spaces before the token": "202",
    NO_AUTHORIZATION: "401",
    "an empty Authorization header": "401",
    "Bearer and no token": "401",
    "Bearer and spaces": "401",
    "Basic with the token as password": "401",
    "the scheme Token": "401",
    "the token without a scheme": "401",
    "a wrong token of the same form": "401",
    OTHER_TOKEN: "401",
    "the token less its last character": "401",
    "the token and one character more": "401",
    "the token in upper case": "401",
    "a tab instead of the space": "401",
    "Bearer and 8,000 characters": "401",
    "Bearer and 20,000 characters": "4xx",
    "the token with UTF-8 letters": "401",
    "the token with a Latin-1 byte": "401",
    "a NUL after the token": "4xx",
    "a NUL as the token": "4xx",
    "a control character in the token": "4xx",
    AUTHORIZATION_TWICE: "4xx",
    SIGNED_INSTEAD: "401",
    SIGNED_AND_TOKEN: "202",
    TOKEN_IN_QUERY: "401",
}
"""Each way of authenticating a token target's request, and its answer for a valid body."""


def _bearer_headers(
    case: FuzzCase, body: bytes, secret: str, now: int, token: str, other_token: str
) -> list[tuple[bytes, bytes]]:
    mode = case.bearer
    right = b"Bearer " + token.encode()
    if mode in (NO_AUTHORIZATION, TOKEN_IN_QUERY):
        return []
    if mode == SIGNED_INSTEAD:
        return _signature_headers(case, body, secret, now)
    if mode == SIGNED_AND_TOKEN:
        return [(b"Authorization", right), *_signature_headers(case, body, secret, now)]
    if mode == AUTHORIZATION_TWICE:
        return [(b"Authorization", b"Bearer " + WRONG_TOKEN.encode()), (b"Authorization", right)]
    if mode == OTHER_TOKEN:
        return [(b"Authorization", b"Bearer " + other_token.encode())]
    if mode not in _BEARER_VALUES:
        raise ValueError(f"unknown bearer mode {mode!r}")
    return [(b"Authorization", _BEARER_VALUES[mode](token.encode()))]


# --- generating --------------------------------------------------------------------------------

Draft = dict[str, Any]
"""The fields of a FuzzCase a category chose (number and webhook_id are added after)."""
Category = Callable[[random.Random, FuzzTarget, Sequence[FuzzCase]], Draft]


def generate_cases(seed: int, count: int, targets: Sequence[FuzzTarget]) -> list[FuzzCase]:
    """``count`` cases spread over the targets, the same for the same seed and targets."""
    if not targets:
        raise ValueError("targets: give at least one connection to send to")
    rng = random.Random(seed)
    names = list(CATEGORIES)
    weights = [CATEGORIES[name][1] for name in names]
    cases: list[FuzzCase] = []
    for number in range(count):
        # The first cases go through every category once, so even a short run covers all.
        name = names[number] if number < len(names) else rng.choices(names, weights)[0]
        target = rng.randrange(len(targets))
        draft = CATEGORIES[name][0](rng, targets[target], cases)
        draft.setdefault("target", target)
        draft.setdefault("webhook_id", f"fz-{seed}-{number}".encode())
        cases.append(FuzzCase(number=number, category=name, **draft))
    return cases


def interleave(first: Sequence[FuzzCase], second: Sequence[FuzzCase]) -> list[FuzzCase]:
    """Both lists as one, each in its own order, ``second`` spread evenly through ``first``."""

    def place(index: int, size: int) -> float:
        return (index + 1) / (size + 1)

    keyed = [(place(i, len(first)), 0, i, case) for i, case in enumerate(first)]
    keyed += [(place(i, len(second)), 1, i, case) for i, case in enumerate(second)]
    return [case for *_, case in sorted(keyed, key=lambda item: item[:3])]


def _valid(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    event = valid_event(rng, target)
    chunked = rng.random() < 0.1
    content_type = rng.choice([JSON, JSON, b"application/json; charset=utf-8"])
    return {
        "description": f"valid {event['type']}" + (", chunked" if chunked else ""),
        "expect": "202",
        "body": dumps(event, ascii_only=rng.random() < 0.3),
        "chunked": chunked,
        "content_type": content_type,
    }


def _resend(rng: random.Random, target: FuzzTarget, earlier: Sequence[FuzzCase]) -> Draft:
    sent = [case for case in earlier if case.category == "valid"]
    if not sent:
        return _valid(rng, target, earlier)
    original = rng.choice(sent)
    return {
        "description": f"the same webhook-id and body as case {original.number} again",
        "expect": "200",
        "body": original.body,
        "webhook_id": original.webhook_id,
        "content_type": original.content_type,
        "target": original.target,
    }


def _nesting(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    # The deepest still fits the size limit as objects (6 bytes a level): a 413 tells nothing.
    depth = rng.choice([MAX_NESTING + 1, 40, 100, 1000, 1000, 5000, 20_000])
    shape = rng.choice(["list", "object"])
    nested = "[" * depth + "]" * depth if shape == "list" else '{"a":' * depth + "1" + "}" * depth
    place = rng.choice(["data", "data.post_id", "data.extra", "body", "data.tag_ids"])
    body = with_raw_json(valid_event(rng, target, POST_PUBLISHED), place, nested)
    return {
        "description": f"{shape}s nested {depth} levels deep at {place}",
        "expect": "422",
        "body": body,
    }


BAD_TEXT = {
    "a lone high surrogate": '"\\ud800"',
    "a lone low surrogate": '"x\\udfffy"',
    "surrogates in the wrong order": '"\\udc00\\ud800"',
    "an unpaired emoji half": '"post \\ud83d"',
    "a NUL": '"\\u0000"',
    "a NUL inside": '"abc\\u0000def"',
}


def _bad_strings(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    what = rng.choice(list(BAD_TEXT))
    kind = rng.choice(EVENT_TYPES[:2])
    places = ["data.post_id", "type", "timestamp", "data.location_id"]
    places += ["data.title", "data.ghl_post_id"] if kind == POST_PUBLISHED else ["data.tag_ids.0"]
    if rng.random() < 0.25:  # in a key rather than a value
        event = valid_event(rng, target, kind)
        text = dumps(event).decode()
        keyed = text[:-1] + f", {BAD_TEXT[what]}: 1}}"
        return {"description": f"{what} in a key", "expect": "422", "body": keyed.encode()}
    place = rng.choice(places)
    body = with_raw_json(valid_event(rng, target, kind), place, BAD_TEXT[what])
    return {"description": f"{what} in {place}", "expect": "422", "body": body}


NUMBERS = [
    "1e309", "-1e309", "1e-400", "NaN", "Infinity", "-Infinity", "-0", "0.0", "1.5",
    "123456789012345678901234567890", "1" + "0" * 5000, "0.1e99999", "-9223372036854775809",
]  # fmt: skip


def _numbers(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    number = rng.choice(NUMBERS)
    kind = rng.choice(EVENT_TYPES)
    by_kind = {
        POST_PUBLISHED: ["data.post_id", "data.published_at", "data.title"],
        TAG_DETAILS_REQUESTED: ["data.post_id", "data.tag_ids", "data.tag_ids.0"],
    }
    places = ["type", "timestamp", "data", "body"]
    places += by_kind.get(kind, ["data.start_date", "data.profile_ids.0", "data.platforms"])
    place = rng.choice(places)
    event = valid_event(rng, target, kind)
    if place.startswith("data.profile_ids"):
        event["data"]["profile_ids"] = ["p1"]
    shown = number if len(number) < 40 else f"{number[:12]}… ({len(number)} digits)"
    return {
        "description": f"the number {shown} as {place}",
        "expect": "422",
        "body": with_raw_json(event, place, number),
    }


WRONG_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, "", " ", [], {}, [None], [[]], "x" * 1000]


def _wrong_types(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    event = valid_event(rng, target, kind)
    places = ["type", "timestamp", "data"] + [f"data.{name}" for name in _FIELDS[kind]]
    place = rng.choice(places)
    value = rng.choice([*WRONG_VALUES, "x" * rng.choice([201, 501, 100_000])])
    if rng.random() < 0.1:
        place, value = "body", rng.choice([[], "event", 1, None, [event]])
    body = with_raw_json(event, place, json.dumps(value))
    # Some of these are right (a null optional field, an empty title); none may be a 5xx.
    return {
        "description": f"{shown_value(value)} as {place}",
        "expect": "not5xx",
        "body": body,
    }


def _unknown(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    event = valid_event(rng, target)
    choice = rng.randrange(5)
    if choice == 0:
        event["type"] = rng.choice(
            ["post.deleted", "POST.PUBLISHED", "post.published ", "", random_text(rng, 1, 300)]
        )
        what = "an unknown type"
    elif choice == 1:
        event["data"][random_text(rng, 1, 40)] = random_text(rng, 0, 40)
        what = "an unknown field in data"
    elif choice == 2:
        event[rng.choice(["extra", "id", "Type", "data "])] = 1
        what = "an unknown field beside type"
    elif choice == 3:
        del event[rng.choice(["type", "timestamp", "data"])]
        what = "a missing field"
    else:
        event["data"] = {}
        what = "empty data"
    statistics_with_nothing = event.get("type") == "statistics.requested" and choice == 4
    return {
        "description": what,
        "expect": "202" if statistics_with_nothing else "422",
        "body": dumps(event),
    }


def _size(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    limit = target.max_body_bytes
    body = dumps(valid_event(rng, target))
    length = str(len(body)).encode()
    variants: list[Draft] = [
        {"description": "one byte over the limit, Content-Length", "pad_to": limit + 1,
         "expect": "413"},
        {"description": "four times the limit, Content-Length", "pad_to": 4 * limit,
         "expect": "413"},
        {"description": "one byte over the limit, chunked", "pad_to": limit + 1, "chunked": True,
         "expect": "413"},
        {"description": "eight times the limit, chunked", "pad_to": 8 * limit, "chunked": True,
         "expect": "413"},
        {"description": "exactly the limit, Content-Length", "pad_to": limit, "expect": "202"},
        {"description": "exactly the limit, chunked", "pad_to": limit, "chunked": True,
         "expect": "202"},
        {"description": "small, chunked", "chunked": True, "expect": "202"},
        {"description": "a Content-Length ten times the limit and a short body",
         "content_length": str(10 * limit).encode(), "expect": "413"},
        # Cut short by the sender's close: a 400, or (gunicorn reads to the end) the signed
        # bytes that did arrive, accepted. Either is right.
        {"description": "a Content-Length larger than the body",
         "content_length": str(len(body) + 50).encode(), "expect": "not5xx"},
        {"description": "a Content-Length smaller than the body",
         "content_length": str(len(body) - 10).encode(), "expect": "4xx"},
        {"description": "a Content-Length that is not a number", "content_length": b"lots",
         "expect": "4xx"},
        {"description": "a negative Content-Length", "content_length": b"-1", "expect": "4xx"},
        {"description": "Content-Length and chunked together", "content_length": length,
         "chunked": True, "expect": "4xx"},
    ]  # fmt: skip
    return {"body": body, **rng.choice(variants)}


CONTENT_TYPES: list[tuple[bytes | None, str]] = [
    (None, "415"),
    (b"", "415"),
    (b"text/plain", "415"),
    (b"text/json", "415"),
    (b"application/x-www-form-urlencoded", "415"),
    (b"multipart/form-data; boundary=xyz", "415"),
    (b"application/xml", "415"),
    (b"application/jsonx", "415"),
    (b"application/json-seq", "415"),
    (b"json", "415"),
    (b"application/json; charset=utf-8", "202"),
    (b"application/json;charset=UTF-8", "202"),
    (b"Application/JSON", "202"),
    (b"application/cloudevents+json", "202"),
    (b"application/vnd.crm.event+json; version=2", "202"),
    (b"application/json, text/plain", "not5xx"),
    (b"application/json\x00", "not5xx"),
    (b"application/" + b"x" * 5000, "415"),
]


def _content_type(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    value, expect = rng.choice(CONTENT_TYPES)
    shown = "no Content-Type" if value is None else f"Content-Type {value[:60]!r}"
    return {
        "description": shown,
        "expect": expect,
        "body": dumps(valid_event(rng, target)),
        "content_type": value,
    }


def _signature(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    mode = rng.choice([m for m in SIGNING_MODES if m != VALID])
    # Several signatures may be sent for rotation; the right one among wrong ones is fine.
    expect = "202" if mode == SIGNATURE_AMONG_MANY else "401"
    return {
        "description": mode,
        "expect": expect,
        "body": dumps(valid_event(rng, target)),
        "signing": mode,
    }


def _webhook_id(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    unique = f"{rng.getrandbits(32):08x}".encode()
    choices: list[tuple[str, bytes, str]] = [
        ("an empty webhook-id", b"", "401"),
        ("a NUL in the webhook-id", b"fz\x00" + unique, "4xx"),
        ("a control character in the webhook-id", b"fz\x01" + unique, "not5xx"),
        ("a UTF-8 webhook-id", "fz-café-✓-".encode() + unique, "not5xx"),
        ("a Latin-1 webhook-id", b"fz-caf\xe9-" + unique, "not5xx"),
        ("a webhook-id of 255 characters", unique + b"x" * 247, "202"),
        ("a webhook-id of 256 characters", unique + b"x" * 248, "401"),
        ("a webhook-id of 10,000 characters", unique + b"x" * 9992, "4xx"),
        ("spaces in the webhook-id", b" fz " + unique + b" ", "not5xx"),
        ("dots in the webhook-id", b"evt_1.post.tags_synced." + unique, "202"),
    ]
    description, webhook_id, expect = rng.choice(choices)
    return {
        "description": description,
        "expect": expect,
        "body": dumps(valid_event(rng, target)),
        "webhook_id": webhook_id,
    }


def _connection(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    choices: list[tuple[str, bytes, str]] = [
        ("an unknown connection id", b"con_0123456789abcdef", "404"),
        ("a percent-encoded NUL", b"%00", "4xx"),
        ("a percent-encoded NUL after the id", target.connection_id.encode() + b"%00", "4xx"),
        ("a raw NUL", b"con_\x00x", "4xx"),
        ("a UTF-8 connection id", "con_café".encode(), "4xx"),
        ("a percent-encoded UTF-8 connection id", b"con_caf%C3%A9", "404"),
        ("a percent-encoded invalid UTF-8 connection id", b"con_%ff%fe", "4xx"),
        ("a connection id of 300 characters", b"con_" + b"a" * 296, "404"),
        ("a connection id of 5,000 characters", b"con_" + b"a" * 4996, "4xx"),
        ("a dot-dot path", b"../../etc/passwd", "4xx"),
        ("an encoded dot-dot path", b"%2e%2e%2f%2e%2e%2fhealthz", "4xx"),
        ("no connection id", b"", "4xx"),
        ("a query string", target.connection_id.encode() + b"?debug=1&x=%00", "202"),
        ("an id in upper case", target.connection_id.upper().encode(), "404"),
    ]
    description, connection, expect = rng.choice(choices)
    return {
        "description": description,
        "expect": expect,
        "body": dumps(valid_event(rng, target)),
        "connection": connection,
    }


def _json_syntax(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    good = dumps(valid_event(rng, target))
    choices: list[tuple[str, bytes, str]] = [
        ("an empty body", b"", "422"),
        ("an unclosed object", b"{", "422"),
        ("an empty object", b"{}", "422"),
        ("an array", b"[]", "422"),
        ("null", b"null", "422"),
        ("a string", b'"post.published"', "422"),
        ("a trailing comma", good[:-1] + b",}", "422"),
        ("single quotes", good.replace(b'"', b"'"), "422"),
        ("two objects", good + good, "422"),
        ("a comment", b"/* hi */" + good, "422"),
        ("a byte-order mark", b"\xef\xbb\xbf" + good, "4xx"),
        ("UTF-16", good.decode().encode("utf-16"), "4xx"),
        ("invalid UTF-8", good[:-2] + b'\xff"}', "4xx"),
        ("a CESU-8 surrogate", good.replace(b'"type"', b'"\xed\xa0\x80type"', 1), "4xx"),
        ("an overlong NUL", good.replace(b'"type"', b'"\xc0\x80type"', 1), "4xx"),
        ("the last byte cut", good[:-1], "422"),
        # Python keeps the last value; refusing duplicate keys is as right.
        ("a duplicated key, the last one valid", b'{"type": 1, ' + good[1:], "not5xx"),
    ]
    description, body, expect = rng.choice(choices)
    return {"description": description, "expect": expect, "body": body}


def _method(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    method = rng.choice([b"GET", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS", b"BREW"])
    body = b"" if method in (b"GET", b"HEAD", b"OPTIONS") else dumps(valid_event(rng, target))
    return {"description": f"method {method.decode()}", "expect": "not5xx", "body": body,
            "method": method}  # fmt: skip


def _headers(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    event = valid_event(rng, target)
    body = dumps(event)
    choices: list[tuple[str, tuple[tuple[bytes, bytes], ...], str, bytes]] = [
        ("a second webhook-signature header", ((b"webhook-signature", b"v1,AAAA"),), "4xx", body),
        ("a second webhook-id header", ((b"webhook-id", b"other"),), "4xx", body),
        ("200 extra headers", tuple((b"x-h%d" % i, b"v") for i in range(200)), "4xx", body),
        ("a header line of 20,000 bytes", ((b"x-long", b"v" * 20_000),), "4xx", body),
        ("a header name with a space", ((b"x bad", b"v"),), "4xx", body),
        ("Expect: 100-continue", ((b"Expect", b"100-continue"),), "202", body),
        (
            "Content-Encoding: gzip",
            ((b"Content-Encoding", b"gzip"),),
            "4xx",
            gzip.compress(body, mtime=0),
        ),
    ]
    description, extra, expect, sent = rng.choice(choices)
    return {"description": description, "expect": expect, "body": sent, "extra_headers": extra}


CATEGORIES: dict[str, tuple[Category, int]] = {
    "valid": (_valid, 14),
    "resend": (_resend, 4),
    "nesting": (_nesting, 6),
    "bad strings": (_bad_strings, 10),
    "numbers": (_numbers, 7),
    "wrong types": (_wrong_types, 10),
    "unknown": (_unknown, 6),
    "size": (_size, 6),
    "content type": (_content_type, 7),
    "signature": (_signature, 9),
    "webhook-id": (_webhook_id, 6),
    "connection": (_connection, 6),
    "json": (_json_syntax, 6),
    "method": (_method, 2),
    "headers": (_headers, 3),
}
"""Each category's generator and its weight."""


# --- valid events ------------------------------------------------------------------------------

_FIELDS = {
    POST_PUBLISHED: ["post_id", "location_id", "ghl_post_id", "published_at", "title"],
    TAG_DETAILS_REQUESTED: ["post_id", "tag_ids", "location_id"],
    "statistics.requested": ["start_date", "end_date", "profile_ids", "platforms"],
}
_ALPHABETS = [
    string.ascii_letters + string.digits,
    string.ascii_letters + string.digits + "-_.:/#@ ",
    string.punctuation + ' \t\n"\\',
    "éèßøåñüÆŒ",
    "中文字符日本語한국어",
    "🙂🎉🏠📈👍🏽",
    "\u200b\u202e\u2028\u2029\ufeff\u00a0",
]


def random_text(rng: random.Random, shortest: int, longest: int) -> str:
    """Valid Unicode text (no surrogates, no NUL) of ``shortest``..``longest`` characters,
    usually short; letters mixed with punctuation, accents, CJK, emoji and invisibles."""
    length = min(longest, max(shortest, int(rng.expovariate(1 / 12))))
    if rng.random() < 0.05:
        length = longest
    alphabet = "".join(rng.sample(_ALPHABETS, rng.randint(1, 3)))
    return "".join(rng.choice(alphabet) for _ in range(length))


def valid_event(rng: random.Random, target: FuzzTarget, kind: str | None = None) -> dict[str, Any]:
    """An event the contract accepts (202), with odd but valid values."""
    kind = kind or rng.choice(EVENT_TYPES)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    timestamp = f"2026-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    data: dict[str, Any] = {}
    if kind == POST_PUBLISHED:
        data["post_id"] = random_text(rng, 1, 200)
        if rng.random() < 0.3:
            data["location_id"] = target.location_id
        if rng.random() < 0.4 and target.ghl_post_ids:
            data["ghl_post_id"] = rng.choice(target.ghl_post_ids)
        if rng.random() < 0.3:
            data["published_at"] = timestamp
        if rng.random() < 0.5:
            data["title"] = random_text(rng, 0, 500)
    elif kind == TAG_DETAILS_REQUESTED:
        data["post_id"] = random_text(rng, 1, 200)
        data["tag_ids"] = rng.sample(target.tag_ids, rng.randint(1, min(5, len(target.tag_ids))))
        if rng.random() < 0.2:
            data["tag_ids"].append("tag_unknown_" + random_text(rng, 1, 20))
    else:
        if rng.random() < 0.3:
            data["platforms"] = rng.sample(STATISTICS_PLATFORMS, rng.randint(1, 3))
        if rng.random() < 0.2:
            start = rng.randint(1, 20)
            data["start_date"] = f"2026-11-{start:02d}"
            data["end_date"] = f"2026-11-{start + rng.randint(0, 7):02d}"
    return {"type": kind, "timestamp": timestamp, "data": data}


# --- helpers the generators share --------------------------------------------------------------

_RAW = "__fuzz_token__"
"""Holds the place of the raw JSON in the dumped text until it is put in."""


def dumps(value: Any, *, ascii_only: bool = False) -> bytes:
    """``value`` as JSON: raw UTF-8, as most senders write it; ``\\u`` escapes when asked."""
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def with_raw_json(body: Mapping[str, Any], place: str, raw: str) -> bytes:
    """The body's JSON with the value at dotted ``place`` replaced by the JSON text ``raw``
    (which Python could not have dumped: NaN, 1e309, a lone surrogate escape, deep nesting).
    ``body`` replaces the whole body."""
    if place == "body":
        return raw.encode()
    copy = json.loads(json.dumps(body))
    keys = place.split(".")
    holder: Any = copy
    for key in keys[:-1]:
        holder = holder[int(key)] if isinstance(holder, list) else holder.setdefault(key, {})
    last = keys[-1]
    if isinstance(holder, list):
        index = int(last)
        while len(holder) <= index:
            holder.append(None)
        holder[index] = _RAW
    else:
        holder[last] = _RAW
    return json.dumps(copy).replace(f'"{_RAW}"', raw).encode()


def shown_value(value: Any) -> str:
    """``value`` for a case's description: its JSON, or the length of a long string."""
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    return json.dumps(value)

"""Hostile requests for the webhook receiver, generated from a seed: the same seed, the same list.

    cases = generate_cases(seed=1, count=3000, targets=targets)
    request = build_request(cases[0], targets[cases[0].target], secret, now=int(time.time()))
    mapped = generate_token_cases(seed=1, count=1500, targets=token_targets, first_number=3000)
    request = build_request(mapped[0], token_targets[mapped[0].target], secret, now, token=token)

Each case is one request and what the contract (docs/webhooks.md, docs/mappings.md, and
issue-level rules such as "nesting deeper than 32 levels is 422") says it must be answered:
``expect`` is a status, ``4xx``, or ``not5xx`` where several answers are right. Signatures
depend on the clock, so a case says how to sign (`SIGNING_MODES`) and `build_request` signs at
send time.

Two kinds of target. Signature targets (`generate_cases`) take our own event format under
Standard Webhooks signatures; their categories, each a function below: valid events of the
three types (with odd but valid text), resends of an earlier valid event, deep nesting, lone
surrogates and NUL in strings and keys, huge and tiny numbers, wrong types, unknown types and
fields, bodies at and over the size limit (Content-Length, chunked, lying lengths),
Content-Types, signatures, webhook-ids, connection ids, broken JSON, other methods, odd headers.

Token targets (`generate_token_cases`) take `Authorization: Bearer <inbound token>` and the
CRM's own JSON through a mapping (`mapping_text`): valid mapped bodies, repeats (by the mapped
delivery id, or by the body's SHA-256 where the mapping has no id), Authorization headers of
every wrong form, requests of the wrong form, and hostile values at and around the mapped
paths. Their expected answer is worked out by `mapped_answer`, the contract of the mapping
written out independently of the mapping engine, and a repeat of an accepted delivery is
expected to be 200. Their cases are drawn from their own random stream, so adding them left
the signature targets' cases as they were.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from schemas.events import (
    EVENT_TYPES,
    POST_PUBLISHED,
    STATISTICS_PLATFORMS,
    STATISTICS_REQUESTED,
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
    """A token target's: whether its mapping reads a delivery id (`mapping_text`); without
    one, the receiver knows a repeat by the SHA-256 of its body."""


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


# --- sending ---------------------------------------------------------------------------------


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


def _valid(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    event = valid_event(rng, target)
    chunked = rng.random() < 0.1
    content_type = rng.choice([JSON, JSON, b"application/json; charset=utf-8"])
    return {
        "description": f"valid {event['type']}" + (", chunked" if chunked else ""),
        "expect": "202",
        "body": _dumps(event, ascii_only=rng.random() < 0.3),
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
    body = _with_token(valid_event(rng, target, POST_PUBLISHED), place, nested)
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
        text = _dumps(event).decode()
        keyed = text[:-1] + f", {BAD_TEXT[what]}: 1}}"
        return {"description": f"{what} in a key", "expect": "422", "body": keyed.encode()}
    place = rng.choice(places)
    body = _with_token(valid_event(rng, target, kind), place, BAD_TEXT[what])
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
        "body": _with_token(event, place, number),
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
    body = _with_token(event, place, json.dumps(value))
    # Some of these are right (a null optional field, an empty title); none may be a 5xx.
    return {
        "description": f"{_kind_of(value)} as {place}",
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
        "body": _dumps(event),
    }


def _size(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    limit = target.max_body_bytes
    body = _dumps(valid_event(rng, target))
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
        "body": _dumps(valid_event(rng, target)),
        "content_type": value,
    }


def _signature(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    mode = rng.choice([m for m in SIGNING_MODES if m != VALID])
    # Several signatures may be sent for rotation; the right one among wrong ones is fine.
    expect = "202" if mode == SIGNATURE_AMONG_MANY else "401"
    return {
        "description": mode,
        "expect": expect,
        "body": _dumps(valid_event(rng, target)),
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
        "body": _dumps(valid_event(rng, target)),
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
        "body": _dumps(valid_event(rng, target)),
        "connection": connection,
    }


def _json_syntax(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    good = _dumps(valid_event(rng, target))
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
    body = b"" if method in (b"GET", b"HEAD", b"OPTIONS") else _dumps(valid_event(rng, target))
    return {"description": f"method {method.decode()}", "expect": "not5xx", "body": body,
            "method": method}  # fmt: skip


def _headers(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    event = valid_event(rng, target)
    body = _dumps(event)
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


# --- helpers -----------------------------------------------------------------------------------

_TOKEN = "__fuzz_token__"


def _dumps(value: Any, *, ascii_only: bool = False) -> bytes:
    # Raw UTF-8 by default, as most senders write JSON; `\u` escapes when asked.
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def _with_token(event: Mapping[str, Any], place: str, token: str) -> bytes:
    """The event's JSON with the value at dotted ``place`` replaced by raw JSON ``token``
    (which Python could not have dumped: NaN, 1e309, a lone surrogate escape, deep nesting).
    ``body`` replaces the whole body."""
    if place == "body":
        return token.encode()
    copy = json.loads(json.dumps(event))
    keys = place.split(".")
    holder: Any = copy
    for key in keys[:-1]:
        holder = holder[int(key)] if isinstance(holder, list) else holder.setdefault(key, {})
    last = keys[-1]
    if isinstance(holder, list):
        index = int(last)
        while len(holder) <= index:
            holder.append(None)
        holder[index] = _TOKEN
    else:
        holder[last] = _TOKEN
    return json.dumps(copy).replace(f'"{_TOKEN}"', token).encode()


def _kind_of(value: Any) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    return json.dumps(value)


# --- token-authenticated targets with a mapping -------------------------------------------------

CRM_EVENT_NAMES: Final = {
    POST_PUBLISHED: "social_post_published",
    TAG_DETAILS_REQUESTED: "tag_info",
    STATISTICS_REQUESTED: "stats",
}
"""What the token targets' CRM calls each event type (the `map` of their mappings)."""
_TYPE_OF_NAME: Final = {name: kind for kind, name in CRM_EVENT_NAMES.items()}


def mapping_text(*, delivery_id: bool) -> str:
    """A token target's mapping: the issue's example, with a title (strip, truncate) and the
    event's timestamp; ``delivery_id`` keys repeats by `$.delivery.id`, else by the body."""
    names = ", ".join(f"{name}: {kind}" for kind, name in CRM_EVENT_NAMES.items())
    lines = [
        "version: 1",
        "inbound:",
        f"  type: {{path: $.event, map: {{{names}}}}}",
        *(["  id: $.delivery.id"] if delivery_id else []),
        "  fields:",
        "    timestamp: $.sent_at",
        "    post_id: $.post.id",
        "    ghl_post_id: $.post.ghl_id",
        "    title: {path: $.post.title, strip: true, truncate: 500}",
        "    tag_ids: $.post.tags[*].id",
        "    record.contact_id: $.contact.id",
    ]
    return "\n".join(lines) + "\n"


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


# --- the contract of the token targets' mapping ------------------------------------------------


class _Missing:
    """What `_dig` finds where a body has nothing: the mapping's selector matches nothing."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)?")
_ID_LENGTH = range(1, 201)
_TITLE_LENGTH = 500
_RECORD_VALUE_LENGTH = 512
_TAG_IDS = range(1, 501)


def mapped_answer(body: Any, target: FuzzTarget) -> str:
    """What the contract answers a token target's authenticated, well-formed JSON ``body``
    (decoded): "202" when the mapping makes a valid event of it, else "422".

    Written from docs/mappings.md and docs/webhooks.md, not from the mapping engine: the
    mapping reads only the paths it names (anything else in the body is not looked at), and
    only the fields of the event type it found; a `map` passes unknown values unchanged; the
    delivery id is text or a number (nothing, null or "" is none); a record value is text or
    a number or a boolean, written as text, null left out. The event made is then validated
    as any event. Whether it repeats an earlier delivery is `generate_token_cases`' to judge.
    """
    kind = _mapped_type(_dig(body, "event"))
    if kind is None:
        return "422"
    fine = [_timestamp_ok(_dig(body, "sent_at")), _record_ok(_dig(body, "contact", "id"))]
    if target.delivery_id_mapped:
        fine.append(_delivery_id_ok(_dig(body, "delivery", "id")))
    if kind in (POST_PUBLISHED, TAG_DETAILS_REQUESTED):
        fine.append(_id_ok(_dig(body, "post", "id")))
    if kind == POST_PUBLISHED:
        ghl_post_id, title = _dig(body, "post", "ghl_id"), _dig(body, "post", "title")
        fine += [ghl_post_id in (MISSING, None) or _id_ok(ghl_post_id), _title_ok(title)]
    if kind == TAG_DETAILS_REQUESTED:
        fine.append(_tag_ids_ok(_dig(body, "post", "tags")))
    return "202" if all(fine) else "422"


def _dig(body: Any, *keys: str) -> Any:
    """The value at ``keys`` through nested objects, or MISSING (as `$.a.b` selects)."""
    for key in keys:
        if not isinstance(body, dict) or key not in body:
            return MISSING
        body = body[key]
    return body


def _safe(text: str) -> bool:
    return _UNSAFE_TEXT.search(text) is None


def _mapped_type(value: Any) -> str | None:
    # Map keys are text: 1 or true never matches a name. An event type passes unchanged.
    if not isinstance(value, str):
        return None
    return _TYPE_OF_NAME.get(value, value if value in EVENT_TYPES else None)


def _id_ok(value: Any) -> bool:
    return isinstance(value, str) and len(value) in _ID_LENGTH and _safe(value)


def _title_ok(value: Any) -> bool:
    # Stripped, then cut to 500 characters: what lies past them is never seen.
    if value is MISSING or value is None:
        return True
    return isinstance(value, str) and _safe(value.strip()[:_TITLE_LENGTH])


def _tag_ids_ok(tags: Any) -> bool:
    # `[*]` takes every item of a list and every value of an object; `.id` those that have one.
    items = list(tags.values()) if isinstance(tags, dict) else tags
    if not isinstance(items, list):
        return False
    ids = [item["id"] for item in items if isinstance(item, dict) and "id" in item]
    return len(ids) in _TAG_IDS and all(map(_id_ok, ids))


def _timestamp_ok(value: Any) -> bool:
    # Not mapped: the time of receipt. Null is a value, and no datetime.
    if value is MISSING:
        return True
    return isinstance(value, str) and _ISO_TIME.fullmatch(value) is not None


def _record_ok(value: Any) -> bool:
    if value is MISSING or value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= _RECORD_VALUE_LENGTH and _safe(value)


def _delivery_id_ok(value: Any) -> bool:
    if value is MISSING or value is None:
        return True
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def delivery_key(case: FuzzCase, target: FuzzTarget) -> tuple[str, str]:
    """What makes a token target's delivery a repeat: its mapped delivery id as text (a number
    as JSON writes it, so 7 and "7" are one id), else the SHA-256 of the body as sent."""
    body = case_body(case)
    if target.delivery_id_mapped:
        value = _dig(json.loads(body), "delivery", "id")
        if value is not MISSING and value is not None and value != "":
            return ("id", value if isinstance(value, str) else repr(value))
    return ("body", hashlib.sha256(body).hexdigest())


# --- generating token targets' cases ------------------------------------------------------------


def generate_token_cases(
    seed: int, count: int, targets: Sequence[FuzzTarget], *, first_number: int = 0
) -> list[FuzzCase]:
    """``count`` cases for token targets, numbered from ``first_number``: the same for the
    same seed and targets, and drawn apart from `generate_cases`' random numbers."""
    if not targets:
        raise ValueError("targets: give at least one token-authenticated connection")
    rng = random.Random(f"token-{seed}")
    names = list(TOKEN_CATEGORIES)
    weights = [TOKEN_CATEGORIES[name][1] for name in names]
    accepted: list[set[tuple[str, str]]] = [set() for _ in targets]
    cases: list[FuzzCase] = []
    for index in range(count):
        name = names[index] if index < len(names) else rng.choices(names, weights)[0]
        target = rng.randrange(len(targets))
        draft = TOKEN_CATEGORIES[name][0](rng, targets[target], cases)
        draft.setdefault("target", target)
        draft.setdefault("webhook_id", f"fz-{seed}-{first_number + index}".encode())
        draft.setdefault("bearer", BEARER)
        case = FuzzCase(number=first_number + index, category=name, **draft)
        cases.append(_settled(case, targets[case.target], accepted[case.target]))
    return cases


def _settled(case: FuzzCase, target: FuzzTarget, accepted: set[tuple[str, str]]) -> FuzzCase:
    """``case`` with what its drafting could not know: a body over the limit is a 413 before
    anything else is read, and an accepted delivery's key seen before is a 200 duplicate."""
    too_large = len(case_body(case)) > target.max_body_bytes
    if too_large and case.method == b"POST" and case.connection is None and not case.chunked:
        return replace(case, expect="413", description=f"{case.description} (over the limit)")
    if case.expect != "202":
        return case
    key = delivery_key(case, target)
    if key in accepted:
        return replace(case, expect="200", description=f"{case.description} (a repeat)")
    accepted.add(key)
    return case


def interleave(first: Sequence[FuzzCase], second: Sequence[FuzzCase]) -> list[FuzzCase]:
    """Both lists as one, each in its own order, ``second`` spread evenly through ``first``."""

    def place(index: int, size: int) -> float:
        return (index + 1) / (size + 1)

    keyed = [(place(i, len(first)), 0, i, case) for i, case in enumerate(first)]
    keyed += [(place(i, len(second)), 1, i, case) for i, case in enumerate(second)]
    return [case for *_, case in sorted(keyed, key=lambda item: item[:3])]


def mapped_body(rng: random.Random, target: FuzzTarget, kind: str | None = None) -> dict[str, Any]:
    """A CRM body the token targets' mappings make a valid event of (202), with odd but valid
    values. Each is unique (its delivery id and ``sequence``), so none repeats another."""
    kind = kind or rng.choice(EVENT_TYPES)
    unique = f"{rng.getrandbits(64):016x}"
    number = int(unique, 16) >> 11  # 53 bits: a float holds it exactly
    delivery: Any = rng.choice([f"dlv_{unique}"] * 7 + [number] * 2 + [(number >> 10) + 0.5])
    body: dict[str, Any] = {
        # A type our own name for it passes the map unchanged.
        "event": CRM_EVENT_NAMES[kind] if rng.random() < 0.85 else kind,
        "delivery": {"id": delivery},
        "sequence": unique,
    }
    contact = rng.random()
    if contact < 0.55:
        body["contact"] = {"id": f"Contact.1.{rng.randint(1, 99_999)}"}
    elif contact < 0.7:
        body["contact"] = {"id": rng.randint(1, 10**6)}  # written as text in the record
    elif contact < 0.8:
        body["contact"] = {"id": random_text(rng, 0, 512), "name": random_text(rng, 0, 40)}
    elif contact < 0.85:
        body["contact"] = {"id": None}  # left out of the record
    post: dict[str, Any] = {"id": random_text(rng, 1, 200)}
    if kind == POST_PUBLISHED:
        if rng.random() < 0.4 and target.ghl_post_ids:
            post["ghl_id"] = rng.choice(target.ghl_post_ids)
        if rng.random() < 0.5:  # stripped, then cut to 500 characters
            padding = " " * rng.randint(0, 3)
            post["title"] = padding + random_text(rng, 0, 700) + padding
        body["post"] = post
    elif kind == TAG_DETAILS_REQUESTED:
        chosen = rng.sample(target.tag_ids, rng.randint(1, min(5, len(target.tag_ids))))
        post["tags"] = [{"id": tag_id, "name": random_text(rng, 0, 30)} for tag_id in chosen]
        if rng.random() < 0.2:
            post["tags"].append({"id": "tag_unknown_" + random_text(rng, 1, 20)})
        body["post"] = post
    elif rng.random() < 0.2:
        body["post"] = post  # not read for statistics
    if rng.random() < 0.3:
        month, day, hour = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
        zone = rng.choice(["Z", "+02:00", "-05:30", ""])
        body["sent_at"] = f"2026-{month:02d}-{day:02d}T{hour:02d}:{rng.randint(0, 59):02d}:00{zone}"
    return body


def _kind_named(body: Mapping[str, Any]) -> str:
    event = body.get("event")
    return _mapped_type(event) or repr(event)


def _token_valid(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    body = mapped_body(rng, target)
    chunked = rng.random() < 0.1
    delivery = body["delivery"]["id"]
    notes = [] if isinstance(delivery, str) else [f"delivery id a {type(delivery).__name__}"]
    notes += ["our own type name"] if body["event"] in EVENT_TYPES else []
    notes += ["chunked"] if chunked else []
    return {
        "description": ", ".join([f"valid {_kind_named(body)}", *notes]),
        "expect": "202",
        "body": _dumps(body, ascii_only=rng.random() < 0.3),
        "chunked": chunked,
        "content_type": rng.choice([JSON, JSON, b"application/json; charset=utf-8"]),
    }


def _token_resend(rng: random.Random, target: FuzzTarget, earlier: Sequence[FuzzCase]) -> Draft:
    # Whether each of these is a repeat (200) or a new delivery (202) depends on the target's
    # mapping; `_settled` judges it by the delivery key.
    sent = [case for case in earlier if case.category == "token valid" and case.expect == "202"]
    if not sent:
        return _token_valid(rng, target, earlier)
    original = rng.choice(sent)
    body = json.loads(original.body)
    variant = rng.randrange(5)
    if variant == 0:
        what, sent_body = "the same body", original.body
    elif variant == 1:
        # Valid JSON too, and the same event, but not the same bytes.
        what, sent_body = "the same JSON spaced otherwise", _dumps(body) + b"\n"
    elif variant == 2:
        body["post"] = {**body.get("post", {}), "title": "another title"}
        body["event"] = CRM_EVENT_NAMES[POST_PUBLISHED]
        body["post"].setdefault("id", "crm-post-resent")
        what, sent_body = "the same delivery id, another body", _dumps(body)
    elif variant == 3 and not isinstance(body["delivery"]["id"], str):
        body["delivery"]["id"] = repr(body["delivery"]["id"])
        what, sent_body = "its delivery id as text instead of a number", _dumps(body)
    else:
        surrogate = _with_surrogate_swapped(earlier)
        if surrogate is None:
            what, sent_body = "the same body", original.body
        else:
            original, sent_body = surrogate
            what = "its delivery id with its lone surrogate(s) changed: another id"
    return {
        "description": f"{what} as case {original.number}",
        "expect": "202",
        "body": sent_body,
        "target": original.target,
        "bearer": original.bearer,
        "content_type": original.content_type,
    }


def _with_surrogate_swapped(earlier: Sequence[FuzzCase]) -> tuple[FuzzCase, bytes] | None:
    """An accepted earlier case whose delivery id held a lone surrogate, and its body with
    each of them replaced by another: a different id (it may still hash like the first)."""
    for case in reversed(earlier):
        if case.expect == "202" and case.category == "mapped strings":
            body = json.loads(case.body)
            delivery = _dig(body, "delivery", "id")
            if isinstance(delivery, str) and _SURROGATE.search(delivery):
                body["delivery"]["id"] = _SURROGATE.sub(_another_surrogate, delivery)
                return case, _dumps(body, ascii_only=True)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _another_surrogate(found: re.Match[str]) -> str:
    return chr(0xD800 if ord(found.group()) == 0xDBFF else 0xDBFF)


def _token_auth(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    mode = rng.choice([m for m in BEARER_MODES if m != BEARER])
    return {
        "description": mode,
        "expect": BEARER_MODES[mode],
        "body": _dumps(mapped_body(rng, target)),
        "bearer": mode,
    }


def _token_request(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    body = _dumps(mapped_body(rng, target))
    limit = target.max_body_bytes
    variants: list[Draft] = [
        {"description": "Content-Type text/plain", "content_type": b"text/plain",
         "expect": "415"},
        {"description": "no Content-Type", "content_type": None, "expect": "415"},
        # Authentication comes first: an unauthenticated request learns only 401.
        {"description": "Content-Type text/plain and no Authorization",
         "content_type": b"text/plain", "bearer": NO_AUTHORIZATION, "expect": "401"},
        {"description": "Content-Type application/vnd.crm.event+json",
         "content_type": b"application/vnd.crm.event+json", "expect": "202"},
        {"description": "chunked", "chunked": True, "expect": "202"},
        {"description": "exactly the limit", "pad_to": limit, "expect": "202"},
        {"description": "exactly the limit, chunked", "pad_to": limit, "chunked": True,
         "expect": "202"},
        {"description": "one byte over the limit", "pad_to": limit + 1, "expect": "413"},
        # The size is checked before the token.
        {"description": "one byte over the limit, no Authorization", "pad_to": limit + 1,
         "bearer": NO_AUTHORIZATION, "expect": "413"},
        {"description": "one byte over the limit, chunked", "pad_to": limit + 1,
         "chunked": True, "expect": "413"},
        {"description": "method PUT", "method": b"PUT", "expect": "405"},
        {"description": "method GET", "method": b"GET", "body": b"", "expect": "405"},
        {"description": "an unknown connection id", "connection": b"con_0123456789abcdef",
         "expect": "404"},
        {"description": "the last byte cut", "body": body[:-1], "expect": "422"},
        {"description": "event given twice", "body": b'{"event": "stats", ' + body[1:],
         "expect": "422"},
        {"description": "an empty body", "body": b"", "expect": "422"},
    ]  # fmt: skip
    return {"body": body, **rng.choice(variants)}


MAPPED_PLACES = (
    "event", "delivery", "delivery.id", "sent_at", "post", "post.id", "post.ghl_id",
    "post.title", "post.tags", "post.tags.0", "post.tags.0.id", "contact", "contact.id", "body",
)  # fmt: skip
"""Where the token targets' mapping reads (and the objects around), dotted; `body`: all."""
MAPPED_WRONG_VALUES: list[Any] = [
    None, True, False, 31, -1, 1.5, 1e300, "", " ", [], {}, [None], [[]], ["x"],
    {"id": "x"}, {"id": {"id": "x"}}, "x" * 201, "x" * 513, "x" * 100_000,
]  # fmt: skip


def _mapped_types(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body: Any = mapped_body(rng, target, kind)
    place = rng.choice(MAPPED_PLACES)
    value = rng.choice(MAPPED_WRONG_VALUES)
    if place == "body":
        body = value
    else:
        _put(body, place, value)
    return {
        "description": f"{_kind_of(value)} as {place} ({kind})",
        "expect": mapped_answer(body, target),
        "body": _dumps(body),
    }


EVENT_VALUES = [
    *EVENT_TYPES, *CRM_EVENT_NAMES.values(), "SOCIAL_POST_PUBLISHED", "Stats", "stats ",
    " tag_info", "tag-info", "post.deleted", "contact_deleted", "POST.PUBLISHED", "",
]  # fmt: skip


def _mapped_event(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body = mapped_body(rng, target, kind)
    choice = rng.randrange(10)
    if choice == 0:
        del body["event"]
        what = "no event"
    elif choice == 1:
        body["Event"] = body.pop("event")
        what = "the event under Event"
    elif choice == 2:
        body["event"] = random_text(rng, 1, 300)
        what = "a random event name"
    else:
        # Another type's name, with the body of this one: the mapping reads that type's
        # fields only, and may find what it needs or not.
        body["event"] = rng.choice(EVENT_VALUES)
        what = f"event {body['event']!r}"
    return {
        "description": f"{what} ({kind} body)",
        "expect": mapped_answer(body, target),
        "body": _dumps(body),
    }


STRING_PLACES = (
    "event", "delivery.id", "sent_at", "post.id", "post.ghl_id", "post.title",
    "post.tags.0.id", "contact.id", "contact.name", "note", "post.note", "a key", "a key in post",
)  # fmt: skip
"""Where a NUL or lone surrogate is put: mapped paths, and places the mapping never reads."""


def _mapped_strings(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body = mapped_body(rng, target, kind)
    what = rng.choice(list(BAD_TEXT))
    text: str = json.loads(BAD_TEXT[what])
    place = rng.choice(STRING_PLACES)
    if place == "a key":
        body[text] = "x"
    elif place == "a key in post":
        body.setdefault("post", {})[text] = "x"
    else:
        # A delivery id keeps a unique start: only a deliberate resend repeats it.
        _put(body, place, body["sequence"] + text if place == "delivery.id" else text)
    return {
        "description": f"{what} in {place} ({kind})",
        "expect": mapped_answer(body, target),
        "body": _dumps(body, ascii_only=True),
    }


DECOY_KEYS = (
    "post.id", "$", "$.event", "event.", "[*]", "*", "..", "@", "post[0]", "delivery.id",
    "$['event']", "contact.id", "post.tags[*].id",
)  # fmt: skip
"""Keys that look like the mapping's JSONPath selectors, or parts of them."""


def _mapped_keys(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body = mapped_body(rng, target, kind)
    choice = rng.randrange(5)
    decoys = {key: rng.choice(["decoy", {"id": "decoy"}, ["decoy"], 1]) for key in
              rng.sample(DECOY_KEYS, rng.randint(1, len(DECOY_KEYS)))}  # fmt: skip
    if choice == 0:
        body.update(decoys)
        what = "keys like selectors beside the body"
    elif choice == 1:
        for holder in ("post", "contact", "delivery"):
            if isinstance(body.get(holder), dict):
                body[holder].update({f"id{key}": value for key, value in decoys.items()})
        what = "keys like selectors beside each id"
    elif choice == 2:
        # The selectors' paths as flat keys, and no nested objects: nothing is found there.
        flat = {"event": body["event"], "delivery.id": _dig(body, "delivery", "id")}
        flat |= {f"post.{key}": value for key, value in body.get("post", {}).items()}
        flat |= {f"contact.{key}": value for key, value in body.get("contact", {}).items()}
        body = flat
        what = "the paths as flat keys"
    elif choice == 3:
        # `[*]` takes an object's values as it takes a list's items.
        tags = body.get("post", {}).get("tags") or [{"id": rng.choice(target.tag_ids)}]
        keys = ["*", "0", "$", "[0]", ".."]
        body.setdefault("post", {"id": "crm-post-keys"})["tags"] = dict(
            zip(keys, tags, strict=False)
        )
        what = "tags as an object keyed *, 0, $"
    else:
        body["$.event"] = body.pop("event")
        what = "the event only under $.event"
    return {
        "description": f"{what} ({kind})",
        "expect": mapped_answer(body, target),
        "body": _dumps(body),
    }


def _tags(ids: Sequence[str], count: int) -> list[dict[str, str]]:
    """``count`` tags whose ids are ``ids`` over and over."""
    return [{"id": tag_id} for tag_id in itertools.islice(itertools.cycle(ids), count)]


SizeValue = Callable[[FuzzTarget, str], Any]
"""A huge or borderline value, made from the target and a unique text when it is chosen."""
SIZES: list[tuple[str, str, SizeValue]] = [
    ("10,000 tags", "post.tags", lambda t, _: _tags([f"t{i}" for i in range(10_000)], 10_000)),
    ("501 tags", "post.tags", lambda t, _: _tags(t.tag_ids, 501)),
    ("500 tags, repeated", "post.tags", lambda t, _: _tags(t.tag_ids, 500)),
    ("a tag id of 200 characters", "post.tags.0.id", lambda t, _: "t" * 200),
    ("a tag id of 201 characters", "post.tags.0.id", lambda t, _: "t" * 201),
    ("a title of 100,000 characters", "post.title", lambda t, _: "  " + "x" * 100_000),
    ("a title of 501 characters", "post.title", lambda t, _: "é" * 501),
    ("a title of 500 characters in spaces", "post.title", lambda t, _: f"  {'y' * 500}  "),
    ("a post id of 200 characters", "post.id", lambda t, _: "p" * 200),
    ("a post id of 201 characters", "post.id", lambda t, _: "p" * 201),
    ("a post id of 100,000 characters", "post.id", lambda t, _: "p" * 100_000),
    ("a record value of 512 characters", "contact.id", lambda t, _: "c" * 512),
    ("a record value of 513 characters", "contact.id", lambda t, _: "c" * 513),
    ("a record value of 100,000 characters", "contact.id", lambda t, _: "c" * 100_000),
    ("a record value of 100 digits", "contact.id", lambda t, _: int("9" * 100)),
    # Delivery ids start unique: only a deliberate resend repeats one.
    ("a delivery id of 200 characters", "delivery.id", lambda t, u: u.ljust(200, "d")),
    ("a delivery id of 201 characters", "delivery.id", lambda t, u: u.ljust(201, "d")),
    ("a delivery id of 100,000 characters", "delivery.id", lambda t, u: u.ljust(100_000, "d")),
    ("an event name of 100,000 characters", "event", lambda t, _: "e" * 100_000),
    ("200,000 characters not mapped", "note", lambda t, _: "n" * 200_000),
    ("10,000 keys not mapped", "extra", lambda t, _: {f"k{i}": i for i in range(10_000)}),
]


def _mapped_sizes(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body = mapped_body(rng, target, kind)
    what, place, make = rng.choice(SIZES)
    _put(body, place, make(target, body["sequence"]))
    return {
        "description": f"{what} ({kind})",
        "expect": mapped_answer(body, target),
        "body": _dumps(body),
    }


def _mapped_nesting(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    kind = rng.choice(EVENT_TYPES)
    body = mapped_body(rng, target, kind)
    place = rng.choice(["post.id", "post.title", "post.tags.0.id", "contact.id", "delivery.id",
                        "event", "note", "post.tags"])  # fmt: skip
    shape = rng.choice(["list", "object"])
    enclosing = len(place.split("."))  # the body and each object or list around the value
    if rng.random() < 0.4:
        depth = rng.choice([MAX_NESTING + 1, 40, 100, 1000, 5000])
        nested = "[" * depth + "]" * depth
        if shape == "object":
            nested = '{"a":' * depth + "1" + "}" * depth
        return {
            "description": f"{shape}s nested {depth} levels deep at {place} ({kind})",
            "expect": "422",
            "body": _with_token(body, place, nested),
        }
    # Within the limit of 32 levels in all: the mapping finds a list or an object there.
    depth = rng.choice([1, 2, MAX_NESTING - enclosing])
    value: Any = 1
    for _level in range(depth):
        value = [value] if shape == "list" else {"a": value}
    _put(body, place, value)
    return {
        "description": f"{shape}s nested {depth} levels deep at {place}, "
        f"{enclosing + depth} in all ({kind})",
        "expect": mapped_answer(body, target),
        "body": _dumps(body),
    }


TOKEN_CATEGORIES: dict[str, tuple[Category, int]] = {
    "token valid": (_token_valid, 14),
    "token resend": (_token_resend, 5),
    "token auth": (_token_auth, 10),
    "token request": (_token_request, 5),
    "mapped types": (_mapped_types, 12),
    "mapped event": (_mapped_event, 5),
    "mapped strings": (_mapped_strings, 8),
    "mapped keys": (_mapped_keys, 5),
    "mapped sizes": (_mapped_sizes, 6),
    "mapped nesting": (_mapped_nesting, 5),
}
"""Each token-target category's generator and its weight."""


def _put(body: dict[str, Any], place: str, value: Any) -> None:
    """Set the value at dotted ``place`` (list items by index), making what is missing."""
    keys = place.split(".")
    holder: Any = body
    for key, following in itertools.pairwise(keys):
        if isinstance(holder, list):
            index = int(key)
            while len(holder) <= index:
                holder.append({})
            holder = holder[index]
            continue
        if not isinstance(holder.get(key), dict | list):
            holder[key] = [] if following.isdigit() else {}
        holder = holder[key]
    if isinstance(holder, list):
        index = int(keys[-1])
        while len(holder) <= index:
            holder.append({})
        holder[index] = value
    else:
        holder[keys[-1]] = value

"""Hostile requests for token-authenticated connections with a mapping, from a seed.

    mapped = generate_token_cases(seed=1, count=1500, targets=token_targets, first_number=3000)
    case = mapped[0]
    request = build_request(case, token_targets[case.target], secret, now, token=token)
    cases = interleave(signature_cases, mapped)  # one list to send

Token targets take `Authorization: Bearer <inbound token>` and the CRM's own JSON through a
mapping (`mapping_text`): valid mapped bodies, repeats (by the mapped delivery id, or by the
body's SHA-256 where the mapping has no id), Authorization headers of every wrong form
(`BEARER_MODES`), requests of the wrong form, and hostile values at and around the mapped
paths. Their expected answer is worked out by `mapped_answer`, the contract of the mapping
written out independently of the mapping engine, and a repeat of an accepted delivery is
expected to be 200 (`delivery_key`).

The cases are drawn from their own random stream, so that adding them left the signature
targets' cases (`tests.faults.fuzzcases.generate_cases`) as they were. What both kinds share
(the case and target, `build_request` with the Authorization header, the JSON helpers) is
imported from `tests.faults.fuzzcases`, which imports nothing from here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from schemas.events import (
    EVENT_TYPES,
    POST_PUBLISHED,
    STATISTICS_REQUESTED,
    TAG_DETAILS_REQUESTED,
)
from tests.faults.fuzzcases import (
    BAD_TEXT,
    BEARER,
    BEARER_MODES,
    JSON,
    MAX_NESTING,
    NO_AUTHORIZATION,
    Category,
    Draft,
    FuzzCase,
    FuzzTarget,
    case_body,
    dumps,
    random_text,
    shown_value,
    with_raw_json,
)

# --- the token targets' mapping ----------------------------------------------------------------

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


# --- generating token targets' cases -----------------------------------------------------------


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


# --- the token targets' categories -------------------------------------------------------------


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
        "body": dumps(body, ascii_only=rng.random() < 0.3),
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
        what, sent_body = "the same JSON spaced otherwise", dumps(body) + b"\n"
    elif variant == 2:
        body["post"] = {**body.get("post", {}), "title": "another title"}
        body["event"] = CRM_EVENT_NAMES[POST_PUBLISHED]
        body["post"].setdefault("id", "crm-post-resent")
        what, sent_body = "the same delivery id, another body", dumps(body)
    elif variant == 3 and not isinstance(body["delivery"]["id"], str):
        body["delivery"]["id"] = repr(body["delivery"]["id"])
        what, sent_body = "its delivery id as text instead of a number", dumps(body)
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
                return case, dumps(body, ascii_only=True)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _another_surrogate(found: re.Match[str]) -> str:
    return chr(0xD800 if ord(found.group()) == 0xDBFF else 0xDBFF)


def _token_auth(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    mode = rng.choice([m for m in BEARER_MODES if m != BEARER])
    return {
        "description": mode,
        "expect": BEARER_MODES[mode],
        "body": dumps(mapped_body(rng, target)),
        "bearer": mode,
    }


def _token_request(rng: random.Random, target: FuzzTarget, _: Sequence[FuzzCase]) -> Draft:
    body = dumps(mapped_body(rng, target))
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
        "description": f"{shown_value(value)} as {place} ({kind})",
        "expect": mapped_answer(body, target),
        "body": dumps(body),
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
        "body": dumps(body),
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
        "body": dumps(body, ascii_only=True),
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
        "body": dumps(body),
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
        "body": dumps(body),
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
            "body": with_raw_json(body, place, nested),
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
        "body": dumps(body),
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

"""Hostile requests for the endpoints GHL and its users reach, generated from a seed.

    cases = generate_ghl_cases(seed=1, count=1000, max_body_bytes=262_144, first_number=4500)
    side = GhlSide(targets, secret_key, authorize=http_authorizer(ghl_url, redirect_uri))
    request, answer = send_ghl_case(cases[0], side, host, port, now=time.time())

Three endpoints, each with what its contract allows (`ENDPOINTS`):

    POST /webhooks/ghl          GHL's app webhooks (webapp/ghl_webhooks.py): 200, 400, 401,
                                413, 422, and 429 when it cannot record or queue; never a 5xx
    GET  /oauth/ghl/start       the install's start (webapp/oauth.py): 302, 400, 404; 503
                                when GHL OAuth is not configured or the store is unavailable
    GET  /oauth/ghl/callback    the install's end: 200, 400, 404, 409, 502 (GHL refused or
                                failed, or sent `error=`), 503 as above

A case says what it must be answered (``expect``: a status, ``4xx`` or ``not5xx``, as in
`tests.faults.fuzzcases`), and which 5xx its endpoint documents (`GhlCase.documented_5xx`):
the verdict of `make fuzz` fails on any other 5xx.

App webhooks are signed at send time with the sandbox GHL's Ed25519 key (the receiver is given
its public half), because their `timestamp` must be within 5 minutes of the clock: a body holds
``@NOW@`` where its timestamp goes. Their categories: valid INSTALL/UNINSTALL/other events,
resends, every way of signing wrong, timestamps, odd types in every field, bad text, bodies
that are not JSON we accept (bad UTF-8, NaN, keys given twice, deep nesting), sizes, methods.
What the receiver must answer a signed body is worked out by `app_answer`, the contract of
ghl.app_webhooks and schemas/ghl_app.py written out on its own.

Install requests name the connections of `GhlTargets` by role in their query (``@PINNED@``…),
and states are signed at send time with the web app's SECRET_KEY (``@STATE@``…). Live cases
hold an authorization code GHL (the sandbox) really issued, by approving a choice on its install
page at send time (``@CODE_PINNED@``…, `LIVE_CODES`): marketplace installs (no state) for a
location with one connection, with two, with none, and for an agency; installs with a state;
and replays of the last one. They are sent with httpx, and their whole answer is kept, so that
"no token in any answer" is checked on whole pages; every other case goes over a plain socket
(`tests.faults.rawhttp`), byte for byte.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ghl.endpoints import OAUTH_SCOPES, SCOPE_LOCATION_TOKEN
from sandbox.ghl.app_webhooks import sign
from sandbox.ghl.oauth import SANDBOX_CLIENT_ID
from socialbridge.oauth_state import new_state
from tests.faults.fuzzcases import BAD_TEXT, answer_matches
from tests.faults.rawhttp import RawAnswer, RawRequest, exchange

APP_WEBHOOK = "/webhooks/ghl"
OAUTH_START = "/oauth/ghl/start"
OAUTH_CALLBACK = "/oauth/ghl/callback"
ENDPOINTS: Final[dict[str, frozenset[int]]] = {
    APP_WEBHOOK: frozenset(),
    OAUTH_START: frozenset({503}),
    OAUTH_CALLBACK: frozenset({502, 503}),
}
"""Each endpoint and the 5xx answers its contract documents (429 is the app webhooks' "try
again", not a 5xx)."""
JSON_TYPE = b"application/json"
NOW = "@NOW@"
"""Where a body's timestamp goes: replaced at send time by the clock (and the case's shift)."""
MAX_SKEW_SECONDS = 300
"""The app webhook receiver's ±5 minutes."""
AGENCY_SCOPES = (*OAUTH_SCOPES, SCOPE_LOCATION_TOKEN)
TOKEN_PREFIXES: Final = ("sbx-at-", "sbx-rt-", "sbx-code-")
"""How every access token, refresh token and code the sandbox GHL issues begins: none may
appear in any answer."""

# The app events' ids: far from the install's locations, so that an UNINSTALL the fuzz sends
# never disconnects the connections the install cases count on.
APP_LOCATIONS = tuple(f"loc_fuzz_app_{n}" for n in range(8))
APP_COMPANIES = ("comp_fuzz_0", "comp_fuzz_1")
APP_ID = "fuzzapp000000000001"

# How an app webhook's signature headers are made at send time.
SIGNED = "x-ghl-signature of the body"
UNSIGNED = "no signature header"
SIG_EMPTY = "an empty x-ghl-signature"
SIG_GARBAGE = "64 random bytes as x-ghl-signature"
SIG_SHORT = "a signature of 10 bytes"
SIG_NOT_BASE64 = "x-ghl-signature not base64"
SIG_OTHER_BODY = "the signature of another body"
SIG_OTHER_KEY = "a signature with another Ed25519 key"
SIG_TAMPERED = "signed, then one bit of the body changed"
SIG_RSA_ONLY = "only a legacy x-wh-signature (no RSA key is configured)"
SIG_BOTH = "the right x-ghl-signature and a garbage x-wh-signature"
SIG_WRONG_THEN_RIGHT = "a wrong x-ghl-signature header, then the right one"
SIG_SPACES = "the right signature between spaces"
SIG_UPPER = "the header name in upper case"
SIG_HUGE = "x-ghl-signature of 6,000 characters"
SIG_OVERSIZE = "x-ghl-signature of 20,000 characters"
SIG_NUL = "a NUL in x-ghl-signature"
SIG_LATIN1 = "a Latin-1 byte in x-ghl-signature"
SIGNING_MODES: Final[dict[str, str]] = {
    SIGNED: "model",
    SIG_BOTH: "model",
    SIG_SPACES: "model",
    SIG_UPPER: "model",
    UNSIGNED: "401",
    SIG_EMPTY: "401",
    SIG_GARBAGE: "401",
    SIG_SHORT: "401",
    SIG_NOT_BASE64: "401",
    SIG_OTHER_BODY: "401",
    SIG_OTHER_KEY: "401",
    SIG_TAMPERED: "401",
    SIG_RSA_ONLY: "401",
    SIG_HUGE: "401",
    # The server (gunicorn) may refuse these before the app does.
    SIG_WRONG_THEN_RIGHT: "not5xx",
    SIG_OVERSIZE: "4xx",
    SIG_NUL: "4xx",
    SIG_LATIN1: "4xx",
}
"""Each way of signing and the answer it gets: "model" means the body decides (`app_answer`)."""
_OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"not GHL's key").digest())

# Placeholders of an install request's query, filled at send time (`resolve_target`).
PINNED, SHARED, UNPLACED, PIT, GONE = "@PINNED@", "@SHARED@", "@UNPLACED@", "@PIT@", "@GONE@"
STATE, STATE_AGENCY, STATE_OLD = "@STATE@", "@STATE_AGENCY@", "@STATE_OLD@"
STATE_GONE, STATE_PIT = "@STATE_GONE@", "@STATE_PIT@"
CODE_PINNED, CODE_SHARED = "@CODE_PINNED@", "@CODE_SHARED@"
CODE_LONELY, CODE_AGENCY = "@CODE_LONELY@", "@CODE_AGENCY@"
REPLAY = "@REPLAY@"
LIVE_CODES = (CODE_PINNED, CODE_SHARED, CODE_LONELY, CODE_AGENCY)
STATE_AGE_SECONDS = 11 * 60
"""How old @STATE_OLD@ is: past the state's 10 minutes."""


@dataclass(frozen=True)
class GhlTargets:
    """The connections and sandbox locations the install cases name by role.

    ``pinned`` is the one OAuth connection of ``pinned_location``; ``shared`` the two OAuth
    connections of ``shared_location``; ``lonely_location`` a sandbox location no connection
    is for; ``unplaced`` an OAuth connection created without a location (never installed by
    the fuzz, so it stays without one); ``pit`` a Private Integration connection; ``gone`` an
    id no connection has.
    """

    pinned: str
    shared: tuple[str, str]
    unplaced: str
    pit: str
    pinned_location: str
    shared_location: str
    lonely_location: str
    gone: str = "con_0123456789abcdef"


@dataclass(frozen=True)
class GhlCase:
    """One request to a GHL-facing endpoint, before it is filled in, and its contract."""

    number: int
    category: str
    description: str
    expect: str
    endpoint: str
    method: bytes = b"GET"
    target: bytes = b""
    """Path and query as sent, with placeholders; empty: the endpoint's path alone."""
    body: bytes = b""
    content_type: bytes | None = None
    signing: str | None = None
    """An app webhook's: how its signature headers are made (`SIGNING_MODES`)."""
    shift: int = 0
    """Seconds added to the clock for the body's @NOW@."""
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    chunked: bool = False
    content_length: bytes | None = None
    pad_to: int | None = None
    """Pad the JSON body with spaces to this many bytes (after @NOW@ is filled), then sign."""
    webhook_id: str | None = None
    """The app webhook's `webhookId` when it has one: an accepted delivery must be processed."""

    @property
    def documented_5xx(self) -> frozenset[int]:
        """The 5xx answers the endpoint's contract allows."""
        return ENDPOINTS[self.endpoint]

    @property
    def live(self) -> bool:
        """Whether it holds a code GHL really issued (or replays one): sent with httpx."""
        return any(code.encode() in self.target for code in (*LIVE_CODES, REPLAY))

    @property
    def wire(self) -> bool:
        """Whether the HTTP server may answer it before the app (framing, sizes, raw bytes)."""
        return (
            self.chunked
            or self.content_length is not None
            or any(byte >= 0x80 for byte in self.target)
            or len(self.target) > 4000
            or self.signing in (SIG_WRONG_THEN_RIGHT, SIG_OVERSIZE, SIG_NUL, SIG_LATIN1)
            or any(len(value) > 8000 or b"\x00" in value for _, value in self.extra_headers)
        )

    def allows(self, status: int | None) -> bool:
        """Whether ``status`` is not a 5xx, or one its endpoint documents."""
        return status is not None and (status < 500 or status in self.documented_5xx)


def matches(case: GhlCase, status: int | None) -> bool:
    """Whether ``status`` is the answer the case's contract says."""
    return answer_matches(case.expect, status)


# --- sending -----------------------------------------------------------------------------------

Authorizer = Callable[[Mapping[str, str]], str]
"""Approve a choice on GHL's install page (opened without a state, as its marketplace does)
and return the code GHL sends back."""


@dataclass
class GhlSide:
    """What the requests need at send time: the connections by role, the web app's key, and
    GHL's install page. Remembers the last live callback, for the replays."""

    targets: GhlTargets
    secret_key: str
    authorize: Authorizer
    last_live: bytes | None = None


def http_authorizer(ghl_url: str, redirect_uri: str, *, timeout: float = 30.0) -> Authorizer:
    """An Authorizer that opens the sandbox GHL's chooselocation page over HTTP."""

    def authorize(choice: Mapping[str, str]) -> str:
        scopes = AGENCY_SCOPES if choice.get("agency") == "1" else OAUTH_SCOPES
        query = install_query(redirect_uri, scopes) + "&" + urlencode(dict(choice))
        answer = httpx.get(f"{ghl_url}/oauth/chooselocation?{query}", timeout=timeout)
        return code_of(answer.status_code, answer.headers.get("location", ""))

    return authorize


def install_query(redirect_uri: str, scopes: Sequence[str]) -> str:
    """The query of GHL's install page for this app, without a state."""
    query = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
    }
    return urlencode(query, quote_via=quote)


def code_of(status: int, location: str) -> str:
    """The code of GHL's redirect back after an approval; RuntimeError when there is none."""
    code = dict(parse_qsl(urlsplit(location).query)).get("code")
    if status != 302 or not code:
        raise RuntimeError(f"GHL's install page answered {status} without a code: {location!r}")
    return code


def resolve_target(case: GhlCase, side: GhlSide, now: float) -> bytes:
    """The path and query of an install case with its placeholders filled in."""
    target = case.target or case.endpoint.encode()
    if REPLAY.encode() in target:
        if side.last_live is not None:
            return side.last_live
        target = target.replace(REPLAY.encode(), b"code=never-issued")
    targets = side.targets
    moment = dt.datetime.fromtimestamp(now, dt.UTC)

    def state(subject: str, *, at: dt.datetime = moment) -> str:
        return new_state(side.secret_key, subject, now=at)[0]

    fills: dict[str, Callable[[], str]] = {
        PINNED: lambda: targets.pinned,
        SHARED: lambda: targets.shared[0],
        UNPLACED: lambda: targets.unplaced,
        PIT: lambda: targets.pit,
        GONE: lambda: targets.gone,
        STATE: lambda: state(targets.pinned),
        STATE_AGENCY: lambda: state("agency"),
        STATE_OLD: lambda: state(
            targets.pinned, at=moment - dt.timedelta(seconds=STATE_AGE_SECONDS)
        ),
        STATE_GONE: lambda: state(targets.gone),
        STATE_PIT: lambda: state(targets.pit),
        CODE_PINNED: lambda: side.authorize(
            {"location_id": targets.pinned_location, "approve": "1"}
        ),
        CODE_SHARED: lambda: side.authorize(
            {"location_id": targets.shared_location, "approve": "1"}
        ),
        CODE_LONELY: lambda: side.authorize(
            {"location_id": targets.lonely_location, "approve": "1"}
        ),
        CODE_AGENCY: lambda: side.authorize({"agency": "1", "approve": "1"}),
    }
    for placeholder, fill in fills.items():
        if placeholder.encode() in target:
            target = target.replace(placeholder.encode(), quote(fill(), safe="").encode())
    if case.live:
        side.last_live = target
    return target


def app_body(case: GhlCase, now: float) -> bytes:
    """An app webhook's body as sent: @NOW@ filled in, then padded when the case says so."""
    moment = dt.datetime.fromtimestamp(now + case.shift, dt.UTC)
    body = case.body.replace(NOW.encode(), ghl_timestamp(moment).encode())
    if case.pad_to is None or case.pad_to <= len(body):
        return body
    return body[:-1] + b" " * (case.pad_to - len(body)) + body[-1:]


def ghl_timestamp(moment: dt.datetime) -> str:
    """A time as GHL writes it in app webhooks: ISO 8601, milliseconds, Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def build_ghl_request(case: GhlCase, side: GhlSide, now: float) -> RawRequest:
    """The request of ``case`` as sent at Unix time ``now`` (live codes are asked for here)."""
    if case.endpoint != APP_WEBHOOK:
        headers = list(case.extra_headers)
        return RawRequest(
            method=case.method, target=resolve_target(case, side, now), headers=tuple(headers)
        )
    body = app_body(case, now)
    headers = [] if case.content_type is None else [(b"Content-Type", case.content_type)]
    headers += signature_headers(case.signing or SIGNED, body)
    headers += case.extra_headers
    return RawRequest(
        method=case.method,
        target=case.target or APP_WEBHOOK.encode(),
        headers=tuple(headers),
        body=body,
        chunked=case.chunked,
        content_length=case.content_length,
    )


def signature_headers(mode: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """The signature headers of an app webhook signed as ``mode`` says."""
    right = sign(body).encode()
    name = b"x-ghl-signature"
    garbage = base64.b64encode(hashlib.sha512(body).digest())
    values: dict[str, list[tuple[bytes, bytes]]] = {
        SIGNED: [(name, right)],
        UNSIGNED: [],
        SIG_EMPTY: [(name, b"")],
        SIG_GARBAGE: [(name, garbage)],
        SIG_SHORT: [(name, base64.b64encode(b"0123456789"))],
        SIG_NOT_BASE64: [(name, b"!!!not base64!!!")],
        SIG_OTHER_BODY: [(name, sign(body + b" ").encode())],
        SIG_OTHER_KEY: [(name, base64.b64encode(_OTHER_KEY.sign(body)))],
        SIG_RSA_ONLY: [(b"x-wh-signature", garbage)],
        SIG_BOTH: [(name, right), (b"x-wh-signature", garbage)],
        SIG_WRONG_THEN_RIGHT: [(name, garbage), (name, right)],
        SIG_SPACES: [(name, b"  " + right + b"  ")],
        SIG_UPPER: [(b"X-GHL-SIGNATURE", right)],
        SIG_HUGE: [(name, b"A" * 6000)],
        SIG_OVERSIZE: [(name, b"A" * 20_000)],
        SIG_NUL: [(name, right[:10] + b"\x00" + right[10:])],
        SIG_LATIN1: [(name, right + b"\xe9")],
    }
    if mode == SIG_TAMPERED:
        # What was signed differs from what is sent by one bit in the middle.
        middle = len(body) // 2
        signed = body[:middle] + bytes([body[middle] ^ 1]) + body[middle + 1 :] if body else b"x"
        return [(name, sign(signed).encode())]
    return values[mode]


def send_ghl_case(
    case: GhlCase, side: GhlSide, host: str, port: int, *, now: float, timeout: float = 30.0
) -> tuple[RawRequest, RawAnswer]:
    """Build ``case``'s request and send it; the answer (whole for a live case)."""
    request = build_ghl_request(case, side, now)
    if not case.live:
        return request, exchange(host, port, request, timeout=timeout)
    try:
        answer = httpx.get(f"http://{host}:{port}{request.target.decode('ascii')}", timeout=timeout)
    except httpx.HTTPError as exc:
        return request, RawAnswer(None, b"", f"httpx: {exc!r}")
    return request, RawAnswer(answer.status_code, answer.content)


def tokens_in(answer: RawAnswer, secrets: Sequence[str] = ()) -> list[str]:
    """What of the sandbox's token forms and of ``secrets`` the answer holds (none: [])."""
    text = answer.body.decode("utf-8", errors="replace")
    found = [prefix for prefix in TOKEN_PREFIXES if prefix in text]
    return found + [f"a secret of {len(s)} characters" for s in secrets if s and s in text]


T = TypeVar("T")
U = TypeVar("U")


def spread(first: Sequence[T], second: Sequence[U]) -> list[T | U]:
    """Both lists as one, each in its own order, ``second`` spread evenly through ``first``."""

    def place(index: int, size: int) -> float:
        return (index + 1) / (size + 1)

    keyed: list[tuple[float, int, int, T | U]] = [
        (place(i, len(first)), 0, i, item) for i, item in enumerate(first)
    ]
    keyed += [(place(i, len(second)), 1, i, item) for i, item in enumerate(second)]
    return [item for *_, item in sorted(keyed, key=lambda entry: entry[:3])]


# --- the contract of a signed app webhook ------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
_REQUIRED_TEXT = {"type": 100, "webhookId": 200}
_OPTIONAL_IDS = ("appId", "locationId", "companyId", "userId")
_OPTIONAL_TEXT = {"installType": 100, "companyName": 500}
_STORED = {"webhookId": 255, "locationId": 100, "companyId": 100}
_HANDLED = ("INSTALL", "UNINSTALL")
MAX_BULK_LOCATIONS = 10_000


def app_answer(payload: Any) -> str:
    """What the receiver answers a delivery whose signature holds and whose body decodes to
    ``payload``: "200" (accepted, ignored or duplicate), "401" (stale) or "422".

    Written from ghl/app_webhooks.py's docstring, schemas/ghl_app.py and the store's rules for
    the ids it keeps, not from their code: the timestamp first (missing or unreadable: 422; more
    than 5 minutes off: 401), then every field (ids are text of 1 to 200 characters; null is
    "not given" for the optional ones; no NUL or lone surrogate anywhere, keys included), then
    INSTALL and UNINSTALL name their app and a location or company, then the ids the app event
    log keeps fit it (not blank, no control character, at most 255 or 100 characters). The
    timestamp @NOW@ is the clock; any other readable one is taken as long past (the generator
    writes none within 5 minutes).
    """
    if not isinstance(payload, dict):
        return "422"
    timestamp = payload.get("timestamp", MISSING)
    if timestamp != NOW:
        fresh = _timestamp_answer(timestamp)
        if fresh is not None:
            return fresh
    if _unsafe_anywhere(payload):
        return "422"
    if not all(_field_ok(payload, name) for name in _FIELDS):
        return "422"
    if payload["type"] in _HANDLED:
        if payload.get("appId") is None:
            return "422"
        if not (
            payload.get("locationId") or payload.get("locationIds") or payload.get("companyId")
        ):
            return "422"
    for name, limit in _STORED.items():
        value = payload.get(name)
        if isinstance(value, str) and not _storable(value, limit):
            return "422"
    return "200"


def _timestamp_answer(value: Any) -> str | None:
    """422 for a timestamp that is not one; 401 for a readable one (long past)."""
    if not isinstance(value, str):
        return "422"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return "422"
    try:
        moment.replace(tzinfo=moment.tzinfo or dt.UTC).astimezone(dt.UTC)
    except OverflowError:
        return "422"
    return "401"


def _field_ok(payload: Mapping[str, Any], name: str) -> bool:
    value = payload.get(name, MISSING)
    if name in _REQUIRED_TEXT:
        return isinstance(value, str) and 1 <= len(value) <= _REQUIRED_TEXT[name]
    if name == "timestamp":
        return True  # checked first
    if value is MISSING or (value is None and name != "locationIds"):
        return True
    if name in _OPTIONAL_IDS:
        return isinstance(value, str) and 1 <= len(value) <= 200
    if name in _OPTIONAL_TEXT:
        return isinstance(value, str) and len(value) <= _OPTIONAL_TEXT[name]
    # locationIds: a list of ids, at most 10,000.
    return (
        isinstance(value, list)
        and len(value) <= MAX_BULK_LOCATIONS
        and all(isinstance(item, str) and 1 <= len(item) <= 200 for item in value)
    )


_FIELDS = (*_REQUIRED_TEXT, "timestamp", *_OPTIONAL_IDS, *_OPTIONAL_TEXT, "locationIds")


def _unsafe(text: str) -> bool:
    return any(char == "\x00" or "\ud800" <= char <= "\udfff" for char in text)


def _unsafe_anywhere(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _unsafe(item):
                return True
        elif isinstance(item, dict):
            if any(_unsafe(str(key)) for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _storable(value: str, limit: int) -> bool:
    control = any(char < " " or "\x7f" <= char <= "\x9f" for char in value)
    return bool(value.strip()) and not control and len(value) <= limit


# --- generating --------------------------------------------------------------------------------

Draft = dict[str, Any]
"""The fields of a GhlCase a category chose (number is added after)."""
Category = Callable[[random.Random, int, Sequence[GhlCase]], Draft]
"""(random numbers, the size limit of a body, the cases made so far) -> a draft."""


def generate_ghl_cases(
    seed: int, count: int, *, max_body_bytes: int, first_number: int = 0
) -> list[GhlCase]:
    """``count`` cases numbered from ``first_number``: the same for the same seed, and drawn
    from a random stream of their own (the CRM receiver's cases do not move)."""
    rng = random.Random(f"ghl-{seed}")
    names = list(GHL_CATEGORIES)
    weights = [GHL_CATEGORIES[name][1] for name in names]
    cases: list[GhlCase] = []
    for index in range(count):
        name = names[index] if index < len(names) else rng.choices(names, weights)[0]
        number = first_number + index
        draft = GHL_CATEGORIES[name][0](rng, max_body_bytes, cases)
        if draft.get("endpoint") == APP_WEBHOOK:
            draft = _with_unique_id(draft, f"fz-ghl-{seed}-{number}")
        cases.append(_settled(GhlCase(number=number, category=name, **draft), max_body_bytes))
    return cases


def _settled(case: GhlCase, max_body_bytes: int) -> GhlCase:
    """A POST body over the limit is a 413 before anything else is read (its timestamp filled
    in, the body is as long as when it is sent)."""
    framed = case.chunked or case.content_length is not None
    if case.endpoint != APP_WEBHOOK or case.method != b"POST" or framed:
        return case
    if len(app_body(case, 0)) > max_body_bytes and case.expect != "413":
        return replace(case, expect="413", description=f"{case.description} (over the limit)")
    return case


def _with_unique_id(draft: Draft, unique: str) -> Draft:
    """The draft with ``unique`` for the placeholder @ID@ of its body, and the webhookId the
    body then names (for a body that is JSON at all) remembered."""
    body: bytes = draft.get("body", b"").replace(b"@ID@", unique.encode())
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    named = payload.get("webhookId") if isinstance(payload, dict) else None
    return {**draft, "body": body, "webhook_id": named if isinstance(named, str) else None}


def app_event(rng: random.Random, kind: str | None = None) -> dict[str, Any]:
    """An app event GHL could send, with @NOW@ as its timestamp and @ID@ as its webhookId."""
    kind = kind or rng.choice(["INSTALL", "INSTALL", "UNINSTALL", "UNINSTALL", "other"])
    location, company = rng.choice(APP_LOCATIONS), rng.choice(APP_COMPANIES)
    shape = rng.randrange(2)
    event: dict[str, Any]
    if kind == "INSTALL" and shape == 0:
        event = {
            "type": "INSTALL", "appId": APP_ID, "versionId": "fuzzversion01",
            "installType": "Location", "locationId": location, "companyId": company,
            "userId": "user_fuzz", "companyName": "Fuzz Agency", "isWhitelabelCompany": False,
        }  # fmt: skip
    elif kind == "INSTALL":
        count = rng.randint(1, len(APP_LOCATIONS))
        event = {
            "type": "INSTALL", "appId": APP_ID, "installType": "Company", "companyId": company,
            "locationIds": rng.sample(APP_LOCATIONS, count), "companyName": "Fuzz Agency",
        }  # fmt: skip
    elif kind == "UNINSTALL" and shape == 0:
        event = {"type": "UNINSTALL", "appId": APP_ID, "locationId": location}
    elif kind == "UNINSTALL":
        event = {"type": "UNINSTALL", "appId": APP_ID, "companyId": company}
    else:
        other = rng.choice(["ContactCreate", "LocationUpdate", "ExternalAuthConnected", "Install"])
        event = {"type": other, "locationId": location, "id": "contact_1"}
    event["timestamp"] = NOW
    event["webhookId"] = "@ID@"
    return event


def dumps(value: Any, *, ascii_only: bool = False) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode()


def _app(description: str, expect: str, body: bytes, **more: Any) -> Draft:
    return {
        "description": description,
        "expect": expect,
        "endpoint": APP_WEBHOOK,
        "method": b"POST",
        "body": body,
        "content_type": JSON_TYPE,
        "signing": SIGNED,
        **more,
    }


def _app_valid(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    event = app_event(rng)
    return _app(f"valid {event['type']}", "200", dumps(event, ascii_only=rng.random() < 0.3))


def _app_resend(rng: random.Random, limit: int, earlier: Sequence[GhlCase]) -> Draft:
    sent = [c for c in earlier if c.category == "app valid"]
    if not sent:
        return _app_valid(rng, limit, earlier)
    original = rng.choice(sent)
    # Signed again with a fresh timestamp: a repeat GHL makes, answered 200 duplicate.
    return _app(f"the webhookId of case {original.number} again", "200", original.body)


def _app_signature(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    mode = rng.choice(list(SIGNING_MODES))
    event = app_event(rng)
    body = dumps(event)
    expect = SIGNING_MODES[mode]
    return _app(mode, app_answer(event) if expect == "model" else expect, body, signing=mode)


TIMESTAMPS: list[tuple[str, Any, int]] = [
    ("the clock", NOW, 0),
    ("4 minutes ago", NOW, -240),
    ("4 minutes ahead", NOW, 240),
    ("10 minutes ago", NOW, -600),
    ("10 minutes ahead", NOW, 600),
    ("a day ago", NOW, -86_400),
    ("a year ahead", NOW, 366 * 86_400),
    ("the year 2001", "2001-09-09T01:46:40.000Z", 0),
    ("the year 1", "0001-01-01T00:00:00+00:00", 0),
    ("the year 1 at +01:00 (no UTC form)", "0001-01-01T00:00:00+01:00", 0),
    ("9999-12-31 at -05:00 (no UTC form)", "9999-12-31T23:00:00-05:00", 0),
    ("seconds since 1970, as a number", 1_800_000_000, 0),
    ("seconds since 1970, as text", "1800000000", 0),
    ("yesterday", "yesterday", 0),
    ("an empty string", "", 0),
    ("null", None, 0),
    ("a list", [NOW], 0),
    ("a date without a time", "2026-01-01", 0),
    ("10,000 characters", "2026-01-01T00:00:00Z" + "0" * 9980, 0),
]


def _app_timestamp(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    what, value, shift = rng.choice(TIMESTAMPS)
    event = app_event(rng)
    if rng.random() < 0.1:
        del event["timestamp"]
        what, value, shift = "no timestamp", MISSING, 0
    else:
        event["timestamp"] = value
    if value == NOW:
        expect = app_answer(event) if abs(shift) <= MAX_SKEW_SECONDS else "401"
    else:
        expect = app_answer(event)
    return _app(f"timestamp {what}", expect, dumps(event), shift=shift)


ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 1e300, "", " ", "\t", [], {}, [None], ["x"], {"id": "x"},
    "x" * 101, "x" * 201, "x" * 256, "x" * 501, "x" * 100_000, "loc\x01ation", "é✓🙂",
    "\u202e\u200b", [APP_LOCATIONS[0]] * 2, ["x" * 201], list(range(3)),
]  # fmt: skip
APP_FIELDS = (
    "type", "webhookId", "appId", "locationId", "locationIds", "companyId", "userId",
    "installType", "companyName", "versionId", "isWhitelabelCompany", "an unknown field",
)  # fmt: skip


def _app_fields(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    event = app_event(rng, rng.choice(["INSTALL", "UNINSTALL", "other"]))
    name = rng.choice(APP_FIELDS)
    value = rng.choice(ODD_VALUES)
    if rng.random() < 0.08:
        event.pop(name, None)
        what = f"no {name}"
    else:
        event[name] = value
        what = f"{_shown(value)} as {name}"
    payload: Any = event
    if rng.random() < 0.05:
        payload = rng.choice([[], [event], "INSTALL", 1, None])
        what = f"{_shown(payload)} as the body"
    return _app(f"{what} ({_kind(payload)})", app_answer(payload), dumps(payload))


def _app_strings(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    event = app_event(rng)
    what = rng.choice(list(BAD_TEXT))
    text: str = json.loads(BAD_TEXT[what])
    place = rng.choice(["type", "webhookId", "appId", "locationId", "companyId", "companyName",
                        "an unknown field", "a key", "a key in an unknown object"])  # fmt: skip
    if place == "a key":
        event[text] = "x"
    elif place == "a key in an unknown object":
        event["whitelabelDetails"] = {text: "x"}
    elif place == "webhookId":
        event[place] = "@ID@" + text
    else:
        event[place] = text
    return _app(
        f"{what} in {place} ({_kind(event)})", app_answer(event), dumps(event, ascii_only=True)
    )


def _app_json(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    good = dumps(app_event(rng))
    deep = rng.choice([100, 500, 900, 950, 990, 1000, 5000, 50_000])
    nested = b"[" * deep + b"]" * deep
    choices: list[tuple[str, bytes, str]] = [
        ("an empty body", b"", "400"),
        ("an unclosed object", b"{", "400"),
        ("an empty object", b"{}", "422"),
        ("an array", b"[]", "422"),
        ("null", b"null", "422"),
        ("a string", b'"INSTALL"', "422"),
        ("a trailing comma", good[:-1] + b",}", "400"),
        ("single quotes", good.replace(b'"', b"'"), "400"),
        ("two objects", good + good, "400"),
        ("a byte-order mark", b"\xef\xbb\xbf" + good, "400"),
        ("UTF-16", good.decode().encode("utf-16"), "400"),
        ("invalid UTF-8", good[:-1] + b',"x":"\xff"}', "400"),
        ("an overlong NUL", good[:-1] + b',"x":"\xc0\x80"}', "400"),
        ("a CESU-8 surrogate", good[:-1] + b',"x":"\xed\xa0\x80"}', "400"),
        ("NaN", good[:-1] + b',"x":NaN}', "400"),
        ("Infinity", good[:-1] + b',"x":Infinity}', "400"),
        ("-Infinity", good[:-1] + b',"x":-Infinity}', "400"),
        ("1e400", good[:-1] + b',"x":1e400}', "400"),
        ("an int of 5,000 digits", good[:-1] + b',"x":' + b"9" * 5000 + b"}", "400"),
        ("an int of 4,000 digits", good[:-1] + b',"x":' + b"9" * 4000 + b"}", "200"),
        ("type given twice", b'{"type":"UNINSTALL",' + good[1:], "400"),
        ("a key given twice in an inner object", good[:-1] + b',"o":{"a":1,"a":2}}', "400"),
        ("the last byte cut", good[:-1], "400"),
        # Deeper than 32 levels is refused before anything is queued: a deep body once
        # reached the queue under a valid signature and killed the worker that pickled it.
        (f"lists nested {deep} levels deep in an unknown field",
         good[:-1] + b',"x":' + nested + b"}", "400"),
        (f"a body of lists nested {deep} levels deep", nested, "400"),
    ]  # fmt: skip
    description, body, expect = rng.choice(choices)
    return _app(description, expect, body)


def _app_size(rng: random.Random, limit: int, __: Sequence[GhlCase]) -> Draft:
    body = dumps(app_event(rng, "UNINSTALL"))
    variants: list[Draft] = [
        {"description": "one byte over the limit", "pad_to": limit + 1, "expect": "413"},
        {"description": "four times the limit", "pad_to": 4 * limit, "expect": "413"},
        {"description": "one byte over the limit, chunked", "pad_to": limit + 1,
         "chunked": True, "expect": "413"},
        {"description": "exactly the limit", "pad_to": limit, "expect": "200"},
        {"description": "exactly the limit, chunked", "pad_to": limit, "chunked": True,
         "expect": "200"},
        {"description": "small, chunked", "chunked": True, "expect": "200"},
        {"description": "a Content-Length ten times the limit and a short body",
         "content_length": str(10 * limit).encode(), "expect": "413"},
        {"description": "a Content-Length smaller than the body",
         "content_length": b"20", "expect": "4xx"},
        {"description": "a Content-Length that is not a number", "content_length": b"lots",
         "expect": "4xx"},
        {"description": "Content-Length and chunked together", "content_length": b"30",
         "chunked": True, "expect": "4xx"},
    ]  # fmt: skip
    return _app("", "", body) | rng.choice(variants)


def _app_request(rng: random.Random, limit: int, __: Sequence[GhlCase]) -> Draft:
    event = app_event(rng)
    body = dumps(event)
    variants: list[Draft] = [
        {"description": "no Content-Type", "content_type": None, "expect": app_answer(event)},
        {"description": "Content-Type text/plain", "content_type": b"text/plain",
         "expect": app_answer(event)},
        {"description": "method GET", "method": b"GET", "body": b"", "signing": UNSIGNED,
         "expect": "405"},
        {"description": "method PUT", "method": b"PUT", "expect": "405"},
        {"description": "a trailing slash", "target": b"/webhooks/ghl/", "expect": "4xx"},
        {"description": "a query string", "target": b"/webhooks/ghl?debug=1&x=%00",
         "expect": app_answer(event)},
        {"description": "the path in upper case", "target": b"/WEBHOOKS/GHL", "expect": "404"},
        {"description": "a gzip body, Content-Encoding: gzip (signed, not decoded)",
         "body": gzip.compress(body, mtime=0), "extra_headers": ((b"Content-Encoding", b"gzip"),),
         "expect": "400"},
    ]  # fmt: skip
    return _app("", "", body) | rng.choice(variants)


# --- the install's requests --------------------------------------------------------------------


def _install(endpoint: str, description: str, expect: str, query: bytes, **more: Any) -> Draft:
    target = endpoint.encode() + (b"?" + query if query else b"")
    return {
        "description": description,
        "expect": expect,
        "endpoint": endpoint,
        "target": target,
        **more,
    }


START_QUERIES: list[tuple[str, bytes, str]] = [
    ("an OAuth connection", b"connection=" + PINNED.encode(), "302"),
    ("an OAuth connection without a location", b"connection=" + UNPLACED.encode(), "302"),
    ("a Private Integration connection", b"connection=" + PIT.encode(), "400"),
    ("an unknown connection id", b"connection=" + GONE.encode(), "404"),
    ("the agency", b"agency=1", "302"),
    ("no query", b"", "400"),
    ("an empty connection", b"connection=", "400"),
    ("agency=yes", b"agency=yes", "400"),
    ("an empty agency", b"agency=", "400"),
    ("both a connection and the agency", b"agency=1&connection=" + PINNED.encode(), "400"),
    ("the agency twice, the first 1", b"agency=1&agency=2", "302"),
    ("a connection twice, the first known",
     b"connection=" + PINNED.encode() + b"&connection=" + GONE.encode(), "302"),
    ("a connection twice, the first unknown",
     b"connection=" + GONE.encode() + b"&connection=" + PINNED.encode(), "404"),
    ("connection[]=", b"connection[]=" + PINNED.encode(), "400"),
    ("a ; after the id", b"connection=" + PINNED.encode() + b";agency=1", "404"),
    ("the id and a space", b"connection=" + PINNED.encode() + b"%20", "404"),
    ("a percent-encoded NUL", b"connection=con_%00x", "404"),
    ("a percent-encoded invalid UTF-8 id", b"connection=con_%ff%fe", "404"),
    ("a percent-encoded UTF-8 id", b"connection=con_caf%C3%A9", "404"),
    ("a lone %", b"connection=%", "404"),
    ("an id of 200 characters", b"connection=con_" + b"a" * 196, "404"),
    ("an id of 201 characters", b"connection=con_" + b"a" * 197, "404"),
    ("an id of 3,000 characters", b"connection=con_" + b"a" * 2996, "404"),
    ("an id of 6,000 characters", b"connection=con_" + b"a" * 5996, "4xx"),
    ("SQL in the id", b"connection=%27%20OR%201%3D1%20--", "404"),
    ("a dot-dot path as the id", b"connection=..%2F..%2Fetc%2Fpasswd", "404"),
    ("raw invalid UTF-8 in the query", b"connection=con_\xff\xfe", "4xx"),
    ("raw UTF-8 in the query", "connection=con_café".encode(), "4xx"),
    ("unknown parameters only", b"foo=bar&state=x", "400"),
]  # fmt: skip

CALLBACK_QUERIES: list[tuple[str, bytes, str]] = [
    ("no query", b"", "400"),
    ("the user cancelled", b"error=access_denied", "200"),
    ("the user cancelled, with a state", b"error=access_denied&state=" + STATE.encode(), "200"),
    ("the user cancelled, with a garbage state", b"error=access_denied&state=x.y", "200"),
    ("another error, with HTML in its description",
     b"error=server_error&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "502"),
    ("an empty error", b"error=", "502"),
    ("an error of 3,000 characters", b"error=" + b"e" * 3000, "502"),
    ("an error in invalid UTF-8", b"error=%ff%fe&error_description=%c0%80", "502"),
    ("an error and a code", b"error=access_denied&code=junk", "200"),
    ("a made-up code, no state", b"code=junk", "400"),
    ("a made-up code twice", b"code=junk&code=other", "400"),
    ("an empty code", b"code=", "400"),
    ("a code of 1,000 characters", b"code=" + b"c" * 1000, "400"),
    ("a code of 1,001 characters", b"code=" + b"c" * 1001, "400"),
    ("a code of 6,000 characters", b"code=" + b"c" * 6000, "4xx"),
    ("a percent-encoded NUL in the code", b"code=ab%00cd", "400"),
    ("percent-encoded invalid UTF-8 as the code", b"code=%ff%fe", "400"),
    ("raw invalid UTF-8 as the code", b"code=\xff\xfe", "4xx"),
    ("a state alone", b"state=" + STATE.encode(), "400"),
    ("a garbage state", b"state=garbage&code=junk", "400"),
    ("a state of dots and base64", b"state=eyJjIjoiYSJ9.AAAA&code=junk", "400"),
    ("a state of 999 characters", b"state=" + b"A" * 999 + b"&code=junk", "400"),
    ("a state of 3,000 characters", b"state=" + b"A" * 3000 + b"&code=junk", "400"),
    ("a state of 6,000 characters", b"state=" + b"A" * 6000 + b"&code=junk", "4xx"),
    ("a state in invalid UTF-8", b"state=%ff.%fe&code=junk", "400"),
    ("an expired state", b"state=" + STATE_OLD.encode() + b"&code=junk", "400"),
    ("a valid state and a made-up code", b"state=" + STATE.encode() + b"&code=junk", "400"),
    ("a state for the agency and a made-up code",
     b"state=" + STATE_AGENCY.encode() + b"&code=junk", "400"),
    ("a state for a connection that is gone", b"state=" + STATE_GONE.encode() + b"&code=junk",
     "404"),
    ("a state for a Private Integration connection",
     b"state=" + STATE_PIT.encode() + b"&code=junk", "400"),
    ("an empty state and a made-up code", b"state=&code=junk", "400"),
    ("an empty state, then a valid one",
     b"state=&state=" + STATE.encode() + b"&code=junk", "400"),
    ("a valid state, then a garbage one",
     b"state=" + STATE.encode() + b"&state=garbage&code=junk", "400"),
]  # fmt: skip

LIVE_QUERIES: list[tuple[str, bytes, str]] = [
    ("a marketplace install of a location with one connection",
     b"code=" + CODE_PINNED.encode(), "200"),
    ("a marketplace install of a location with two connections",
     b"code=" + CODE_SHARED.encode(), "409"),
    ("a marketplace install of a location without a connection",
     b"code=" + CODE_LONELY.encode(), "404"),
    ("a marketplace install of an agency", b"code=" + CODE_AGENCY.encode(), "400"),
    ("an install of the connection's location",
     b"state=" + STATE.encode() + b"&code=" + CODE_PINNED.encode(), "200"),
    ("an install of another location than the connection's",
     b"state=" + STATE.encode() + b"&code=" + CODE_LONELY.encode(), "409"),
    ("an agency chosen for a connection's install",
     b"state=" + STATE.encode() + b"&code=" + CODE_AGENCY.encode(), "400"),
    ("an agency install", b"state=" + STATE_AGENCY.encode() + b"&code=" + CODE_AGENCY.encode(),
     "200"),
    ("a location chosen for the agency install",
     b"state=" + STATE_AGENCY.encode() + b"&code=" + CODE_PINNED.encode(), "400"),
    ("the last live callback again", REPLAY.encode(), "400"),
]  # fmt: skip


def _start(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    description, query, expect = rng.choice(START_QUERIES)
    return _install(OAUTH_START, description, expect, query)


def _callback(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    description, query, expect = rng.choice(CALLBACK_QUERIES)
    return _install(OAUTH_CALLBACK, description, expect, query)


def _live(rng: random.Random, _: int, earlier: Sequence[GhlCase]) -> Draft:
    description, query, expect = rng.choice(LIVE_QUERIES)
    return _install(OAUTH_CALLBACK, description, expect, query)


def _install_request(rng: random.Random, _: int, __: Sequence[GhlCase]) -> Draft:
    choices: list[Draft] = [
        _install(OAUTH_START, "method POST", "405", b"agency=1", method=b"POST"),
        _install(OAUTH_CALLBACK, "method POST", "405", b"code=junk", method=b"POST"),
        _install(OAUTH_START, "method HEAD", "302", b"agency=1", method=b"HEAD"),
        _install(OAUTH_START, "a trailing slash", "404", b"", target=b"/oauth/ghl/start/"),
        _install(OAUTH_CALLBACK, "the path in upper case", "404", b"",
                 target=b"/OAUTH/GHL/CALLBACK?code=junk"),
        _install(OAUTH_START, "a Cookie of 6,000 bytes", "302", b"agency=1",
                 extra_headers=((b"Cookie", b"session=" + b"c" * 6000),)),
        _install(OAUTH_CALLBACK, "a NUL in a header", "4xx", b"code=junk",
                 extra_headers=((b"X-Note", b"a\x00b"),)),
        _install(OAUTH_START, "a foreign Host", "302", b"agency=1",
                 extra_headers=((b"X-Forwarded-Host", b"evil.example"),)),
    ]  # fmt: skip
    return rng.choice(choices)


GHL_CATEGORIES: dict[str, tuple[Category, int]] = {
    "app valid": (_app_valid, 10),
    "app resend": (_app_resend, 3),
    "app signature": (_app_signature, 10),
    "app timestamp": (_app_timestamp, 6),
    "app fields": (_app_fields, 12),
    "app strings": (_app_strings, 6),
    "app json": (_app_json, 8),
    "app size": (_app_size, 3),
    "app request": (_app_request, 3),
    "install start": (_start, 10),
    "install callback": (_callback, 12),
    "install live": (_live, 8),
    "install request": (_install_request, 3),
}
"""Each category's generator and its weight."""


def _kind(event: Any) -> str:
    return str(event.get("type")) if isinstance(event, dict) else type(event).__name__


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text)} characters)"

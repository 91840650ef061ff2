"""Verifying GHL app webhooks with real keys: the sandbox's Ed25519 key and throw-away RSA keys."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from ghl.app_webhooks import (
    GHL_LEGACY_RSA_PUBLIC_KEY_PEM,
    GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM,
    AppWebhookRejected,
    SignatureScheme,
    configured_public_keys,
    load_ed25519_public_key,
    load_public_key,
    load_rsa_public_key,
    parse_body,
    verify_app_webhook,
    verify_signature,
)
from sandbox.ghl.app_webhooks import (
    SANDBOX_COMPANY_NAME,
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
    AppWebhook,
    sign,
    signed_delivery,
)
from sandbox.ghl.oauth import SANDBOX_APP_ID, SANDBOX_COMPANY_ID, SANDBOX_USER_ID
from sandbox.ghl.seed import timestamp
from socialbridge.config import ConfigError, Settings

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9/webhooks/ghl"


# -- helpers ----------------------------------------------------------------------------------


def public_pem(key: Ed25519PublicKey | RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_sign(key: RSAPrivateKey, body: bytes) -> str:
    signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def install(**changes: Any) -> dict[str, Any]:
    """An INSTALL payload in GHL's field names, sent at NOW; `None` drops a field."""
    payload: dict[str, Any] = {
        "type": "INSTALL",
        "appId": SANDBOX_APP_ID,
        "locationId": "loc_1",
        "companyId": SANDBOX_COMPANY_ID,
        "installType": "Location",
        "userId": SANDBOX_USER_ID,
        "companyName": SANDBOX_COMPANY_NAME,
        "isWhitelabelCompany": False,
        "timestamp": timestamp(NOW),
        "webhookId": "wh-1",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    """The headers of `body` signed with the sandbox's Ed25519 key, as GHL signs."""
    return {"Content-Type": "application/json", "x-ghl-signature": sign(body)}


def verify(
    body: bytes,
    headers: dict[str, str],
    *,
    ed25519_pem: str = SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
    rsa_pem: str | None = None,
    now: datetime = NOW,
) -> Any:
    return verify_app_webhook(body, headers, ed25519_pem=ed25519_pem, rsa_pem=rsa_pem, now=now)


def rejected(call: Callable[[], object]) -> AppWebhookRejected:
    with pytest.raises(AppWebhookRejected) as caught:
        call()
    return caught.value


# -- Ed25519 ----------------------------------------------------------------------------------


def test_a_sandbox_install_verifies_and_loads_every_field() -> None:
    body, headers = signed_delivery(
        AppWebhook(
            url=URL, type="INSTALL", location_id="loc_1", timestamp=timestamp(NOW), webhook_id="w1"
        )
    )
    event = verify(body, headers)
    assert event.type == "INSTALL"
    assert event.handled
    assert event.webhook_id == "w1"
    assert event.timestamp == NOW
    assert event.app_id == SANDBOX_APP_ID
    assert event.location_id == "loc_1"
    assert event.location_ids == ()
    assert event.company_id == SANDBOX_COMPANY_ID
    assert event.install_type == "Location"
    assert event.user_id == SANDBOX_USER_ID
    assert event.company_name == SANDBOX_COMPANY_NAME
    assert event.raw == json.loads(body)


def test_a_sandbox_uninstall_verifies() -> None:
    body, headers = signed_delivery(
        AppWebhook(url=URL, type="UNINSTALL", location_id="loc_9", timestamp=timestamp(NOW))
    )
    event = verify(body, headers)
    assert (event.type, event.location_id, event.install_type) == ("UNINSTALL", "loc_9", None)
    assert event.user_id is None


def test_the_header_is_found_whatever_its_case() -> None:
    body = encode(install())
    event = verify(body, {"X-GHL-Signature": sign(body)})
    assert event.location_id == "loc_1"


def test_verify_signature_names_the_scheme_that_held() -> None:
    body = encode(install())
    scheme = verify_signature(
        body, signed(body), ed25519_pem=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, rsa_pem=None
    )
    assert scheme is SignatureScheme.ED25519


def test_a_tampered_sandbox_delivery_is_refused() -> None:
    body, headers = signed_delivery(
        AppWebhook(
            url=URL, type="INSTALL", location_id="loc_1", timestamp=timestamp(NOW), tamper=True
        )
    )
    error = rejected(lambda: verify(body, headers))
    assert error.status == 401
    assert "x-ghl-signature" in error.reason


def test_one_changed_byte_after_signing_is_refused() -> None:
    body = encode(install())
    headers = signed(body)
    changed = body.replace(b'"loc_1"', b'"loc_2"')
    assert changed != body
    assert rejected(lambda: verify(changed, headers)).status == 401
    # The same body with one more space: equal JSON, different bytes, so not what GHL signed.
    assert rejected(lambda: verify(body + b" ", headers)).status == 401


def test_a_signature_from_another_ed25519_key_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    body = encode(install())
    headers = {"x-ghl-signature": base64.b64encode(stranger.sign(body)).decode()}
    assert rejected(lambda: verify(body, headers)).status == 401


def test_a_sandbox_signature_does_not_verify_with_ghls_published_key() -> None:
    body = encode(install())
    error = rejected(
        lambda: verify(body, signed(body), ed25519_pem=GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM)
    )
    assert error.status == 401


@pytest.mark.parametrize("value", ["", "N/A", "not base64!", "AAAA", "é"])
def test_a_signature_header_that_is_no_signature_is_refused(value: str) -> None:
    body = encode(install())
    assert rejected(lambda: verify(body, {"x-ghl-signature": value})).status == 401


def test_no_signature_header_is_refused_and_says_what_is_expected() -> None:
    error = rejected(lambda: verify(encode(install()), {"Content-Type": "application/json"}))
    assert error.status == 401
    assert "no x-ghl-signature" in error.reason
    assert "GHL_WEBHOOK_RSA_PUBLIC_KEY" in error.reason


def test_the_signature_is_checked_before_the_body_is_parsed() -> None:
    error = rejected(lambda: verify(b"not json", {"x-ghl-signature": sign(b"other")}))
    assert error.status == 401


# -- RSA (legacy) -----------------------------------------------------------------------------


def test_rsa_is_refused_when_no_rsa_key_is_configured(rsa_key: RSAPrivateKey) -> None:
    body = encode(install())
    error = rejected(lambda: verify(body, {"x-wh-signature": rsa_sign(rsa_key, body)}))
    assert error.status == 401
    assert "GHL_WEBHOOK_RSA_PUBLIC_KEY" in error.reason
    assert "x-wh-signature" in error.reason


def test_rsa_verifies_when_configured(rsa_key: RSAPrivateKey) -> None:
    body = encode(install(type="UNINSTALL", installType=None, userId=None))
    headers = {"X-WH-Signature": rsa_sign(rsa_key, body)}
    pem = public_pem(rsa_key.public_key())
    event = verify(body, headers, rsa_pem=pem)
    assert event.type == "UNINSTALL"
    scheme = verify_signature(
        body, headers, ed25519_pem=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, rsa_pem=pem
    )
    assert scheme is SignatureScheme.RSA


def test_a_tampered_rsa_delivery_is_refused(rsa_key: RSAPrivateKey) -> None:
    body = encode(install())
    headers = {"x-wh-signature": rsa_sign(rsa_key, body)}
    changed = body.replace(b"loc_1", b"loc_2")
    pem = public_pem(rsa_key.public_key())
    assert rejected(lambda: verify(changed, headers, rsa_pem=pem)).status == 401


def test_an_rsa_signature_from_another_key_is_refused(
    rsa_key: RSAPrivateKey, other_rsa_key: RSAPrivateKey
) -> None:
    body = encode(install())
    headers = {"x-wh-signature": rsa_sign(other_rsa_key, body)}
    error = rejected(lambda: verify(body, headers, rsa_pem=public_pem(rsa_key.public_key())))
    assert error.status == 401
    assert "x-wh-signature" in error.reason


def test_a_good_rsa_signature_cannot_stand_in_for_a_bad_ed25519_one(
    rsa_key: RSAPrivateKey,
) -> None:
    body = encode(install())
    headers = {
        "x-ghl-signature": sign(b"something else"),
        "x-wh-signature": rsa_sign(rsa_key, body),
    }
    error = rejected(lambda: verify(body, headers, rsa_pem=public_pem(rsa_key.public_key())))
    assert error.status == 401
    assert "x-ghl-signature" in error.reason


def test_with_both_headers_a_good_ed25519_signature_decides(rsa_key: RSAPrivateKey) -> None:
    body = encode(install())
    headers = {"x-ghl-signature": sign(body), "x-wh-signature": "garbage"}
    event = verify(body, headers, rsa_pem=public_pem(rsa_key.public_key()))
    assert event.webhook_id == "wh-1"


# -- timestamp --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset",
    [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1), timedelta(days=400)],
)
def test_a_timestamp_outside_five_minutes_is_stale(offset: timedelta) -> None:
    body = encode(install(timestamp=timestamp(NOW + offset)))
    error = rejected(lambda: verify(body, signed(body)))
    assert error.status == 401
    assert error.reason.startswith("stale timestamp")


@pytest.mark.parametrize("offset", [timedelta(minutes=5), -timedelta(minutes=5), timedelta(0)])
def test_a_timestamp_within_five_minutes_is_accepted(offset: timedelta) -> None:
    body = encode(install(timestamp=timestamp(NOW + offset)))
    assert verify(body, signed(body)).timestamp == NOW + offset


def test_the_skew_allowed_can_be_chosen() -> None:
    body = encode(install(timestamp=timestamp(NOW - timedelta(seconds=30))))
    call = lambda: verify_app_webhook(  # noqa: E731
        body,
        signed(body),
        ed25519_pem=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
        rsa_pem=None,
        now=NOW,
        max_skew=timedelta(seconds=10),
    )
    assert rejected(call).status == 401


def test_a_timestamp_with_an_offset_is_compared_in_utc() -> None:
    body = encode(install(timestamp="2026-03-02T07:01:00-05:00"))  # NOW + 1 minute
    assert verify(body, signed(body)).timestamp == NOW + timedelta(minutes=1)


def test_a_stale_delivery_is_refused_as_stale_whatever_else_it_holds() -> None:
    body = encode(install(timestamp=timestamp(NOW - timedelta(hours=1)), webhookId=None))
    assert rejected(lambda: verify(body, signed(body))).status == 401


def test_a_naive_now_is_a_programming_error() -> None:
    body = encode(install())
    with pytest.raises(ValueError, match="aware"):
        verify(body, signed(body), now=NOW.replace(tzinfo=None))


# -- body and payload -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"type": "INSTALL"', "not JSON"),
        (b'{"type": "INSTALL", "type": "UNINSTALL"}', "more than once"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": 1e999}', "out of range"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (b"", "not JSON"),
    ],
)
def test_a_signed_body_that_is_not_strict_json_is_a_400(body: bytes, says: str) -> None:
    error = rejected(lambda: verify(body, signed(body)))
    assert error.status == 400
    assert says in error.reason


def test_parse_body_keeps_numbers_as_json_wrote_them() -> None:
    assert parse_body(b'{"a": 1, "b": 1.5, "c": [true, null]}') == {
        "a": 1,
        "b": 1.5,
        "c": [True, None],
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"type": "INSTALL", "type": "UNINSTALL"}',
            "body is not JSON we accept: the key 'type' is given more than once in one object",
        ),
        # The first object to close with a repeated key is the one named.
        (
            b'{"a": 1, "a": 2, "b": {"c": 1, "c": 2}}',
            "body is not JSON we accept: the key 'c' is given more than once in one object",
        ),
        (
            b"[" * 100_000 + b"]" * 100_000,
            "body is not JSON we accept: nested deeper than 32 levels",
        ),
        (b'{"n": NaN}', "body is not JSON we accept: NaN is not a JSON value."),
    ],
)
def test_parse_body_says_what_is_wrong(body: bytes, reason: str) -> None:
    error = rejected(lambda: parse_body(body))
    assert (error.status, error.reason) == (400, reason)


def test_parse_body_bounds_the_depth_but_not_the_length_of_numbers() -> None:
    # 500 levels under a valid signature once reached the queue and killed the worker that
    # pickled the task for its pool; 32 is far more than GHL's events need (2).
    at_limit = b"[" * 32 + b"]" * 32
    assert isinstance(parse_body(at_limit), list)
    with pytest.raises(AppWebhookRejected) as raised:
        parse_body(b"[" * 33 + b"]" * 33)
    assert raised.value.status == 400
    assert "nested" in raised.value.reason
    assert parse_body(b"9" * 200) == int("9" * 200)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (install(webhookId=None), "webhookId"),
        (install(webhookId=""), "webhookId"),
        (install(type=None), "type"),
        (install(timestamp=None), "timestamp"),
        (install(timestamp="yesterday"), "timestamp"),
        (install(locationId=7), "locationId"),
        (install(companyId=["c"]), "companyId"),
        (install(appId=None), "appId"),
        (install(locationId=None, companyId=None), "locationId"),
        (install(locationIds=["loc_1", 2]), "locationIds.1"),
        (install(companyName="bad\u0000name"), "companyName"),
        (install(whitelabelDetails={"domain": "x\u0000"}), "whitelabelDetails.domain"),
        ([install()], "_body"),
        ("INSTALL", "_body"),
    ],
)
def test_a_payload_that_fails_the_schema_is_a_422_naming_the_field(
    payload: Any, field: str
) -> None:
    body = encode(payload)
    error = rejected(lambda: verify(body, signed(body)))
    assert error.status == 422
    assert field in error.errors, error.errors
    assert field in error.reason


def test_an_agency_install_has_no_location() -> None:
    body = encode(install(locationId=None, installType="Company"))
    event = verify(body, signed(body))
    assert event.location_id is None
    assert event.company_id == SANDBOX_COMPANY_ID
    assert event.install_type == "Company"


def test_a_location_uninstall_needs_no_company() -> None:
    payload = {
        "type": "UNINSTALL",
        "appId": SANDBOX_APP_ID,
        "locationId": "loc_1",
        "timestamp": timestamp(NOW),
        "webhookId": "wh-2",
    }
    body = encode(payload)
    event = verify(body, signed(body))
    assert (event.location_id, event.company_id) == ("loc_1", None)


def test_a_bulk_install_names_its_locations_once_each() -> None:
    body = encode(install(locationId=None, locationIds=["loc_1", "loc_2", "loc_1"]))
    assert verify(body, signed(body)).location_ids == ("loc_1", "loc_2")


def test_other_event_types_are_let_through_for_the_receiver_to_ignore() -> None:
    payload = {
        "type": "ContactCreate",
        "locationId": "loc_1",
        "id": "contact_1",
        "timestamp": timestamp(NOW),
        "webhookId": "wh-3",
    }
    body = encode(payload)
    event = verify(body, signed(body))
    assert event.type == "ContactCreate"
    assert not event.handled
    assert event.app_id is None
    assert event.raw["id"] == "contact_1"


def test_fields_ghl_adds_are_kept_in_raw_and_do_not_break_delivery() -> None:
    body = encode(install(planId="plan_1", trial={"onTrial": True}, versionId="v2"))
    event = verify(body, signed(body))
    assert event.raw["planId"] == "plan_1"
    assert event.raw["trial"] == {"onTrial": True}


# -- keys -------------------------------------------------------------------------------------


def test_ghls_published_keys_are_an_ed25519_key_and_a_4096_bit_rsa_key() -> None:
    assert isinstance(
        load_ed25519_public_key(GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM), Ed25519PublicKey
    )
    assert load_rsa_public_key(GHL_LEGACY_RSA_PUBLIC_KEY_PEM).key_size == 4096


def test_a_key_is_read_from_the_forms_an_env_file_can_hold() -> None:
    expected = load_ed25519_public_key(SANDBOX_WEBHOOK_PUBLIC_KEY_PEM).public_bytes_raw()
    one_line = SANDBOX_WEBHOOK_PUBLIC_KEY_PEM.strip().replace("\n", "\\n")
    joined = SANDBOX_WEBHOOK_PUBLIC_KEY_PEM.replace("\n", " ")
    bare = SANDBOX_WEBHOOK_PUBLIC_KEY_PEM.splitlines()[1]
    for form in (one_line, joined, bare, f"  {SANDBOX_WEBHOOK_PUBLIC_KEY_PEM}  "):
        assert load_ed25519_public_key(form).public_bytes_raw() == expected, form


def test_a_pkcs1_rsa_key_is_read(rsa_key: RSAPrivateKey) -> None:
    pkcs1 = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    loaded = load_rsa_public_key(pkcs1.decode().replace("\n", "\\n"))
    assert loaded.public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("pem", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not a key", "not valid base64"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a public key"),
        ("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA", "without matching"),
    ],
)
def test_an_unreadable_key_is_a_config_error_naming_the_setting(pem: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^GHL_WEBHOOK_PUBLIC_KEY: .*{says}"):
        load_public_key(pem, setting="GHL_WEBHOOK_PUBLIC_KEY")


def test_a_private_key_is_refused_as_one() -> None:
    private = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigError, match="never paste a private key"):
        load_public_key(private.decode(), setting="GHL_WEBHOOK_PUBLIC_KEY")


def test_keys_of_the_wrong_kind_are_config_errors(rsa_key: RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match=r"^GHL_WEBHOOK_PUBLIC_KEY: an RSA key"):
        load_ed25519_public_key(public_pem(rsa_key.public_key()))
    with pytest.raises(ConfigError, match=r"^GHL_WEBHOOK_RSA_PUBLIC_KEY: an Ed25519 key"):
        load_rsa_public_key(SANDBOX_WEBHOOK_PUBLIC_KEY_PEM)
    ec_pem = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(ConfigError, match="expected Ed25519 or RSA"):
        load_public_key(ec_pem, setting="GHL_WEBHOOK_PUBLIC_KEY")


def test_a_short_rsa_key_is_refused() -> None:
    # Too short on purpose: the point is that it is refused.
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(ConfigError, match="1024 bits"):
        load_rsa_public_key(public_pem(short.public_key()))


def test_configured_keys_default_to_ghls_published_key_and_no_rsa() -> None:
    assert configured_public_keys(Settings.from_mapping({})) == (
        GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM,
        None,
    )


def test_configured_keys_are_those_set(rsa_key: RSAPrivateKey) -> None:
    rsa_pem = public_pem(rsa_key.public_key())
    settings = Settings.from_mapping(
        {
            "GHL_WEBHOOK_PUBLIC_KEY": SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
            "GHL_WEBHOOK_RSA_PUBLIC_KEY": rsa_pem,
        }
    )
    assert configured_public_keys(settings) == (SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, rsa_pem)


def test_a_configured_key_of_the_wrong_kind_stops_the_start(rsa_key: RSAPrivateKey) -> None:
    settings = Settings.from_mapping({"GHL_WEBHOOK_RSA_PUBLIC_KEY": SANDBOX_WEBHOOK_PUBLIC_KEY_PEM})
    with pytest.raises(ConfigError, match=r"^GHL_WEBHOOK_RSA_PUBLIC_KEY"):
        configured_public_keys(settings)
    settings = Settings.from_mapping({"GHL_WEBHOOK_PUBLIC_KEY": public_pem(rsa_key.public_key())})
    with pytest.raises(ConfigError, match=r"^GHL_WEBHOOK_PUBLIC_KEY"):
        configured_public_keys(settings)


def test_verifying_with_an_unreadable_key_is_a_config_error_not_a_refusal() -> None:
    body = encode(install())
    with pytest.raises(ConfigError, match="GHL_WEBHOOK_PUBLIC_KEY"):
        verify(body, signed(body), ed25519_pem="nonsense")


def test_a_rejection_says_its_status_and_reason() -> None:
    error = AppWebhookRejected(401, "stale timestamp")
    assert str(error) == "401: stale timestamp"
    assert error.errors == {}

"""Sign-in: the password, the account lock and the per-address throttle, in that order.

An account locks for LOCK_FOR after LOCK_AFTER failures in a row (a success resets the count);
an address is refused for the rest of its window after SIGNIN_ADDRESS_LIMIT failures. A
refusal never says whether the email exists, except that a locked account says it is locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from console.throttle import AddressThrottle
from store import Store, UserRecord

LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)


class Refusal(StrEnum):
    """Why a sign-in was refused."""

    WRONG = "wrong"  # unknown email or wrong password: the same answer for both
    LOCKED = "locked"  # the account is locked after too many failures
    THROTTLED = "throttled"  # this address failed too often


@dataclass(frozen=True)
class SignInResult:
    """Either ``user`` (signed in) or ``refusal``, with ``retry_after`` seconds when known."""

    user: UserRecord | None = None
    refusal: Refusal | None = None
    retry_after: int = 0

    @property
    def message(self) -> str:
        """What the sign-in page says."""
        minutes = max(1, -(-self.retry_after // 60))
        if self.refusal is Refusal.LOCKED:
            return (
                f"This account is locked after {LOCK_AFTER} failed sign-ins: try again in "
                f"{minutes} min, or ask an admin to reset its password."
            )
        if self.refusal is Refusal.THROTTLED:
            return f"Too many failed sign-ins from your address: try again in {minutes} min."
        if self.refusal is Refusal.WRONG:
            return "Wrong email or password."
        return ""


def sign_in(
    store: Store,
    throttle: AddressThrottle,
    *,
    email: str,
    password: str,
    address: str,
    now: datetime | None = None,
) -> SignInResult:
    """Check ``email`` and ``password`` coming from ``address``, counting failures."""
    when = now or datetime.now(UTC)
    wait = throttle.retry_after(address)
    if wait:
        return SignInResult(refusal=Refusal.THROTTLED, retry_after=wait)
    known = store.find_user(email)
    if known is not None and known.locked_at(when):
        # Not even checked: a lock that a right guess could lift would not stop guessing.
        throttle.failed(address)
        return SignInResult(refusal=Refusal.LOCKED, retry_after=_seconds_until(known, when))
    user = store.verify_user_password(email, password)
    if user is None:
        throttle.failed(address)
        if known is None:
            return SignInResult(refusal=Refusal.WRONG)
        counted = store.record_sign_in_failure(
            known.id, lock_after=LOCK_AFTER, lock_for=LOCK_FOR, now=when
        )
        if counted.locked_at(when):
            return SignInResult(refusal=Refusal.LOCKED, retry_after=_seconds_until(counted, when))
        return SignInResult(refusal=Refusal.WRONG)
    throttle.forget(address)
    return SignInResult(user=store.record_sign_in_success(user.id, now=when))


def _seconds_until(user: UserRecord, now: datetime) -> int:
    assert user.locked_until is not None
    return max(0, int((user.locked_until - now).total_seconds()))

from __future__ import annotations

from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError


def test_errors_read_as_one_line_with_system_status_and_trace() -> None:
    error = RetryableError("rate limited", system="ghl", status=429, trace_id="t-1", retry_after=2)
    assert str(error) == "ghl: rate limited (HTTP 429) [traceId t-1]"
    assert error.retry_after == 2
    assert isinstance(error, IntegrationError)


def test_the_tree_has_three_leaves() -> None:
    assert {cls.__name__ for cls in IntegrationError.__subclasses__()} == {
        "RetryableError",
        "AuthError",
        "PermanentError",
    }
    assert str(AuthError("no", system="crm")) == "crm: no"
    assert str(PermanentError("bad", system="ghl", status=422)) == "ghl: bad (HTTP 422)"

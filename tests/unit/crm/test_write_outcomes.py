"""The outcome words of a failed write, shared by every connector's ``crm.write`` line."""

from __future__ import annotations

import pytest

from crm.write_outcomes import REFUSED_SIGNATURE, failure_outcome
from socialbridge.errors import (
    AuthError,
    IntegrationError,
    PermanentError,
    RetryableError,
    ScopeError,
)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RetryableError("CRM unreachable", system="crm"), "retryable"),
        (AuthError("login refused", system="crm"), "refused_credentials"),
        (PermanentError("no such contact", system="crm"), "rejected"),
    ],
)
def test_each_branch_of_the_error_tree_has_its_word(error: IntegrationError, outcome: str) -> None:
    assert failure_outcome(error) == outcome


def test_a_webhook_crm_refuses_our_signature_not_credentials() -> None:
    refused = AuthError("401", system="crm")

    assert failure_outcome(refused, refused=REFUSED_SIGNATURE) == "refused_signature"
    assert failure_outcome(RetryableError("503", system="crm"), refused=REFUSED_SIGNATURE) == (
        "retryable"
    )


def test_a_subclass_takes_its_branchs_word() -> None:
    assert (
        failure_outcome(ScopeError("scope missing", system="crm", scope=None))
        == "refused_credentials"
    )

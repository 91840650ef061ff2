"""Public ids: a short prefix saying what the id names, then random lowercase hex."""

from __future__ import annotations

import secrets


def new_connection_id() -> str:
    """``con_`` and 16 hex digits."""
    return "con_" + secrets.token_hex(8)


def new_event_id() -> str:
    """``evt_`` and 24 hex digits."""
    return "evt_" + secrets.token_hex(12)


def new_snapshot_id() -> str:
    """``snp_`` and 24 hex digits."""
    return "snp_" + secrets.token_hex(12)


def new_user_id() -> str:
    """``usr_`` and 16 hex digits."""
    return "usr_" + secrets.token_hex(8)


def new_api_token_id() -> str:
    """``tok_`` and 16 hex digits (the token's public id, not the token)."""
    return "tok_" + secrets.token_hex(8)

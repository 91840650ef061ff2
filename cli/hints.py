"""What to do about a connection that is not active: moved to `console.hints`, which the
console's pages and these commands share; kept here for the names others import."""

from console.hints import reconnect_hint, resume_hint, status_words, waiting_hint

__all__ = ["reconnect_hint", "resume_hint", "status_words", "waiting_hint"]

"""Failed sign-ins per client address, counted in Redis across every web process.

A fixed window: the first failure of an address starts it, and at ``limit`` failures the
address is refused until the window ends. Guessing many accounts' passwords from one address
is what this stops; the per-account lock (store.users) stops guessing one account's.
"""

from __future__ import annotations

import redis

KEY_PREFIX = "socialbridge:signin:address:"
WINDOW_SECONDS = 15 * 60


class AddressThrottle:
    """Counts failed sign-ins of each client address in a window of ``window`` seconds."""

    def __init__(
        self, client: redis.Redis[bytes], *, limit: int, window: int = WINDOW_SECONDS
    ) -> None:
        self._redis = client
        self.limit = limit
        self.window = window

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        key = KEY_PREFIX + address
        count = self._redis.get(key)
        if count is None or int(count) < self.limit:
            return 0
        remaining = int(self._redis.ttl(key))
        # -1 (no expiry) cannot happen with failed(), but must not lock an address for ever.
        return remaining if remaining > 0 else 0

    def failed(self, address: str) -> int:
        """Count one failure of ``address``; the number of failures in its window."""
        key = KEY_PREFIX + address
        pipe = self._redis.pipeline()
        pipe.incr(key)
        # NX: only the first failure starts the window; later ones do not push its end.
        pipe.expire(key, self.window, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def forget(self, address: str) -> None:
        """Drop the address's count (a successful sign-in from it)."""
        self._redis.delete(KEY_PREFIX + address)

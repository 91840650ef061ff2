"""Bodies mangled at random, for the tests that a strict JSON decoder never raises otherwise."""

from __future__ import annotations

import random
from collections.abc import Iterator

# What a broken or hostile body is made of: JSON's punctuation, digits, the letters of its
# literals (and of NaN, Infinity), NUL, and bytes that are never UTF-8.
ALPHABET = b'[]{}",:\\0123456789.eE+-aefilnrstuNIy \x00\xff\xed'


def mangled(seed: bytes, rng: random.Random, count: int) -> Iterator[bytes]:
    """`count` copies of `seed`, each with 1 to 7 bytes deleted or runs of bytes inserted."""
    for _ in range(count):
        body = bytearray(seed)
        for _ in range(rng.randrange(1, 8)):
            spot = rng.randrange(len(body) + 1)
            if rng.random() < 0.5 and body:
                del body[min(spot, len(body) - 1)]
            else:
                body[spot:spot] = bytes([rng.choice(ALPHABET)]) * rng.choice([1, 1, 2, 40])
        yield bytes(body)

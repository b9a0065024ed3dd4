"""Keyed random-number generators: a cheap, reproducible generator per (seed, stream, key).

``np.random.default_rng([seed, stream, key])`` costs ~15 us (SeedSequence); a detector
record needs one per pulse, so :class:`KeyedGenerator` instead re-seats one PCG64 state
from a BLAKE2b hash of the key (~2 us). Distinct keys give independent-looking streams
(different 128-bit state and increment); the same key always gives the same stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK128 = (1 << 128) - 1


class KeyedGenerator:
    """One reusable ``np.random.Generator`` re-seated by key; not shared between users."""

    def __init__(self, seed: int, stream: int) -> None:
        self._prefix = f"sevens:{int(seed)}:{int(stream)}:".encode()
        self._bitgen = np.random.PCG64(0)
        self.generator = np.random.Generator(self._bitgen)

    def at(self, key: int) -> np.random.Generator:
        """The generator, re-seated at the start of the stream for ``key`` (invalidates earlier uses)."""
        digest = hashlib.blake2b(self._prefix + str(int(key)).encode(), digest_size=32).digest()
        value = int.from_bytes(digest, "little")
        self._bitgen.state = {
            "bit_generator": "PCG64",
            "state": {"state": value & _MASK128, "inc": (value >> 128) | 1},
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self.generator

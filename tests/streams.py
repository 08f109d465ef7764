"""Test helper: a large response body that counts how much of it was read (no tests here)."""
from __future__ import annotations

import io


class CountingBody(io.RawIOBase):
    """``size`` bytes of spaces; ``sent`` says how many were read."""

    def __init__(self, size: int):
        self.size, self.sent = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.sent)
        buffer[:n] = b" " * n
        self.sent += n
        return n

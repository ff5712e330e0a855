"""A token bucket for per-socket frame limits (pure; time is an argument).

Used by ``rooms.socket`` for ``subscribe`` frames: each costs an access check, an audit
row and a replay from the database, so a socket may burst ``capacity`` of them and then
one per ``1 / rate`` seconds. Per socket and in memory on purpose: the cost is the
socket's own work on this process, the check is free of cache round trips (a flood of
frames must not become a flood of Redis calls), and a new socket costs a signed-in
handshake. Sends keep their per-person limit across processes (``rooms.ratelimit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float = field(default=-1.0)
    at: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> int:
        """Spend one token: 0 when allowed, else the whole seconds until one is available
        (nothing is spent when refused)."""
        if self.at is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.rate))

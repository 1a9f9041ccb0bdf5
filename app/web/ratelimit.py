"""An optional limit on each token's writes: beyond it, 429 with Retry-After.

`WRITE_RATE_LIMIT=N/SECONDS` (e.g. `600/60`) lets each token make N writes per SECONDS, in
bursts of up to N (a token bucket refilled continuously). Empty, the default, means no limit.
The buckets live in each worker process, so a server with W workers lets a token write up to
W × N: the limit keeps a runaway script from flooding the database; it is not a quota to
bill by.
"""

import math
import re
import threading
import time
from dataclasses import dataclass

LIMIT_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass
class _Bucket:
    tokens: float
    updated: float


class WriteRateLimit:
    def __init__(self, writes: int, seconds: int) -> None:
        if writes < 1 or seconds < 1:
            raise ValueError("a write rate limit needs at least 1 write per at least 1 second")
        self.capacity = float(writes)
        self.per_second = writes / seconds
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, setting: str) -> "WriteRateLimit | None":
        """The limit a WRITE_RATE_LIMIT setting names, or None when it is empty."""
        if not setting.strip():
            return None
        match = LIMIT_PATTERN.match(setting)
        if match is None:
            raise ValueError(f"WRITE_RATE_LIMIT must look like 600/60, not {setting!r}")
        return cls(int(match[1]), int(match[2]))

    def wait(self, key: str, now: float | None = None) -> int:
        """Take one write from key's bucket: 0 if allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(self.capacity, now))
            bucket.tokens = min(
                self.capacity, bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0
            return max(1, math.ceil((1 - bucket.tokens) / self.per_second))

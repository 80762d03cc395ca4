"""Token-bucket rate limits: per API key (middleware) and per sender (handler).

A bucket holds up to ``rate`` tokens and refills at ``rate`` per minute, so a
client may send a burst of ``rate`` requests and then ``rate`` per minute. Buckets
live in a bounded :class:`cachetools.TTLCache`: an idle bucket is full again after
one minute, so dropping it then loses nothing, and ``max_buckets`` caps memory
however many distinct senders a client invents (the per-key limit still holds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache
from starlette.types import ASGIApp, Receive, Scope, Send

from .envelope import error_response
from .errors import TooManyRequests
from .middleware.auth import key_claims

MAX_BUCKETS = 10_000
REFILL_WINDOW = 60.0


class TokenBucketLimiter:
    """One token bucket per name; :meth:`take` spends a token or raises 429.

    Args:
        rate: requests per minute and bucket capacity; 0 turns the limiter off.
        what: how the 429 detail names the limited thing ("API key", "sender").
        max_buckets: bound on the number of buckets kept in memory.
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        rate: int,
        *,
        what: str,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.what = what
        self._clock = clock
        self._per_second = rate / REFILL_WINDOW
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(
            max_buckets, REFILL_WINDOW, clock
        )

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, name: str) -> None:
        """Spend one token of ``name``'s bucket.

        Raises:
            TooManyRequests: the bucket is empty; ``Retry-After`` says when a token is back.
        """
        if not self.enabled:
            return
        now = self._clock()
        tokens, last = self._buckets.get(name, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self._per_second)
        if tokens < 1.0:
            self._buckets[name] = (tokens, now)
            retry_after = math.ceil((1.0 - tokens) / self._per_second)
            raise TooManyRequests(
                f"rate limit exceeded: at most {self.rate} requests per minute per "
                f"{self.what}; retry in {retry_after} s",
                retry_after=retry_after,
            )
        self._buckets[name] = (tokens - 1.0, now)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The two limiters of one app instance."""

    per_key: TokenBucketLimiter
    per_sender: TokenBucketLimiter

    @classmethod
    def from_rates(cls, per_key: int, per_sender: int) -> RateLimits:
        return cls(
            per_key=TokenBucketLimiter(per_key, what="API key"),
            per_sender=TokenBucketLimiter(per_sender, what="sender"),
        )


class KeyRateLimitMiddleware:
    """Answer 429 (envelope + ``Retry-After``) when the request's key is over its limit.

    Sits inside the bearer auth, so it only counts authenticated requests; public
    routes (no key) pass through. The bucket belongs to the key's lineage (the
    instance it was issued for), not to one key string: a refresh hands out a new
    key, and must not hand out a fresh bucket with it.

    Args:
        app: the wrapped ASGI app.
        limiter: the per-key token buckets.
    """

    def __init__(self, app: ASGIApp, *, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        claims = key_claims(scope)
        if claims is not None:
            try:
                self.limiter.take(claims.platform_id)
            except TooManyRequests as exc:
                ttl = claims.ttl(time.time())
                await error_response(exc, api_key_ttl=ttl)(scope, receive, send)
                return
        await self.app(scope, receive, send)

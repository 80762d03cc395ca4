"""When to try a callback delivery again: the policy and the ``Retry-After`` header."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts and pauses of one delivery.

    Args:
        timeout: seconds one attempt may take (connect + send + answer).
        retries: attempts after the first (3 → 4 attempts in all).
        backoff: pause before the first retry, seconds; it doubles for each retry.
        backoff_max: the longest pause, also the cap on a receiver's ``Retry-After``
            (so one receiver cannot stall its deliveries indefinitely).
    """

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 60.0

    def delay(self, retry: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Pause before retry number ``retry`` (0-based): "equal jitter" exponential backoff.

        Half the nominal pause is fixed and half random, so retries of many
        deliveries spread out but never come back at once. A ``Retry-After``
        from the receiver wins over the computed pause (both capped).
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max)
        nominal = min(self.backoff * 2.0**retry, self.backoff_max)
        return nominal / 2 + rng() * nominal / 2


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None

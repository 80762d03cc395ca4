"""Startup key check with its audit lines: why a new key was issued, what it revoked."""

from __future__ import annotations

from .audit import AuditTrail
from .errors import Unauthorized
from .keys import KeyManager, fingerprint


def ensure_key_audited(keys: KeyManager, configured_key: str, audit: AuditTrail) -> str | None:
    """:meth:`KeyManager.ensure`, logging ``key_issued`` (and ``key_revoked``) when it issues.

    Returns:
        The new key to write back to the config, or ``None`` if the configured one is good.
    """
    reason = "empty"
    if configured_key:
        try:
            keys.verify(configured_key)
        except Unauthorized as exc:
            reason = exc.reason
    new_key = keys.ensure(configured_key)
    if new_key is None:
        return None
    generation = keys.verify(new_key).generation
    audit.key_issued(key_fp=fingerprint(new_key), generation=generation, reason=reason)
    if generation > 1:
        audit.key_revoked(below_generation=generation, reason=reason)
    return new_key

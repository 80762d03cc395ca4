"""API keys scoped to one adapter instance, signed with the plugin's own secret.

A key is ``hep_<payload>.<signature>``: base64url JSON claims (platform id,
generation, issue and expiry time, a nonce) and an HMAC-SHA256 over them with a
secret that lives only in the plugin's data directory. It is deliberately not a
JWT and never touches the dashboard's ``jwt_secret``, so it can never pass as a
dashboard login, and a dashboard token can never pass here.

Revocation is by generation: every newly issued key bumps the instance's
generation; only keys of the current generation verify, plus the previous
generation until its grace period ends (refresh). The state file keeps the
secret, the generation and the grace window, so all of it survives restarts.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Unauthorized

KEY_PREFIX = "hep_"
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class KeyClaims:
    """What a verified key says about itself."""

    platform_id: str
    generation: int
    issued_at: int
    expires_at: int

    def ttl(self, now: float) -> int:
        """Remaining life in whole seconds (the envelope's ``api_key_ttl``)."""
        return max(0, int(self.expires_at - now))


@dataclass(slots=True)
class _KeyState:
    secret: bytes
    generation: int = 0
    grace_generation: int = -1
    grace_until: float = 0.0
    current_key: str = ""  # derivable from the secret anyway; lets ensure() restore it


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a presented credential, safe to log."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class KeyManager:
    """Issues, verifies, refreshes and revokes the keys of one adapter instance.

    Args:
        platform_id: the instance id the keys are scoped to.
        state_file: JSON file holding the signing secret and generation (mode 0600).
        ttl: lifetime of a new key, seconds.
        grace: how long the previous key keeps working after a refresh, seconds.
        clock: wall clock (keys carry absolute expiry times), injectable for tests.
    """

    def __init__(
        self,
        *,
        platform_id: str,
        state_file: Path,
        ttl: int,
        grace: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._platform_id = platform_id
        self._state_file = state_file
        self._ttl = ttl
        self._grace = grace
        self._clock = clock
        self._state = self._load()

    def ensure(self, configured_key: str) -> str | None:
        """Reconcile the configured key with the state; returns the key to write back, if any.

        - the current key: kept (``None``);
        - an older key of ours (a dashboard form saved after a refresh): the current
          key is written back, nothing is revoked and the old key gains nothing;
        - empty (the operator cleared it), invalid, foreign or expired: a new key of a
          new generation, which revokes every earlier key.
        """
        if configured_key:
            try:
                if self.verify(configured_key).generation == self._state.generation:
                    return None
                stale = True  # accepted only for the grace period
            except Unauthorized as exc:
                stale = exc.reason == "revoked"
            current = self._state.current_key
            if stale and current and self._is_current(current):
                return current
        return self.issue(grace=False)

    def _is_current(self, key: str) -> bool:
        try:
            return self.verify(key).generation == self._state.generation
        except Unauthorized:
            return False

    def issue(self, *, grace: bool) -> str:
        """Issue a key of a new generation; with ``grace`` the previous one lingers."""
        state = self._state
        now = self._clock()
        if grace:
            state.grace_generation, state.grace_until = state.generation, now + self._grace
        else:
            state.grace_generation, state.grace_until = -1, 0.0
        state.generation += 1
        claims = {
            "p": self._platform_id,
            "g": state.generation,
            "i": int(now),
            "e": int(now) + self._ttl,
            "n": secrets.token_urlsafe(6),
        }
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        state.current_key = key = f"{KEY_PREFIX}{payload}.{self._sign(payload)}"
        self._save()
        return key

    def verify(self, token: str) -> KeyClaims:
        """Return the claims of a key this instance accepts right now.

        Raises:
            Unauthorized: with ``reason`` one of malformed, bad_signature, foreign,
                expired, revoked.
        """
        payload, _, signature = token.removeprefix(KEY_PREFIX).partition(".")
        if not token.startswith(KEY_PREFIX) or not payload or not signature:
            raise Unauthorized("the API key is malformed", reason="malformed")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise Unauthorized("the API key is not valid for this endpoint", reason="bad_signature")
        claims = _decode_claims(payload)
        now = self._clock()
        if claims.platform_id != self._platform_id:
            raise Unauthorized("the API key belongs to another endpoint", reason="foreign")
        if claims.expires_at <= now:
            raise Unauthorized(
                "the API key has expired; ask the operator for a new one", reason="expired"
            )
        if not self._generation_accepted(claims.generation, now):
            raise Unauthorized("the API key has been replaced or revoked", reason="revoked")
        if claims.generation != self._state.generation:  # refreshed: it lives until grace ends
            grace_end = int(self._state.grace_until)
            claims = dataclasses.replace(claims, expires_at=min(claims.expires_at, grace_end))
        return claims

    def _generation_accepted(self, generation: int, now: float) -> bool:
        state = self._state
        if generation == state.generation:
            return True
        return generation == state.grace_generation and now < state.grace_until

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._state.secret, f"hep1.{payload}".encode(), hashlib.sha256)
        return _b64encode(mac.digest())

    def _load(self) -> _KeyState:
        """Read the state file; a missing or unreadable one starts afresh.

        A fresh state has a new secret, so every earlier key stops verifying and
        :meth:`ensure` issues a new one: failing closed, never open.
        """
        try:
            raw: dict[str, Any] = json.loads(self._state_file.read_text("utf-8"))
            state = _KeyState(
                secret=bytes.fromhex(raw["secret"]),
                generation=int(raw["generation"]),
                grace_generation=int(raw.get("grace_generation", -1)),
                grace_until=float(raw.get("grace_until", 0.0)),
                current_key=str(raw.get("current_key", "")),
            )
            if len(state.secret) < SECRET_BYTES:
                raise ValueError("secret too short")
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
            state = _KeyState(secret=secrets.token_bytes(SECRET_BYTES))
            self._write(state)
            return state
        if self._state_file.stat().st_mode & 0o077:
            self._state_file.chmod(0o600)  # someone loosened it; the file holds the secret
        return state

    def _save(self) -> None:
        self._write(self._state)

    def _write(self, state: _KeyState) -> None:
        """Write atomically with owner-only permissions (the file holds the secret)."""
        self._state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = json.dumps(
            {
                "secret": state.secret.hex(),
                "generation": state.generation,
                "grace_generation": state.grace_generation,
                "grace_until": state.grace_until,
                "current_key": state.current_key,
            }
        )
        tmp = self._state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover tmp file
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self._state_file)


def _decode_claims(payload: str) -> KeyClaims:
    try:
        raw = json.loads(_b64decode(payload))
        return KeyClaims(
            platform_id=str(raw["p"]),
            generation=int(raw["g"]),
            issued_at=int(raw["i"]),
            expires_at=int(raw["e"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Unauthorized("the API key is malformed", reason="malformed") from None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Standard Webhooks signing: the secret format and the three headers.

Spec: ``webhook-id`` (stable across retries), ``webhook-timestamp`` (Unix
seconds, per attempt) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256>``
over ``"{id}.{timestamp}.{body}"``, keyed with the secret's bytes. The secret is
shown as ``whsec_<base64>``, exactly what the official ``standardwebhooks``
libraries accept, so a receiver verifies with one call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def new_secret() -> str:
    """A fresh ``whsec_...`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret.

    Raises:
        ValueError: not base64, or shorter than 24 / longer than 64 bytes (the spec's range).
    """
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"the secret must hold {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, got {len(key)}"
        )
    return key


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt (the timestamp, hence the signature, changes per attempt)."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, webhook_id, timestamp, body),
    }


def new_webhook_id() -> str:
    """A unique delivery id, ``msg_`` + 22 url-safe characters (Svix-like)."""
    return "msg_" + secrets.token_urlsafe(16)

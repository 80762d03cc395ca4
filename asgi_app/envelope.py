"""The one response shape every endpoint answers with, success or error.

``{"msg_id", "code", "detail", "api_key_ttl", "data", "done"}`` is the seed
plugin's contract (``done`` is our backwards-compatible addition); errors add
``error``, a stable machine-readable slug.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

from .errors import HepError


def envelope(
    *,
    msg_id: str = "",
    code: int = 0,
    detail: str = "success",
    api_key_ttl: int = 0,
    data: Sequence[Mapping[str, Any]] = (),
    done: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Build the envelope dict; ``extra`` fields are appended after the standard ones."""
    body: dict[str, Any] = {
        "msg_id": msg_id,
        "code": code,
        "detail": detail,
        "api_key_ttl": api_key_ttl,
        "data": list(data),
        "done": done,
    }
    body.update(extra)
    return body


def error_response(exc: HepError, *, msg_id: str = "", api_key_ttl: int = 0) -> JSONResponse:
    """Render a :class:`HepError` as the envelope, with its status and headers."""
    body = envelope(
        msg_id=msg_id,
        code=int(exc.status),
        detail=exc.detail,
        api_key_ttl=api_key_ttl,
        done=True,
        error=exc.error,
    )
    return JSONResponse(body, status_code=int(exc.status), headers=exc.headers)

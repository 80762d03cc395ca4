"""Operator endpoints for callbacks that failed for good: list them, replay them.

Served under ``/api/plug/hep/callbacks/`` behind the same bearer key as the chat
endpoint, and only while callback mode is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .callbacks import CallbackDispatcher
from .envelope import envelope
from .errors import BadRequest
from .middleware.auth import key_claims
from .settings import HEP_PREFIX
from .validation import read_json_body

DEAD_LETTERS_PATH = f"{HEP_PREFIX}/callbacks/dead_letters"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_REPLAY_IDS = 1000


def dead_letter_routes(
    callbacks: CallbackDispatcher, *, audit: Any, clock: Callable[[], float] = time.time
) -> list[Route]:
    """``GET …/dead_letters[?limit=N]`` and ``POST …/dead_letters/replay``.

    Args:
        callbacks: the running dispatcher (owner of the outbox).
        audit: structlog audit logger (replays are recorded).
        clock: wall clock for ``api_key_ttl``.
    """

    def ttl(request: Request) -> int:
        claims = key_claims(request.scope)
        return claims.ttl(clock()) if claims else 0

    async def list_dead_letters(request: Request) -> JSONResponse:
        limit = _limit(request.query_params.get("limit"))
        letters = callbacks.dead_letters(limit)
        data = [letter.to_json() for letter in letters]
        return JSONResponse(envelope(api_key_ttl=ttl(request), data=data))

    async def replay(request: Request) -> JSONResponse:
        ids = _webhook_ids(await _optional_json(request))
        revived = callbacks.replay(ids)
        audit.info("dead_letters_replayed", count=len(revived), selected=ids is not None)
        data = [{"webhook_id": d.webhook_id, "msg_id": d.msg_id} for d in revived]
        detail = f"{len(revived)} dead letter(s) queued for delivery again"
        return JSONResponse(envelope(detail=detail, api_key_ttl=ttl(request), data=data))

    return [
        Route(DEAD_LETTERS_PATH, list_dead_letters, methods=["GET"]),
        Route(f"{DEAD_LETTERS_PATH}/replay", replay, methods=["POST"]),
    ]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


async def _optional_json(request: Request) -> Any:
    """An empty body means ``{}`` (replay everything)."""
    if request.headers.get("content-length", "") in ("", "0") and "content-type" not in (
        request.headers
    ):
        return {}
    return await read_json_body(request, limit=64 * 1024)


def _webhook_ids(body: Any) -> list[str] | None:
    """``{"webhook_ids": [...]}`` selects; ``{}`` means all dead letters."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    ids = body.get("webhook_ids")
    if ids is None:
        return None
    if (
        not isinstance(ids, list)
        or not all(isinstance(i, str) for i in ids)
        or len(ids) > MAX_REPLAY_IDS
    ):
        raise BadRequest(
            f"webhook_ids: expected a list of at most {MAX_REPLAY_IDS} webhook-id strings"
        )
    return ids

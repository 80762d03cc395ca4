"""Assemble the Starlette app: routes, the middleware list, the error table."""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .dead_letters import dead_letter_routes
from .envelope import error_response
from .errors import HepError, MethodNotAllowed, NotFound
from .files import FILES_PREFIX
from .metrics import Metrics
from .middleware.access_log import AccessLogMiddleware
from .middleware.auth import BearerAuthMiddleware, PublicPaths, key_claims
from .middleware.context import RequestContextMiddleware, request_context
from .middleware.metrics import MetricsMiddleware
from .openapi import OPENAPI_PATH
from .ops import HEALTH_PATH, OpsHandlers
from .ratelimit import KeyRateLimitMiddleware
from .routes import Handlers
from .settings import HEP_PREFIX


def create_app(handlers: Handlers) -> Starlette:
    """Build the sub-application served at ``/api/plug/<endpoint>`` and ``/api/plug/hep/...``.

    Routes carry their full paths (the dispatcher forwards the scope unchanged),
    and the chat path answers with and without a trailing slash instead of a 307.

    Args:
        handlers: the route handlers with their dependencies (settings, gateway, keys, audit).
    """
    settings = handlers.settings
    audit = handlers.audit
    chat = settings.chat_path
    routes = [
        Route(chat, handlers.post_message, methods=["POST"]),
        Route(chat + "/", handlers.post_message, methods=["POST"]),
        Route(f"{HEP_PREFIX}/refresh_token", handlers.refresh_token, methods=["GET", "POST"]),
        Route(OPENAPI_PATH, handlers.openapi, methods=["GET"]),
    ]
    metrics = handlers.metrics if handlers.metrics is not None else Metrics(handlers.gateway)
    routes += OpsHandlers(intake=handlers.gateway, metrics=metrics).routes()
    if handlers.files is not None:
        routes.append(handlers.files.route())
    if handlers.callbacks is not None:
        routes += dead_letter_routes(handlers.callbacks, audit=audit, clock=handlers.clock)
    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=metrics, routes=routes),
        Middleware(AccessLogMiddleware, logger=audit),
        Middleware(
            BearerAuthMiddleware,
            verify=handlers.keys.verify,
            public_paths=PublicPaths(
                exact=(HEALTH_PATH, OPENAPI_PATH), prefixes=(FILES_PREFIX + "/",)
            ),
            on_failure=lambda reason, key_fp: audit.auth_failed(reason=reason, key_fp=key_fp),
        ),
        Middleware(KeyRateLimitMiddleware, limiter=handlers.rate_limits.per_key),
    ]
    exception_handlers: dict[Any, Any] = {
        HepError: _hep_error,
        HTTPException: _http_error,
        Exception: _unexpected_error(audit),
    }
    return Starlette(routes=routes, middleware=middleware, exception_handlers=exception_handlers)


def _envelope_ttl(request: Request) -> dict[str, Any]:
    """The envelope fields an error still reports: the msg_id if known, the key's ttl."""
    context = request_context(request.scope)
    claims = key_claims(request.scope)
    return {
        "msg_id": context.msg_id or "",
        "api_key_ttl": claims.ttl(time.time()) if claims else 0,
    }


async def _hep_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HepError)
    return error_response(exc, **_envelope_ttl(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error: HepError = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        error.headers.update(exc.headers or {})
    else:
        error = NotFound(f"no such endpoint: {request.url.path}")
    return error_response(error, **_envelope_ttl(request))


def _unexpected_error(audit: Any) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        audit.internal_error(exc)
        return error_response(HepError("internal error"), **_envelope_ttl(request))

    return handler

"""Bearer-key authentication for every route except the public ones."""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..envelope import error_response
from ..errors import Unauthorized
from ..keys import KeyClaims, fingerprint
from .context import request_context

CLAIMS_KEY = "hep_key"


def key_claims(scope: Scope) -> KeyClaims | None:
    """The verified key of this request, or ``None`` on a public route."""
    claims = scope.get("state", {}).get(CLAIMS_KEY)
    return claims if isinstance(claims, KeyClaims) else None


class PublicPaths:
    """A ``public_paths`` container: exact paths plus whole prefixes (e.g. signed file links).

    Args:
        exact: paths served without a key.
        prefixes: path prefixes served without a key (include the trailing ``/``).
    """

    def __init__(self, exact: Container[str] = (), prefixes: tuple[str, ...] = ()) -> None:
        self.exact = exact
        self.prefixes = prefixes

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.exact or path.startswith(self.prefixes))


class BearerAuthMiddleware:
    """Answer 401 (JSON envelope + ``WWW-Authenticate: Bearer``) unless the key verifies.

    Args:
        app: the wrapped ASGI app.
        verify: returns the claims of an accepted key or raises :class:`Unauthorized`.
        public_paths: paths served without a key (``in`` test; see :class:`PublicPaths`).
        on_failure: called with (reason, key fingerprint or None) for the audit trail.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verify: Callable[[str], KeyClaims],
        public_paths: Container[str] = (),
        on_failure: Callable[[str, str | None], Any] | None = None,
    ) -> None:
        self.app = app
        self.verify = verify
        self.public_paths = public_paths
        self.on_failure = on_failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        context = request_context(scope)
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        token = token.strip()
        try:
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized(
                    "missing API key: send the header 'Authorization: Bearer <key>'",
                    reason="missing",
                )
            context.bind(key_fp=fingerprint(token))
            scope["state"][CLAIMS_KEY] = self.verify(token)
        except Unauthorized as exc:
            if self.on_failure is not None:
                self.on_failure(exc.reason, context.key_fp)
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

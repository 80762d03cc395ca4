"""Errors a client can cause, each mapped to one HTTP status and one envelope.

    HepError                  base: status, error slug, detail, extra headers
     ├── BadRequest           400  the body or a field is wrong
     ├── Unauthorized         401  missing, malformed, expired, revoked or foreign key
     ├── NotFound             404
     ├── MethodNotAllowed     405
     ├── PayloadTooLarge      413
     ├── UnsupportedMediaType 415
     ├── TooManyRequests      429  (Retry-After)
     └── Unavailable          503  (Retry-After) e.g. the inbound queue is full

The app's exception handlers turn any of these into the JSON envelope, so handlers
and middleware only ever ``raise``; nothing else decides a status code.
"""

from __future__ import annotations

from http import HTTPStatus


class HepError(Exception):
    """A request the adapter refuses, with the status and words the client sees."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    error: str = "internal_error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(HepError):
    status = HTTPStatus.BAD_REQUEST
    error = "invalid_request"


class Unauthorized(HepError):
    status = HTTPStatus.UNAUTHORIZED
    error = "unauthorized"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="http_endpoint"'})
        self.reason = reason


class NotFound(HepError):
    status = HTTPStatus.NOT_FOUND
    error = "not_found"


class MethodNotAllowed(HepError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    error = "method_not_allowed"


class PayloadTooLarge(HepError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    error = "payload_too_large"

    def __init__(self, detail: str) -> None:
        # The rest of the body is never read, so the connection cannot carry another request.
        super().__init__(detail, headers={"Connection": "close"})


class UnsupportedMediaType(HepError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    error = "unsupported_media_type"


class TooManyRequests(HepError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    error = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(HepError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    error = "unavailable"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})

"""The OpenAPI 3.1 document of the adapter's endpoints, built as plain data.

No framework generates it: the schemas come from ``schemas.py`` (which reuses
``validation.py``'s patterns and limits, and ``errors.py``'s slugs), the chat path
from the settings, so a test can hold the document and the code to each other
(``tests/unit/test_openapi.py``) and schemathesis fuzzes the app against it.
"""

from __future__ import annotations

from typing import Any

from .dead_letters import DEAD_LETTERS_PATH
from .files import FILES_PREFIX
from .ops import HEALTH_PATH, METRICS_PATH
from .schemas import REF, component_schemas
from .settings import HEP_PREFIX, Settings
from .validation import JSON_MEDIA_TYPE

API_VERSION = "1.0.0"
REFRESH_PATH = f"{HEP_PREFIX}/refresh_token"
OPENAPI_PATH = f"{HEP_PREFIX}/openapi.json"


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The document for this instance (its chat path comes from ``hep_api_endpoint``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AstrBot HTTP Endpoint",
            "version": API_VERSION,
            "description": (
                "Talk to an AstrBot chatbot over HTTP. Every response, success or error, is "
                "the JSON envelope; errors add a stable `error` slug."
            ),
        },
        "paths": {
            settings.chat_path: {"post": _chat_operation()},
            REFRESH_PATH: {"get": _refresh_operation("get"), "post": _refresh_operation("post")},
            OPENAPI_PATH: {"get": _openapi_operation()},
            **_operations_paths(settings),
        },
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "The key shown in the platform's `hep_api_key` setting: "
                        "`Authorization: Bearer <key>`. Scoped to this endpoint; never a "
                        "dashboard login."
                    ),
                }
            },
            "headers": _headers(),
        },
        "security": [{"bearerAuth": []}],
    }


def _chat_operation() -> dict[str, Any]:
    return {
        "operationId": "sendMessage",
        "summary": "Send a message; wait (bounded) for the bot's replies",
        "requestBody": {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": REF + "ChatMessage"}}},
        },
        "responses": {
            "200": _envelope_response("The pipeline has finished (`done: true`).", "Envelope"),
            "202": _envelope_response(
                "Still working: the replies so far (`done: false`); POST the same msg_id "
                "again to poll.",
                "Envelope",
            ),
            **_errors(400, 401, 413, 415, 429, 503),
        },
    }


def _refresh_operation(method: str) -> dict[str, Any]:
    return {
        "operationId": f"refreshKey{method.capitalize()}",
        "summary": "Issue a new key; the presented one keeps working for the grace period",
        "responses": {
            "200": _envelope_response(
                "`data` is `[{api_key, api_key_ttl}]`: the new key and its lifetime in seconds.",
                "KeyEnvelope",
            ),
            **_errors(401, 429),
        },
    }


def _openapi_operation() -> dict[str, Any]:
    return {
        "operationId": "getOpenApi",
        "summary": "This document",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
            }
        },
    }


def _operations_paths(settings: Settings) -> dict[str, Any]:
    """Health, metrics, served files, and (in callback mode) the dead letters."""
    paths: dict[str, Any] = {
        HEALTH_PATH: {"get": _plain("getHealth", "Can the adapter take messages?", public=True)},
        METRICS_PATH: {"get": _plain("getMetrics", "Prometheus metrics", media_type="text/plain")},
        FILES_PREFIX + "/{file_id}/{name}": {
            "get": _plain(
                "getFile",
                "A file the bot sent, at its signed, expiring link (the link is the key)",
                public=True,
                media_type="application/octet-stream",
            )
        },
    }
    if settings.callback_switch:
        paths[DEAD_LETTERS_PATH] = {"get": _plain("listDeadLetters", "Callbacks given up on")}
        paths[DEAD_LETTERS_PATH + "/replay"] = {
            "post": _plain("replayDeadLetters", "Queue dead letters again (same webhook-id)")
        }
    return paths


def _plain(
    operation_id: str, summary: str, *, public: bool = False, media_type: str = JSON_MEDIA_TYPE
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            "200": {"description": summary, "content": {media_type: {"schema": {}}}},
            **({} if public else _errors(401)),
        },
    }
    if public:
        operation["security"] = []
    return operation


def _envelope_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": REF + schema}}},
    }


_ERROR_TEXT = {
    400: "The body or a field is wrong; `detail` names the field.",
    401: "Missing, malformed, expired, revoked or foreign key.",
    413: "The body is over `hep_max_body_bytes`.",
    415: "The body is not JSON (`Content-Type: application/json`).",
    429: "Over a rate limit; see `Retry-After`.",
    503: "The inbound queue is full; see `Retry-After`.",
}
_ERROR_HEADERS = {401: "WWW-Authenticate", 429: "Retry-After", 503: "Retry-After"}


def _errors(*statuses: int) -> dict[str, Any]:
    responses = {}
    for status in statuses:
        response = _envelope_response(_ERROR_TEXT[status], "ErrorEnvelope")
        extra = _ERROR_HEADERS.get(status)
        if extra:
            response["headers"][extra] = {"$ref": f"#/components/headers/{extra}"}
        responses[str(status)] = response
    return responses


def _headers() -> dict[str, Any]:
    return {
        "X-Request-Id": {
            "description": "The request's id (yours if sane, else generated).",
            "schema": {"type": "string"},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "required": True,
            "schema": {"type": "string"},
        },
    }

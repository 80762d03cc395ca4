"""The OpenAPI 3.1 document of the adapter's endpoints, built as plain data.

No framework generates it: the message rules come from ``validation.py`` (the
same patterns and limits), the chat path from the settings, the error slugs from
``errors.py``, so a test can hold the document and the code to each other
(``tests/unit/test_openapi.py``) and schemathesis fuzzes the app against it.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .settings import HEP_PREFIX, Settings
from .validation import (
    ID_PATTERN,
    JSON_MEDIA_TYPE,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    NAME_PATTERN,
    TEXT_PATTERN,
    URL_PATTERN,
)

API_VERSION = "1.0.0"
REFRESH_PATH = f"{HEP_PREFIX}/refresh_token"
OPENAPI_PATH = f"{HEP_PREFIX}/openapi.json"

_REF = "#/components/schemas/"
_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}
_COMMON_FIELDS: dict[str, Any] = {
    "msg_id": {**_ID, "description": "Client-chosen message id; a repeat POST polls it."},
    "sender_id": {**_ID, "description": "Who sends; replies are scoped by (sender_id, msg_id)."},
    "sender_nickname": {
        "type": ["string", "null"],
        "maxLength": MAX_NAME_LENGTH,
        "pattern": NAME_PATTERN,
        "description": "Display name; defaults to sender_id.",
    },
}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH, "pattern": TEXT_PATTERN}
_URL = {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH, "pattern": URL_PATTERN}

MESSAGE_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {
        "title": "TextMessage",
        "properties": {
            "type": {"enum": ["text", None], "description": "Absent or null also means text."},
            "query": {**_TEXT, "description": "The text sent to the bot."},
        },
        "required": ["query"],
    },
    "image": {
        "title": "ImageMessage",
        "properties": {
            "type": {"const": "image"},
            "url": {**_URL, "description": "Where the bot fetches the image."},
            "query": {
                "type": ["string", "null"],
                "maxLength": MAX_TEXT_LENGTH,
                "description": "Optional caption.",
            },
        },
        "required": ["type", "url"],
    },
}
"""One JSON Schema per message type of ``validation.MESSAGE_PARSERS`` (kept equal by a test)."""


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
        },
        "components": {
            "schemas": _schemas(),
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
            "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": _REF + "ChatMessage"}}},
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


def _envelope_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": _REF + schema}}},
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


def error_slugs() -> list[str]:
    """Every ``error`` value a client can see (the classes in ``errors.py``)."""
    classes: list[type[errors.HepError]] = [errors.HepError, *errors.HepError.__subclasses__()]
    return sorted({cls.error for cls in classes})


def _schemas() -> dict[str, Any]:
    variants = {
        name: {
            "type": "object",
            "title": schema["title"],
            "properties": {**_COMMON_FIELDS, **schema["properties"]},
            "required": ["msg_id", "sender_id", *schema["required"]],
        }
        for name, schema in MESSAGE_SCHEMAS.items()
    }
    envelope_fields: dict[str, Any] = {
        "msg_id": {"type": "string", "description": "Echoes the request's msg_id."},
        "code": {"type": "integer", "description": "0 on success, else the HTTP status."},
        "detail": {"type": "string", "description": "Plain words on what happened."},
        "api_key_ttl": {"type": "integer", "minimum": 0, "description": "Key life left, s."},
        "done": {"type": "boolean", "description": "Whether the bot has finished."},
    }
    required = ["msg_id", "code", "detail", "api_key_ttl", "data", "done"]
    return {
        **{schema["title"]: variants[name] for name, schema in MESSAGE_SCHEMAS.items()},
        "ChatMessage": {"oneOf": [{"$ref": _REF + s["title"]} for s in MESSAGE_SCHEMAS.values()]},
        "Item": {
            "type": "object",
            "required": ["item_id", "type", "content"],
            "properties": {
                "item_id": {"type": "string", "description": "Unique; de-duplicate on it."},
                "type": {"type": "string", "description": "text, image, ..."},
                "content": {"description": "Text, a URL, or an object for other kinds."},
            },
        },
        "Envelope": {
            "type": "object",
            "required": required,
            "properties": {
                **envelope_fields,
                "code": {"const": 0},
                "data": {"type": "array", "items": {"$ref": _REF + "Item"}},
            },
        },
        "KeyGrant": {
            "type": "object",
            "required": ["api_key", "api_key_ttl"],
            "properties": {
                "api_key": {"type": "string", "pattern": "^hep_"},
                "api_key_ttl": {"type": "integer", "minimum": 0},
            },
        },
        "KeyEnvelope": {
            "type": "object",
            "required": required,
            "properties": {
                **envelope_fields,
                "code": {"const": 0},
                "data": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {"$ref": _REF + "KeyGrant"},
                },
            },
        },
        "ErrorEnvelope": {
            "type": "object",
            "required": [*required, "error"],
            "properties": {
                **envelope_fields,
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "data": {"type": "array", "maxItems": 0},
                "error": {"enum": error_slugs(), "description": "Stable machine-readable slug."},
            },
        },
    }

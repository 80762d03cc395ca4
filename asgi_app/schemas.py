"""JSON Schemas (draft 2020-12) of the messages and the envelope, for ``openapi.py``.

The message rules are ``validation.py``'s own patterns and limits, so the schema
and the validator cannot drift apart silently (``tests/unit/test_openapi.py``
checks they agree, with an ECMA-262 regex engine as JSON Schema demands).
"""

from __future__ import annotations

from typing import Any

from . import errors
from .validation import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    NAME_PATTERN,
    TEXT_PATTERN,
    URL_PATTERN,
)

REF = "#/components/schemas/"
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


def error_slugs() -> list[str]:
    """Every ``error`` value a client can see (the classes in ``errors.py``)."""
    classes: list[type[errors.HepError]] = [errors.HepError, *errors.HepError.__subclasses__()]
    return sorted({cls.error for cls in classes})


def component_schemas() -> dict[str, Any]:
    """``components.schemas``: one schema per message type, their union, the envelopes."""
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
        "ChatMessage": {"oneOf": [{"$ref": REF + s["title"]} for s in MESSAGE_SCHEMAS.values()]},
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
                "data": {"type": "array", "items": {"$ref": REF + "Item"}},
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
                    "items": {"$ref": REF + "KeyGrant"},
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

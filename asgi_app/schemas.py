"""JSON Schemas (draft 2020-12) of the envelopes, for ``openapi.py``.

The message schemas come from ``message_schema.py`` (generated from the shapes,
with the validator's own patterns); ``tests/unit/test_openapi.py`` checks the
document and the validator agree, with an ECMA-262 regex engine as JSON Schema demands.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .message_schema import reply_item_schema, request_schema

REF = "#/components/schemas/"


def error_slugs() -> list[str]:
    """Every ``error`` value a client can see (the classes in ``errors.py``)."""
    classes: list[type[errors.HepError]] = [errors.HepError, *errors.HepError.__subclasses__()]
    return sorted({cls.error for cls in classes})


def component_schemas() -> dict[str, Any]:
    """``components.schemas``: the chat message (one variant per type), items, envelopes."""
    envelope_fields: dict[str, Any] = {
        "msg_id": {"type": "string", "description": "Echoes the request's msg_id."},
        "code": {"type": "integer", "description": "0 on success, else the HTTP status."},
        "detail": {"type": "string", "description": "Plain words on what happened."},
        "api_key_ttl": {"type": "integer", "minimum": 0, "description": "Key life left, s."},
        "done": {"type": "boolean", "description": "Whether the bot has finished."},
    }
    required = ["msg_id", "code", "detail", "api_key_ttl", "data", "done"]
    return {
        "ChatMessage": request_schema(),
        "Item": reply_item_schema(),
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

"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) generated from the message shapes.

Built from :data:`.messages.MESSAGE_SHAPES`, :data:`.messages.PART_SHAPES` and
:data:`.messages.REPLY_ITEM_TYPES`, so the OpenAPI document cannot drift from
what the parser accepts; ``tests/unit/test_message_schema.py`` checks both agree.
"""

from __future__ import annotations

from typing import Any

from .messages import (
    MAX_MIXED_PARTS,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    MESSAGE_SHAPES,
    PART_SHAPES,
    REPLY_ITEM_TYPES,
)
from .validation import MAX_ID_LENGTH
from .validation import MAX_NAME_LENGTH as MAX_NICKNAME_LENGTH

URL_PATTERN = "^([hH][tT][tT][pP][sS]?|[dD][aA][tT][aA]):"


def _string(max_length: int, *, min_length: int = 0, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        schema["minLength"] = min_length
    return schema


FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "query": _string(MAX_TEXT_LENGTH, description="text sent along (message_str)"),
    "content": _string(MAX_TEXT_LENGTH, min_length=1, pattern=r"\S"),
    "url": {
        "type": "string",
        "pattern": URL_PATTERN,
        "description": "http(s) URL, or data:<media type>;base64,<data>",
    },
    "name": _string(MAX_NAME_LENGTH, description="the file's name"),
}


def part_schema(kind: str) -> dict[str, Any]:
    """One part of a ``mixed`` message."""
    required, optional = PART_SHAPES[kind]
    properties = {"type": {"const": kind}}
    properties.update({field: FIELD_SCHEMAS[field] for field in (*required, *optional)})
    return {"type": "object", "properties": properties, "required": ["type", *required]}


def _shape_schema(kind: str) -> dict[str, Any]:
    shape = MESSAGE_SHAPES[kind]
    properties: dict[str, Any] = {"type": {"const": kind}}
    for field in (*shape.required, *shape.optional):
        if field == "message":
            properties[field] = {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_MIXED_PARTS,
                "items": {"oneOf": [part_schema(k) for k in PART_SHAPES]},
            }
        else:
            properties[field] = FIELD_SCHEMAS[field]
    required = list(shape.required)
    if kind != "text":  # "text" is the default type
        required.insert(0, "type")
    schema: dict[str, Any] = {"properties": properties, "required": required}
    if kind == "text":
        schema["properties"]["query"] = {**FIELD_SCHEMAS["query"], "pattern": r"\S"}
    return schema


def request_schema() -> dict[str, Any]:
    """The chat request body: common fields, then one variant per ``type``."""
    return {
        "type": "object",
        "properties": {
            "msg_id": _string(MAX_ID_LENGTH, min_length=1, pattern=r"\S"),
            "sender_id": _string(MAX_ID_LENGTH, min_length=1, pattern=r"\S"),
            "sender_nickname": _string(MAX_NICKNAME_LENGTH),
            "group_id": _string(MAX_ID_LENGTH, description="makes it a group message"),
            "group_name": _string(MAX_NICKNAME_LENGTH),
            "type": {"enum": list(MESSAGE_SHAPES), "default": "text"},
        },
        "required": ["msg_id", "sender_id"],
        "oneOf": [_shape_schema(kind) for kind in MESSAGE_SHAPES],
    }


def reply_item_schema() -> dict[str, Any]:
    """One item of the envelope's ``data``."""
    variants = []
    for kind, (content, extra) in REPLY_ITEM_TYPES.items():
        properties: dict[str, Any] = {
            "item_id": {"type": "string"},
            "type": {"const": kind},
            "content": {"type": "object"} if kind == "unknown" else {"type": "string"},
        }
        properties["content"]["description"] = content
        if extra:
            properties[extra] = {"type": "string"}
        variants.append({"properties": properties})
    return {"type": "object", "required": ["item_id", "type", "content"], "oneOf": variants}

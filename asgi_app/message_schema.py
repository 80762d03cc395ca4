"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) generated from the message shapes.

Built from :data:`.messages.MESSAGE_SHAPES`, :data:`.messages.PART_SHAPES` and
:data:`.messages.REPLY_ITEM_TYPES`, with the very patterns and limits the
validator uses, so the OpenAPI document cannot drift from what the parser
accepts; ``tests/unit/test_message_schema.py`` and ``test_openapi.py`` check it.
Optional fields may be ``null`` because the validator treats ``null`` as absent.
"""

from __future__ import annotations

from typing import Any

from .messages import (
    MAX_MIXED_PARTS,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    MEDIA_TYPES,
    MESSAGE_SHAPES,
    PART_SHAPES,
    REPLY_ITEM_TYPES,
    TEXT_PATTERN,
    url_patterns,
)
from .messages import MAX_NAME_LENGTH as MAX_FILE_NAME_LENGTH
from .validation import ID_PATTERN, MAX_ID_LENGTH, MAX_NAME_LENGTH, NAME_PATTERN


def _string(max_length: int, *, nullable: bool = True, **extra: Any) -> dict[str, Any]:
    kind: Any = ["string", "null"] if nullable else "string"
    return {"type": kind, "maxLength": max_length, **extra}


def url_schema(kind: str) -> dict[str, Any]:
    """An http(s) URL (≤ 8 KiB) or a base64 ``data:`` URL of the part's media family."""
    http, data = url_patterns(kind)
    return {
        "type": "string",
        "anyOf": [{"pattern": http, "maxLength": MAX_URL_LENGTH}, {"pattern": data}],
        "description": "http(s) URL, or data:<media type>;base64,<data>",
    }


_TEXT = _string(MAX_TEXT_LENGTH, nullable=False, minLength=1, pattern=TEXT_PATTERN)
_OPTIONAL_TEXT = _string(MAX_TEXT_LENGTH, description="text sent along (message_str)")
_FILE_NAME = _string(MAX_FILE_NAME_LENGTH, pattern=NAME_PATTERN, description="the file's name")


def _fields(kind: str, names: tuple[str, ...], *, text: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"query": _OPTIONAL_TEXT, "content": _TEXT, "name": _FILE_NAME}
    out = {}
    for name in names:
        if name == "url":
            out[name] = url_schema(kind)
        elif name == "message":
            out[name] = {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_MIXED_PARTS,
                "items": {"oneOf": [part_schema(k) for k in PART_SHAPES]},
            }
        else:
            out[name] = _TEXT if name == text else schemas[name]
    return out


def part_schema(kind: str) -> dict[str, Any]:
    """One part of a ``mixed`` message."""
    required, optional = PART_SHAPES[kind]
    properties: dict[str, Any] = {"type": {"const": kind}}
    properties.update(_fields(kind, (*required, *optional), text="content"))
    return {"type": "object", "properties": properties, "required": ["type", *required]}


def _shape_schema(kind: str) -> dict[str, Any]:
    shape = MESSAGE_SHAPES[kind]
    media = kind if kind in MEDIA_TYPES else "file"
    properties: dict[str, Any] = _fields(media, (*shape.required, *shape.optional), text="")
    if kind == "text":  # the default type: absent or null also means text
        properties["type"] = {"enum": ["text", None]}
        properties["query"] = _TEXT
        return {"properties": properties, "required": list(shape.required)}
    properties["type"] = {"const": kind}
    return {"properties": properties, "required": ["type", *shape.required]}


def request_schema() -> dict[str, Any]:
    """The chat request body: common fields, then one variant per ``type``."""
    identifier = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
    return {
        "type": "object",
        "properties": {
            "msg_id": {**identifier, "pattern": ID_PATTERN, "description": "client-chosen id"},
            "sender_id": {**identifier, "pattern": ID_PATTERN, "description": "who sends"},
            "sender_nickname": _string(MAX_NAME_LENGTH, pattern=NAME_PATTERN),
            "group_id": _string(
                MAX_ID_LENGTH, pattern=NAME_PATTERN, description="makes it a group message"
            ),
            "group_name": _string(MAX_NAME_LENGTH, pattern=NAME_PATTERN),
            "type": {"enum": [*MESSAGE_SHAPES, None], "default": "text"},
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

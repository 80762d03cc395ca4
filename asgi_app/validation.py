"""Turn a request body into an :class:`Inbound`, or a 400 that names the field.

Nothing reaches AstrBot before it passed through here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from .messages import MESSAGE_SHAPES, parse_parts
from .models import Inbound

MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 128
MESSAGE_TYPES = tuple(MESSAGE_SHAPES)


async def read_json_body(request: Request, *, limit: int) -> Any:
    """Read at most ``limit`` bytes of a JSON body (never the whole of a larger one)."""
    content_type = request.headers.get("content-type", "application/json")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON with 'Content-Type: application/json', not {media_type!r}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than the {limit}-byte limit")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def parse_inbound(body: Any) -> Inbound:
    """Validate a chat message body: the envelope fields here, the shape per ``type``
    in :mod:`.messages`; ``group_id`` makes it a group message."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object")
    msg_id = _string(body, "msg_id", limit=MAX_ID_LENGTH, required=True)
    sender_id = _string(body, "sender_id", limit=MAX_ID_LENGTH, required=True)
    nickname = _string(body, "sender_nickname", limit=MAX_NAME_LENGTH) or sender_id
    kind = _string(body, "type", limit=16) or "text"
    parts = parse_parts(kind, body, _string)
    group_id = _string(body, "group_id", limit=MAX_ID_LENGTH).strip()
    return Inbound(
        msg_id=msg_id,
        sender_id=sender_id,
        sender_nickname=nickname,
        parts=parts,
        raw=dict(body),
        group_id=group_id,
        group_name=_string(body, "group_name", limit=MAX_NAME_LENGTH) or group_id,
    )


def _string(body: Mapping[str, Any], field: str, *, limit: int, required: bool = False) -> str:
    value = body.get(field)
    if value is None:
        if required:
            raise BadRequest(f"{field}: this field is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field}: must be a string, got {_json_type(value)}")
    if required and not value.strip():
        raise BadRequest(f"{field}: must not be empty")
    if len(value) > limit:
        raise BadRequest(f"{field}: must be at most {limit} characters, got {len(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)

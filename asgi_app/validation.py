"""Turn a request body into an :class:`Inbound`, or a 400 that names the field.

Nothing reaches AstrBot before it passed through here. The rules are written
once as patterns and limits that the OpenAPI schemas (``schemas.py``) reuse, so
what the document promises is exactly what this module accepts. Per-type parsing
is the table :data:`.messages.MESSAGE_SHAPES`, from which ``message_schema.py``
generates the schemas (tests keep the two in step).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from .messages import MESSAGE_SHAPES, parse_parts
from .models import Inbound

MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 128
MAX_TYPE_LENGTH = 16
MESSAGE_TYPES = tuple(MESSAGE_SHAPES)

# The same strings are the OpenAPI ``pattern``s, searched (not full-matched) as JSON Schema
# does. ``$(?!\n)`` is "end of text" in both ECMA-262 and Python (whose bare ``$`` also
# matches before a final newline, which would let "id\n" through and makes generators emit it).
ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$(?!\n)"
"""No control characters and at least one character that is not a space."""
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$(?!\n)"
"""No control characters (may be empty: the nickname then defaults to the sender id)."""
JSON_MEDIA_TYPE = "application/json"


async def read_json_body(request: Request, *, limit: int) -> Any:
    """Read at most ``limit`` bytes of a JSON body (never the whole of a larger one).

    A declared ``Content-Length`` over the limit is refused before reading; a
    chunked body is counted as it streams and refused as soon as it passes the limit.
    """
    content_type = request.headers.get("content-type", JSON_MEDIA_TYPE)
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON with 'Content-Type: application/json', not {media_type[:80]!r}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit}-byte limit")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"the body is larger than the {limit}-byte limit")
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the whole body arrived") from None
    return decode_json(bytes(body))


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; anything unparsable is a :class:`BadRequest`, never another error."""
    if not body.strip():
        raise BadRequest("the body is empty: send a JSON object")
    try:
        return json.loads(body)
    except ValueError as exc:  # bad JSON or UTF-8, and integers over Python's digit limit
        raise BadRequest(f"the body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON: nested too deeply") from None


def parse_inbound(body: Any) -> Inbound:
    """Validate a chat message body into an :class:`Inbound`: the envelope fields
    here, the shape of each ``type`` in :mod:`.messages`; ``group_id`` makes it a
    group message.

    Raises:
        BadRequest: naming the first field that is missing, empty, of the wrong
            type, too long or otherwise unusable.
    """
    if not isinstance(body, Mapping):
        raise BadRequest(f"the body must be a JSON object, got {_json_type(body)}")
    msg_id = _string(body, "msg_id", limit=MAX_ID_LENGTH, required=True, pattern=_ID_RE)
    sender_id = _string(body, "sender_id", limit=MAX_ID_LENGTH, required=True, pattern=_ID_RE)
    nickname = _string(body, "sender_nickname", limit=MAX_NAME_LENGTH, pattern=_NAME_RE)
    # Absent (or null) means text, as in the seed; an empty string is an unknown type.
    kind = _string(body, "type", limit=MAX_TYPE_LENGTH) if body.get("type") is not None else "text"
    parts = parse_parts(kind, body, _string)
    group_id = _string(body, "group_id", limit=MAX_ID_LENGTH, pattern=_NAME_RE).strip()
    group_name = _string(body, "group_name", limit=MAX_NAME_LENGTH, pattern=_NAME_RE)
    return Inbound(
        msg_id=msg_id,
        sender_id=sender_id,
        sender_nickname=nickname or sender_id,
        parts=parts,
        raw=dict(body),
        group_id=group_id,
        group_name=group_name or group_id,
    )


_ID_RE = re.compile(ID_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)
_RULES = {
    _ID_RE: "must contain no control characters and not be only spaces",
    _NAME_RE: "must contain no control characters",
}


def _string(
    body: Mapping[str, Any],
    field: str,
    *,
    limit: int,
    required: bool = False,
    pattern: re.Pattern[str] | None = None,
) -> str:
    """A string field; ``null`` counts as absent. Checks type, length, text, pattern."""
    value = body.get(field)
    if value is None:
        if required:
            raise BadRequest(f"{field}: this field is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field}: must be a string, got {_json_type(value)}")
    if required and not value:
        raise BadRequest(f"{field}: must not be empty")
    if len(value) > limit:
        raise BadRequest(f"{field}: must be at most {limit} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{field}: must be valid Unicode text (no lone surrogates)") from None
    if pattern is not None and value and not pattern.search(value):
        raise BadRequest(f"{field}: {_RULES[pattern]}")
    return value


def _json_type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)

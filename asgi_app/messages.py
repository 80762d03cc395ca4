"""Inbound message shapes: one parser per ``type``, and the shapes as data.

``validation.parse_inbound`` owns the envelope fields (msg_id, sender, group) and
the string rules; this module owns what a message of each ``type`` carries and
turns it into :class:`Part` values. :data:`MESSAGE_SHAPES` describes every shape
(required and optional fields) so the OpenAPI document can be generated from it
and checked against it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from .errors import BadRequest
from .models import Part, PartType

MAX_TEXT_LENGTH = 20_000
MAX_URL_LENGTH = 8_192
MAX_NAME_LENGTH = 255
MAX_MIXED_PARTS = 20
URL_SCHEMES = ("http", "https", "data")
MEDIA_TYPES: tuple[PartType, ...] = ("image", "audio", "video", "file")
DATA_URL_FAMILIES: dict[str, tuple[str, ...]] = {
    "image": ("image/",),
    "audio": ("audio/",),
    "video": ("video/",),
    "file": ("",),
}
"""Which ``data:`` media types each part accepts (``application/octet-stream`` always)."""


class StringReader(Protocol):
    """``validation``'s string-field rule: type, emptiness and length, errors name the field."""

    def __call__(
        self, body: Mapping[str, Any], field: str, *, limit: int, required: bool = False
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Shape:
    """One message ``type``: its fields and its parser.

    Args:
        required / optional: top-level fields besides msg_id, sender_*, group_*.
        description: one line for documentation.
        parse: body → parts, raising :class:`BadRequest` naming the field.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...]
    description: str
    parse: Callable[[Mapping[str, Any], StringReader], tuple[Part, ...]]


TEXT_PATTERN = r"[^ \t\n\r\f\v]"
"""Somewhere a character that is not ASCII whitespace (same in Python and ECMA-262)."""
_TEXT_RE = re.compile(TEXT_PATTERN)


def _text(value: str, field: str) -> str:
    if not _TEXT_RE.search(value):
        raise BadRequest(f"{field}: must not be empty or only whitespace")
    return value


def _text_message(body: Mapping[str, Any], read: StringReader) -> tuple[Part, ...]:
    query = read(body, "query", limit=MAX_TEXT_LENGTH, required=True)
    return (Part("text", text=_text(query, "query")),)


def _media_message(kind: PartType) -> Callable[[Mapping[str, Any], StringReader], tuple[Part, ...]]:
    def parse(body: Mapping[str, Any], read: StringReader) -> tuple[Part, ...]:
        parts = [media_part(kind, body, read, prefix="")]
        query = read(body, "query", limit=MAX_TEXT_LENGTH)
        if query:
            parts.append(Part("text", text=query))
        return tuple(parts)

    return parse


def _mixed_message(body: Mapping[str, Any], read: StringReader) -> tuple[Part, ...]:
    items = body.get("message")
    if not isinstance(items, list) or not items:
        raise BadRequest("message: must be a non-empty array of parts")
    if len(items) > MAX_MIXED_PARTS:
        raise BadRequest(f"message: at most {MAX_MIXED_PARTS} parts, got {len(items)}")
    parts: list[Part] = []
    for index, item in enumerate(items):
        prefix = f"message[{index}]."
        if not isinstance(item, Mapping):
            raise BadRequest(f"message[{index}]: each part must be an object")
        kind = _prefixed(read, item, prefix, "type", limit=16, required=True)
        if kind == "text":
            text = _prefixed(read, item, prefix, "content", limit=MAX_TEXT_LENGTH, required=True)
            parts.append(Part("text", text=_text(text, prefix + "content")))
        elif kind in MEDIA_TYPES:
            parts.append(media_part(kind, item, read, prefix=prefix))
        else:
            known = ", ".join(PART_SHAPES)
            raise BadRequest(f"{prefix}type: unknown part type {kind!r}; use one of {known}")
    return tuple(parts)


MESSAGE_SHAPES: dict[str, Shape] = {
    "text": Shape(("query",), (), "text in query", _text_message),
    "image": Shape(("url",), ("query",), "an image URL, optional text", _media_message("image")),
    "audio": Shape(("url",), ("query",), "an audio URL, optional text", _media_message("audio")),
    "video": Shape(("url",), ("query",), "a video URL, optional text", _media_message("video")),
    "file": Shape(("url",), ("name", "query"), "a file URL and its name", _media_message("file")),
    "mixed": Shape(("message",), (), "parts in order: text/image/audio/video/file", _mixed_message),
}
"""Every accepted ``type`` (the default is ``text``)."""

PART_SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text": (("content",), ()),
    **{kind: (("url",), ("name",) if kind == "file" else ()) for kind in MEDIA_TYPES},
}
"""Parts of a ``mixed`` message: type → (required fields, optional fields)."""


REPLY_ITEM_TYPES: dict[str, tuple[str, str]] = {
    "text": ("string", ""),
    "image": ("URL", ""),
    "audio": ("URL", "text"),
    "video": ("URL", ""),
    "file": ("URL", "name"),
    "at": ("user id", "name"),
    "reply": ("message id", ""),
    "tool_call": ("string", ""),
    "reasoning": ("string", ""),
    "unknown": ("object {component, detail?}", ""),
}
"""Reply items (``data[]``): type → (what ``content`` holds, its optional extra field).
``tool_call``/``reasoning`` appear only with ``hep_show_tool_calls``/``hep_show_reasoning``."""


def parse_parts(kind: str, body: Mapping[str, Any], read: StringReader) -> tuple[Part, ...]:
    """The parts of a message of type ``kind`` (400 naming ``type`` when it is unknown)."""
    shape = MESSAGE_SHAPES.get(kind)
    if shape is None:
        raise BadRequest(
            f"type: unknown message type {kind!r}; use one of {', '.join(MESSAGE_SHAPES)}"
        )
    return shape.parse(body, read)


def media_part(kind: PartType, body: Mapping[str, Any], read: StringReader, *, prefix: str) -> Part:
    """A media part from ``url`` (and ``name`` for files); errors name ``<prefix>url``."""
    url = check_url(_prefixed(read, body, prefix, "url", limit=None, required=True), kind, prefix)
    name = ""
    if kind == "file":
        name = _prefixed(read, body, prefix, "name", limit=MAX_NAME_LENGTH)
        if _CONTROL_RE.search(name):
            raise BadRequest(f"{prefix}name: must contain no control characters")
        name = name or _url_name(url)
    return Part(kind, url=url, name=name)


_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")
"""What a file name may not hold (``validation.NAME_PATTERN`` says the same for the schema)."""


def check_url(url: str, kind: str, prefix: str = "") -> str:
    """Accept http(s) URLs and base64 ``data:`` URLs of the right media family only.

    Both are checked with :func:`url_patterns`, the same patterns the OpenAPI
    document publishes, so the document and this check accept the same URLs.
    """
    field = f"{prefix}url"
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in URL_SCHEMES:
        shown = f"{scheme[:20]!r}" if scheme else "no scheme"
        raise BadRequest(f"{field}: only http, https and data URLs are accepted, got {shown}")
    http_pattern, data_pattern = _URL_RES[kind]
    if scheme == "data":
        if not data_pattern.search(url):
            family = DATA_URL_FAMILIES[kind][0] or "any"
            raise BadRequest(
                f"{field}: use data:<media type>;base64,<data> with a {family}* (lowercase) "
                "or application/octet-stream media type and valid, non-empty base64"
            )
        return url
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"{field}: must be at most {MAX_URL_LENGTH} characters, got {len(url)}")
    if not http_pattern.search(url):
        raise BadRequest(
            f"{field}: must be an absolute http(s) URL with a plain host name, got {url[:80]!r}"
        )
    return url


HTTP_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#\[\]@\\]+([/?#][^\x00-\x20\x7f]*)?$(?!\n)"
)
"""An absolute http(s) URL with a plain host[:port] (no user info, no IPv6 literal).
``$(?!\n)`` means end of text in both Python and ECMA-262 (JSON Schema's regexes)."""

_BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"


def data_url_pattern(kind: str) -> str:
    """``data:<type>;base64,<data>`` whose media type fits a part of this ``kind``."""
    family = DATA_URL_FAMILIES[kind][0]
    subtype = "[a-z0-9.+-]+/[a-z0-9.+-]+" if not family else f"{family}[a-z0-9.+-]+"
    return rf"^[Dd][Aa][Tt][Aa]:(?:{subtype}|application/octet-stream)?;base64,{_BASE64}$(?!\n)"


def url_patterns(kind: str) -> tuple[str, str]:
    """The (http(s), data) URL patterns of a part of this ``kind``."""
    return HTTP_URL_PATTERN, data_url_pattern(kind)


_URL_RES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    kind: (re.compile(http), re.compile(data))
    for kind in MEDIA_TYPES
    for http, data in [url_patterns(kind)]
}


def decode_data_url(url: str) -> tuple[str, bytes]:
    """``data:<type>;base64,<payload>`` → (media type, bytes); ``ValueError`` otherwise."""
    header, sep, payload = url.partition(",")
    params = header[len("data:") :].split(";")
    if not sep or "base64" not in (p.strip().lower() for p in params[1:]):
        raise ValueError("use the form data:<media type>;base64,<data>")
    try:
        data = base64.b64decode(unquote(payload), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the base64 data is not valid") from None
    return params[0].strip().lower() or "application/octet-stream", data


def _check_data_url(url: str, kind: str, field: str) -> None:
    try:
        media_type, data = decode_data_url(url)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}") from None
    if not data:
        raise BadRequest(f"{field}: the data URL is empty")
    families = DATA_URL_FAMILIES.get(kind, ("",))
    if media_type != "application/octet-stream" and not media_type.startswith(families):
        raise BadRequest(f"{field}: type {kind} needs {families[0]}* data, got {media_type}")


def _prefixed(
    read: StringReader,
    body: Mapping[str, Any],
    prefix: str,
    field: str,
    *,
    limit: int | None,
    required: bool = False,
) -> str:
    """Read ``field`` of a (possibly nested) object so errors name ``message[i].field``.

    ``limit=None``: no length rule of its own (a data URL may fill the body limit).
    """
    value = read({prefix + field: body.get(field)}, prefix + field, limit=limit or 2**62)
    if required and not value:
        if body.get(field) is None:
            raise BadRequest(f"{prefix}{field}: this field is required")
        raise BadRequest(f"{prefix}{field}: must not be empty")
    return value


def _url_name(url: str) -> str:
    """A file's name from its URL's last path segment (``file`` when there is none)."""
    if url[:5].lower() == "data:":
        return "file"
    try:
        path = urlsplit(url).path.rstrip("/")
    except ValueError:  # e.g. a host that is not valid under NFKC normalisation
        return "file"
    name = _CONTROL_RE.sub("", unquote(path.rsplit("/", 1)[-1]))
    return name[:MAX_NAME_LENGTH] or "file"

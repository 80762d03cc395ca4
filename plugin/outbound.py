"""AstrBot message chain → reply items ``{"item_id", "type", "content", ...}``.

Every component becomes an item: text (adjacent text joined), image, audio
(``Record``), video, file (+ ``name``), at (+ ``name``), reply, and anything else
``unknown`` with the component's class name, so nothing disappears silently.
Media that live on AstrBot's machine (a path, ``file://``, ``base64://`` or
``data:``) are copied into the :class:`FileStore` and given a signed link; http(s)
URLs are passed through as they are.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astrbot.api.message_components import (
    At,
    BaseMessageComponent,
    File,
    Image,
    Plain,
    Record,
    Reply,
    Video,
)
from astrbot.core.utils.media_utils import file_uri_to_path, is_file_uri

from ..asgi_app.files import FileStore, FileTooLarge
from ..asgi_app.messages import decode_data_url
from ..asgi_app.models import Item

MEDIA_ITEM_TYPES: dict[type[BaseMessageComponent], str] = {
    Image: "image",
    Record: "audio",
    Video: "video",
    File: "file",
}


class MediaUnavailable(Exception):
    """A media component whose bytes we cannot serve (missing, too large, no store)."""


@dataclass(frozen=True, slots=True)
class ItemMaker:
    """Converts chains for one destination.

    Args:
        files: where local media are copied to (``None``: such media become ``unknown``).
        base_url: origin put in front of signed file paths (empty: relative links).
    """

    files: FileStore | None
    base_url: str = ""

    async def items(
        self, chain: list[BaseMessageComponent], *, text_type: str = "text"
    ) -> list[Item]:
        """Items for a chain; ``text_type`` relabels text (``tool_call``, ``reasoning``)."""
        items: list[Item] = []
        text: list[str] = []
        for component in chain:
            if isinstance(component, Plain):
                text.append(component.text)
                continue
            if "".join(text):
                items.append(Item(text_type, "".join(text)))
            text = []
            items.append(await self.item(component))
        if "".join(text):
            items.append(Item(text_type, "".join(text)))
        return items

    async def item(self, component: BaseMessageComponent) -> Item:
        name = type(component).__name__
        if isinstance(component, At):
            return Item("at", str(component.qq), extra={"name": component.name or ""})
        if isinstance(component, Reply):
            return Item("reply", str(component.id))
        kind = next((k for cls, k in MEDIA_ITEM_TYPES.items() if isinstance(component, cls)), None)
        if kind is None:
            return Item("unknown", {"component": name})
        try:
            url = await self._media_url(component)
        except MediaUnavailable as exc:
            return Item("unknown", {"component": name, "detail": str(exc)})
        extra: dict[str, Any] = {}
        if isinstance(component, File):
            extra["name"] = component.name or ""
        if isinstance(component, Record) and component.text:
            extra["text"] = component.text
        return Item(kind, url, extra=extra)

    async def _media_url(self, component: BaseMessageComponent) -> str:
        refs, name = _refs(component)
        for ref in refs:
            if ref.startswith(("http://", "https://")):
                return ref
        for ref in refs:
            try:
                path = await self._store(ref, name)
            except FileTooLarge as exc:
                raise MediaUnavailable(str(exc)) from None
            if path is not None:
                return self.base_url + path
        raise MediaUnavailable("the file is not available")

    async def _store(self, ref: str, name: str) -> str | None:
        """Copy a local reference into the store; ``None`` if it is not a usable one."""
        if self.files is None:
            raise MediaUnavailable("files are not served by this adapter")
        if ref.startswith(("data:", "base64://")):
            try:
                content_type, data = _decode(ref)
            except ValueError:
                return None
            try:
                return await self.files.add_bytes(data, name=name, content_type=content_type)
            except OSError as exc:
                raise MediaUnavailable(f"could not store the file: {exc}") from None
        path = Path(file_uri_to_path(ref) if is_file_uri(ref) else ref)
        try:
            return await self.files.add_path(path, name=name)
        except OSError:  # not a (readable, regular) file: try the next reference
            return None


def _refs(component: BaseMessageComponent) -> tuple[list[str], str]:
    """Candidate references of a media component, best first, and its display name."""
    if isinstance(component, File):
        return [r for r in (component.url, component.file_) if r], component.name or ""
    refs = [getattr(component, attr, "") for attr in ("url", "file", "path")]
    return [r for r in refs if isinstance(r, str) and r], ""


def _decode(ref: str) -> tuple[str, bytes]:
    if ref.startswith("data:"):
        return decode_data_url(ref)
    try:
        return "", base64.b64decode(ref[len("base64://") :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None

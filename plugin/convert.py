"""Client message → AstrBot message: each part becomes the matching component.

``message_str`` is what AstrBot's own platforms put there: the text parts joined,
media add nothing (aiocqhttp, webchat; a Telegram photo without caption is "").
A group message (``group_id``) is a ``GroupMessage`` whose session is the group;
the sender stays the sender, and AstrBot's wake prefix applies as everywhere.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from astrbot.api.message_components import (
    BaseMessageComponent,
    File,
    Image,
    Plain,
    Record,
    Video,
)
from astrbot.api.platform import AstrBotMessage, Group, MessageMember, MessageType
from astrbot.core.utils.astrbot_path import get_astrbot_temp_path

from ..asgi_app.messages import decode_data_url
from ..asgi_app.models import Inbound, Part

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,16}$")


def to_astrbot_message(inbound: Inbound, *, self_id: str) -> tuple[AstrBotMessage, list[str]]:
    """Build the :class:`AstrBotMessage` for a client message.

    Returns the message and the temporary files written for it (``data:`` files),
    which the event must track so AstrBot deletes them when the pipeline ends.
    """
    temp_files: list[str] = []
    message = AstrBotMessage()
    message.type = MessageType.GROUP_MESSAGE if inbound.group_id else MessageType.FRIEND_MESSAGE
    if inbound.group_id:
        message.group = Group(group_id=inbound.group_id, group_name=inbound.group_name)
    message.self_id = self_id
    message.session_id = inbound.chat_id
    message.message_id = inbound.msg_id
    message.sender = MessageMember(user_id=inbound.sender_id, nickname=inbound.sender_nickname)
    message.message = [_component(part, temp_files) for part in inbound.parts]
    message.message_str = inbound.text
    message.raw_message = inbound.raw
    return message, temp_files


def _component(part: Part, temp_files: list[str]) -> BaseMessageComponent:
    # AstrBot resolves http(s) and data: URLs itself for images, audio and video
    # (MediaResolver); a File only understands http(s) or a local path.
    if part.type == "image":
        return Image(file=part.url)
    if part.type == "audio":
        return Record(file=part.url)
    if part.type == "video":
        return Video(file=part.url)
    if part.type == "file":
        if part.url[:5].lower() == "data:":
            path = _write_temp_file(part.url, part.name)
            temp_files.append(path)
            return File(name=part.name, file=path)
        return File(name=part.name, url=part.url)
    return Plain(part.text)


def _write_temp_file(url: str, name: str) -> str:
    _, data = decode_data_url(url)
    directory = Path(get_astrbot_temp_path())
    directory.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix
    suffix = suffix if _SAFE_SUFFIX.match(suffix) else ""  # the name is the client's; keep it out
    path = directory / f"hep_{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return str(path)

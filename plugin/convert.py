"""Conversions between our plain values and AstrBot's message objects."""

from __future__ import annotations

from astrbot.api.message_components import BaseMessageComponent, Image, Plain
from astrbot.api.platform import AstrBotMessage, MessageMember, MessageType

from ..asgi_app.models import Inbound, Item, Part


def to_astrbot_message(inbound: Inbound, *, self_id: str) -> AstrBotMessage:
    """Build the :class:`AstrBotMessage` AstrBot's pipeline expects for a client message."""
    message = AstrBotMessage()
    message.type = MessageType.FRIEND_MESSAGE
    message.self_id = self_id
    message.session_id = inbound.session_id
    message.message_id = inbound.msg_id
    message.sender = MessageMember(user_id=inbound.sender_id, nickname=inbound.sender_nickname)
    message.message = [_component(part) for part in inbound.parts]
    message.message_str = inbound.text
    message.raw_message = inbound.raw
    return message


def _component(part: Part) -> BaseMessageComponent:
    if part.type == "image":
        return Image.fromURL(part.url)
    return Plain(part.text)


def to_items(chain: list[BaseMessageComponent]) -> list[Item]:
    """Turn a message chain into reply items; adjacent text becomes one item."""
    items: list[Item] = []
    text: list[str] = []
    for component in chain:
        if isinstance(component, Plain):
            text.append(component.text)
            continue
        if text:
            items.append(Item("text", "".join(text)))
            text = []
        items.append(_item(component))
    if text and "".join(text):
        items.append(Item("text", "".join(text)))
    return items


def _item(component: BaseMessageComponent) -> Item:
    if isinstance(component, Image):
        url = component.url or component.file or ""
        if url.startswith(("http://", "https://")):
            return Item("image", url)
    return Item("unknown", {"component": type(component).__name__})

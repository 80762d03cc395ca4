"""Property tests: whatever arrives, validation answers with a value or a 400, nothing else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_app.errors import BadRequest
from asgi_app.messages import MAX_TEXT_LENGTH
from asgi_app.validation import (
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MESSAGE_TYPES,
    decode_json,
    parse_inbound,
)

SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip

# Surrogates included on purpose: JSON can carry them ("\ud800"), Python's strs can hold them.
TRICKY = st.sampled_from(["\ud800", "\udfff", "\x00", "\x1f", "\x7f", "\n", " ", "\u3000"])
ANY_TEXT = st.text(st.characters(codec=None, categories=None) | TRICKY, max_size=200)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
FIELD = st.sampled_from(["msg_id", "sender_id", "sender_nickname", "type", "query", "url"])
MESSAGE_LIKE = st.dictionaries(
    FIELD, JSON_VALUES | st.sampled_from([*MESSAGE_TYPES, "https://e.com/a.jpg", "m", ""])
)


@SETTINGS
@given(st.binary(max_size=512))
def test_any_bytes_decode_or_get_400(body: bytes) -> None:
    try:
        decode_json(body)
    except BadRequest:
        pass


@SETTINGS
@given(JSON_VALUES | MESSAGE_LIKE)
def test_any_json_value_is_an_inbound_or_a_400(body: Any) -> None:
    """An accepted message is printable as UTF-8 JSON and within every documented limit."""
    try:
        inbound = parse_inbound(body)
    except BadRequest as exc:
        assert exc.detail
        return
    json.dumps([inbound.msg_id, inbound.sender_id, inbound.sender_nickname]).encode()
    inbound.msg_id.encode("utf-8")
    inbound.sender_id.encode("utf-8")
    assert 0 < len(inbound.msg_id) <= MAX_ID_LENGTH and 0 < len(inbound.sender_id) <= MAX_ID_LENGTH
    assert len(inbound.sender_nickname) <= max(MAX_NAME_LENGTH, MAX_ID_LENGTH)
    assert inbound.parts and all(len(p.text) <= MAX_TEXT_LENGTH for p in inbound.parts)

"""The OpenAPI document is served publicly and agrees with the code it describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from starlette.routing import Route

from asgi_app import errors
from asgi_app.app import create_app
from asgi_app.errors import BadRequest
from asgi_app.openapi import OPENAPI_PATH, build_openapi
from asgi_app.schemas import error_slugs
from asgi_app.validation import MESSAGE_TYPES, parse_inbound

from .conftest import Harness, make_settings

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def validator(document: dict[str, Any], name: str) -> Any:
    """A draft 2020-12 validator (ECMA-262 regexes, as schemathesis uses) for one component.

    The components ride along in the root, so ``#/components/...`` refs resolve.
    """
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def accepted(body: Any) -> bool:
    try:
        parse_inbound(body)
    except BadRequest:
        return False
    return True


async def test_the_document_is_served_without_a_key(harness: Harness) -> None:
    response = await harness.client.get(OPENAPI_PATH)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document == build_openapi(harness.settings)
    for name in document["components"]["schemas"]:
        validator(document, name)  # every component compiles


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {"hep_api_endpoint": "/bot/in"},
        {"hep_callback_switch": True, "hep_callback_url": "http://127.0.0.1:9/"},
    ],
)
async def test_the_routes_of_the_app_are_the_paths_of_the_document(
    harness: Harness, tmp_path: Path
) -> None:
    """Every route (minus the trailing-slash alias and HEAD) is documented, and nothing else,
    as production builds the app: with a file store, and with callbacks when they are on."""
    document = build_openapi(harness.settings)
    app = create_app(_handlers(harness, tmp_path))
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and not route.path.endswith("/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert served == documented
    assert harness.settings.chat_path in document["paths"]


def _handlers(harness: Harness, tmp_path: Path) -> Any:
    from asgi_app.audit import AuditTrail, create_audit_logger
    from asgi_app.callbacks import CallbackDispatcher
    from asgi_app.files import FileStore
    from asgi_app.outbox import Outbox
    from asgi_app.retry import RetryPolicy
    from asgi_app.routes import Handlers

    audit = AuditTrail(create_audit_logger(harness.sink))
    callbacks = None
    if harness.settings.callback_switch:
        callbacks = CallbackDispatcher(
            url=harness.settings.callback_url,
            key=b"k" * 32,
            outbox=Outbox(tmp_path / "outbox.sqlite3"),
            client=None,  # type: ignore[arg-type]  # routes only: nothing is delivered
            policy=RetryPolicy(timeout=1, retries=0, backoff=0, backoff_max=0),
            capacity=1,
            log=audit,
            alert=print,
        )
    return Handlers(
        settings=harness.settings,
        gateway=harness.gateway,
        keys=harness.keys,
        audit=audit,
        on_key_issued=harness.issued.append,
        files=FileStore(tmp_path / "files", ttl=60, max_bytes=1024),
        callbacks=callbacks,
    )


def test_every_message_type_of_validation_has_a_schema() -> None:
    document = build_openapi(make_settings())
    chat = document["components"]["schemas"]["ChatMessage"]
    assert len(chat["oneOf"]) == len(MESSAGE_TYPES)
    assert set(chat["properties"]["type"]["enum"]) == {*MESSAGE_TYPES, None}


def test_every_error_slug_is_documented() -> None:
    slugs = {cls.error for cls in errors.HepError.__subclasses__()}
    assert slugs <= set(error_slugs())
    schema = build_openapi(make_settings())["components"]["schemas"]["ErrorEnvelope"]
    assert set(schema["properties"]["error"]["enum"]) == set(error_slugs())


def test_bearer_is_the_security_scheme_and_the_document_itself_is_public() -> None:
    document = build_openapi(make_settings())
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"][OPENAPI_PATH]["get"]["security"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"msg_id": "m", "query": "hi", "sender_id": "u"},
        {"msg_id": "m", "type": "text", "query": "hi", "sender_id": "u", "sender_nickname": ""},
        {"msg_id": "m", "type": None, "query": "hi", "sender_id": "u", "extra": [1]},
        {"msg_id": "m", "type": "image", "url": "https://e.com/a.jpg", "sender_id": "u"},
        {
            "msg_id": "m",
            "type": "image",
            "url": "HTTP://e.com:8080",
            "query": None,
            "sender_id": "u",
        },
        {"msg_id": "消息", "query": "x", "sender_id": "\u3000"},
        {"msg_id": "m", "query": "hi"},
        {"msg_id": "m", "query": "hi", "sender_id": " "},
        {"msg_id": "m\n", "query": "hi", "sender_id": "u"},
        {"msg_id": "m", "query": "\t", "sender_id": "u"},
        {"msg_id": "m", "query": 3, "sender_id": "u"},
        {"msg_id": "m", "type": "", "query": "hi", "sender_id": "u"},
        {"msg_id": "m", "type": "video", "query": "hi", "sender_id": "u"},
        {"msg_id": "m", "type": "image", "sender_id": "u"},
        {"msg_id": "m", "type": "image", "url": "ftp://e.com/a", "sender_id": "u"},
        {"msg_id": "m", "type": "image", "url": "http://[::1]/a", "sender_id": "u"},
        {"msg_id": "m", "type": "image", "url": "https://e.com/a", "query": 1, "sender_id": "u"},
        {"msg_id": "m" * 129, "query": "hi", "sender_id": "u"},
        [],
    ],
)
def test_the_schema_and_the_validator_agree(body: Any) -> None:
    """What the document calls a valid message is exactly what the code accepts."""
    document = build_openapi(make_settings())
    assert validator(document, "ChatMessage").is_valid(body) == accepted(body)


async def test_responses_match_their_documented_schemas(harness: Harness) -> None:
    document = build_openapi(harness.settings)
    ok = await harness.chat({"msg_id": "m", "query": "hi", "sender_id": "u"})
    validator(document, "Envelope").validate(ok.json())
    bad = await harness.chat({"msg_id": "m"})
    validator(document, "ErrorEnvelope").validate(bad.json())
    refreshed = await harness.client.get("/api/plug/hep/refresh_token", headers=harness.auth())
    validator(document, "KeyEnvelope").validate(refreshed.json())

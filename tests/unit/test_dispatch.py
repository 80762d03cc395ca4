"""The path dispatcher sends our prefixes to our app and everything else onwards."""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from asgi_app.dispatch import PathDispatcher


def named_app(name: str):  # type: ignore[no-untyped-def]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    return app


def client(dispatcher: PathDispatcher) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url="http://t")


async def test_our_prefixes_go_to_the_target_and_the_rest_to_the_dashboard() -> None:
    dispatcher = PathDispatcher(
        named_app("dashboard"),
        prefixes=["/api/plug/v1/chat", "/api/plug/hep"],
        target=named_app("ours"),
        owner="x",
    )
    async with client(dispatcher) as c:
        for path in [
            "/api/plug/v1/chat",
            "/api/plug/v1/chat/",
            "/api/plug/hep/refresh_token",
            "/api/plug/hep",
        ]:
            assert (await c.get(path)).text == "ours", path
        for path in [
            "/api/plug/v1/chatty",
            "/api/plug/other",
            "/api/config/get",
            "/",
            "/api/plug/hepx",
        ]:
            assert (await c.get(path)).text == "dashboard", path


async def test_a_retired_dispatcher_passes_everything_through() -> None:
    dispatcher = PathDispatcher(
        named_app("dashboard"), prefixes=["/api/plug/hep"], target=named_app("ours"), owner="x"
    )
    dispatcher.target = None
    async with client(dispatcher) as c:
        assert (await c.get("/api/plug/hep/x")).text == "dashboard"

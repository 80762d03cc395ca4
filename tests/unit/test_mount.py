"""Installing and removing the dispatcher on a real Starlette app, as on AstrBot's dashboard."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hep_plugin.plugin.mount import Mount, MountError

PREFIXES = ["/api/plug/v1/chat", "/api/plug/hep"]


def text_app(name: str) -> Starlette:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(name)

    return Starlette(routes=[Route("/{path:path}", endpoint)])


@pytest.fixture
def dashboard() -> Iterator[Starlette]:
    yield text_app("dashboard")


async def get(app: Starlette, path: str) -> str:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return (await client.get(path)).text


async def test_install_serves_our_paths_and_uninstall_restores_the_dashboard(
    dashboard: Starlette,
) -> None:
    original = dashboard.middleware_stack
    mount = Mount(dashboard, prefixes=PREFIXES, target=text_app("ours"), owner="a")
    mount.install()
    assert await get(dashboard, "/api/plug/hep/x") == "ours"
    assert await get(dashboard, "/api/config/get") == "dashboard"
    mount.uninstall()
    assert await get(dashboard, "/api/plug/hep/x") == "dashboard"
    assert dashboard.middleware_stack is not None
    assert original is None or dashboard.middleware_stack is original


async def test_reinstalling_the_same_owner_retires_the_stale_layer(dashboard: Starlette) -> None:
    stale = Mount(dashboard, prefixes=PREFIXES, target=text_app("old"), owner="a")
    stale.install()
    fresh = Mount(dashboard, prefixes=PREFIXES, target=text_app("new"), owner="a")
    fresh.install()
    assert await get(dashboard, "/api/plug/v1/chat") == "new"
    fresh.uninstall()
    assert await get(dashboard, "/api/plug/v1/chat") == "dashboard"


def test_another_instance_on_the_same_paths_is_refused(dashboard: Starlette) -> None:
    Mount(dashboard, prefixes=PREFIXES, target=text_app("a"), owner="a").install()
    with pytest.raises(MountError, match="already served"):
        Mount(
            dashboard,
            prefixes=["/api/plug/other", "/api/plug/hep"],
            target=text_app("b"),
            owner="b",
        ).install()


async def test_uninstall_under_another_layer_becomes_a_pass_through(dashboard: Starlette) -> None:
    """Something wrapped on top of us: we cannot unwrap, so we stop claiming our paths."""
    mount = Mount(dashboard, prefixes=PREFIXES, target=text_app("ours"), owner="a")
    mount.install()
    Mount(dashboard, prefixes=["/api/plug/zzz"], target=text_app("z"), owner="z").install()
    mount.uninstall()
    assert await get(dashboard, "/api/plug/hep/x") == "dashboard"
    assert await get(dashboard, "/api/plug/zzz") == "z"

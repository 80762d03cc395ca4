"""The file store: copies, signed links without a bearer key, expiry, bounds, headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from asgi_app.app import create_app
from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.files import FileStore, FileTooLarge
from asgi_app.gateway import Gateway
from asgi_app.keys import KeyManager
from asgi_app.routes import Handlers

from .conftest import BASE_URL, ListSink, make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> FileStore:
    return FileStore(tmp_path / "files", ttl=300, max_bytes=1000, clock=clock)


@pytest.fixture
async def client(tmp_path: Path, store: FileStore) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings()
    gateway = Gateway(queue_size=10, cache_size=10, cache_ttl=300, reply_deadline=10)
    handlers = Handlers(
        settings=settings,
        gateway=gateway,
        keys=KeyManager(platform_id="t", state_file=tmp_path / "keys.json", ttl=3600),
        audit=AuditTrail(create_audit_logger(ListSink())),
        on_key_issued=lambda key: None,
        files=store,
    )
    transport = httpx.ASGITransport(app=create_app(handlers))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http
    gateway.close()


async def test_a_copied_file_is_served_without_a_key_after_the_original_is_gone(
    tmp_path: Path, store: FileStore, client: httpx.AsyncClient
) -> None:
    """AstrBot deletes its temp files at the end of the pipeline; our copy stays."""
    original = tmp_path / "t2i.png"
    original.write_bytes(PNG)
    link = await store.add_path(original)
    original.unlink()
    assert link.startswith("/api/plug/hep/files/") and "/t2i.png?exp=" in link
    response = await client.get(link)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")


async def test_bytes_get_a_sniffed_type_and_non_media_are_attachments(
    store: FileStore, client: httpx.AsyncClient
) -> None:
    image = await client.get(await store.add_bytes(PNG))
    assert image.headers["content-type"] == "image/png"
    page = await client.get(await store.add_bytes(b"<script>x</script>", name="a.html"))
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-disposition"] == "attachment; filename*=UTF-8''a.html"


async def test_names_are_labels_only_and_unicode_names_work(
    store: FileStore, client: httpx.AsyncClient
) -> None:
    link = await store.add_bytes(b"data", name="../../etc/报告.txt")
    assert "/" + quote("报告.txt") + "?" in link
    response = await client.get(link)
    assert response.status_code == 200 and response.content == b"data"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: link.replace("sig=", "sig=0"),
        lambda link: link.split("?")[0],
        lambda link: link.replace("exp=", "exp=9"),
        lambda link: link.replace("/r.txt?", "/other.txt?"),
        lambda link: "/api/plug/hep/files/x/..%2F..%2Fkeys.json" + link[link.index("?") :],
        lambda link: "/api/plug/hep/files/nope/r.txt" + link[link.index("?") :],
        lambda link: link.replace("sig=", "sig=%C3%A9"),  # non-ASCII: a 404, never a 500
        lambda link: link.split("exp=")[0] + "exp=%C2%B2&" + link.split("&", 1)[1],  # "²"
    ],
)
async def test_anything_but_the_exact_signed_link_is_a_404(
    store: FileStore, client: httpx.AsyncClient, tamper: object
) -> None:
    link = await store.add_bytes(b"secret", name="r.txt")
    assert callable(tamper)
    response = await client.get(tamper(link))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_links_expire_with_the_cache_ttl_and_the_copy_is_removed(
    store: FileStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    link = await store.add_bytes(b"soon gone", name="r.txt")
    clock.now += 299
    assert (await client.get(link)).status_code == 200
    clock.now += 3
    assert (await client.get(link)).status_code == 404
    assert list(store.directory.iterdir()) == []


async def test_the_store_is_bounded_oldest_copies_go_first(
    store: FileStore, client: httpx.AsyncClient
) -> None:
    first = await store.add_bytes(b"a" * 600, name="a.bin")
    second = await store.add_bytes(b"b" * 600, name="b.bin")
    assert store.used_bytes == 600
    assert (await client.get(first)).status_code == 404
    assert (await client.get(second)).status_code == 200
    with pytest.raises(FileTooLarge):
        await store.add_bytes(b"c" * 1001)


async def test_a_directory_is_not_a_file(tmp_path: Path, store: FileStore) -> None:
    with pytest.raises(OSError):
        await store.add_path(tmp_path)


def test_a_new_store_starts_empty(tmp_path: Path) -> None:
    """Links die with the process, so leftover copies are removed on start."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "old").write_bytes(b"x")
    store = FileStore(tmp_path / "files", ttl=1, max_bytes=10)
    assert list(store.directory.iterdir()) == []


async def test_closing_removes_every_copy_and_link(
    store: FileStore, client: httpx.AsyncClient
) -> None:
    link = await store.add_bytes(b"x", name="x.txt")
    store.close()
    assert not store.directory.exists()
    assert (await client.get(link)).status_code == 404


async def test_only_the_files_prefix_is_public(client: httpx.AsyncClient) -> None:
    """Dot segments leave the prefix (clients normalise them), and then a key is needed."""
    assert (await client.post("/api/plug/v1/chat", json={})).status_code == 401
    assert (await client.get("/api/plug/hep/files/../refresh_token")).status_code == 401


async def test_concurrent_copies_stay_within_the_bound(tmp_path: Path) -> None:
    """Room is made and taken in one step, so many copies at once never overshoot."""
    store = FileStore(tmp_path / "store", ttl=60, max_bytes=1000)
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 400)
    await asyncio.gather(*(store.add_path(source) for _ in range(10)))
    on_disk = sum(p.stat().st_size for p in (tmp_path / "store").iterdir())
    assert on_disk <= 1000 and store.used_bytes <= 1000
    store.close()

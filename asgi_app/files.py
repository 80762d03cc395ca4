"""Local files AstrBot hands us (text-to-image output, TTS audio, generated files),
served at short-lived signed URLs under ``/api/plug/hep/files/``.

AstrBot deletes an event's temporary files when its pipeline ends, so every file
is *copied* into our own directory when it is published; the URL names our copy
by a random id, so no client-supplied path ever reaches the file system. The
copy expires after ``ttl`` (the reply cache's TTL) and the directory is bounded
by ``max_bytes`` (oldest copies are dropped first). A link needs no bearer key:
the signature is the capability.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from .errors import NotFound
from .settings import HEP_PREFIX

FILES_PREFIX = f"{HEP_PREFIX}/files"
INLINE_FAMILIES = ("image/", "audio/", "video/")
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"WAVE", 8, "audio/wav"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"ftyp", 4, "video/mp4"),
    (b"%PDF", 0, "application/pdf"),
)


class FileTooLarge(ValueError):
    """A single file does not fit in the store at all."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: Path
    name: str
    content_type: str
    size: int
    expires: float


class FileStore:
    """Copies of served files, their signed links and the route that serves them.

    Args:
        directory: where copies live; emptied on start (old links died with the process).
        ttl: seconds a link (and its copy) lives.
        max_bytes: total size of the copies; the oldest go first when a new one needs room.
        clock: wall clock, injectable for tests.
    """

    def __init__(
        self,
        directory: Path,
        *,
        ttl: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._adding = asyncio.Lock()
        self._files: dict[str, StoredFile] = {}  # insertion order = age
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def used_bytes(self) -> int:
        return sum(f.size for f in self._files.values())

    async def add_path(self, source: Path, *, name: str = "") -> str:
        """Copy a local file AstrBot handed us; return its signed path (no origin).

        Raises:
            OSError: ``source`` is not a readable regular file.
            FileTooLarge: it can never fit in the store.
        """
        info = await asyncio.to_thread(source.stat)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(f"not a regular file: {source}")
        size = info.st_size
        async with self._adding:  # room is made and taken in one step: the bound holds
            file_id = self._make_room(size)
            target = self.directory / file_id
            await asyncio.to_thread(shutil.copyfile, source, target)
            head = await asyncio.to_thread(_read_head, target)
            return self._register(file_id, target, name or source.name, size, head)

    async def add_bytes(self, data: bytes, *, name: str = "", content_type: str = "") -> str:
        """Store bytes (a base64 image, say); return their signed path (no origin)."""
        name = name or "file" + (mimetypes.guess_extension(content_type or _sniff(data)) or "")
        async with self._adding:
            file_id = self._make_room(len(data))
            target = self.directory / file_id
            await asyncio.to_thread(target.write_bytes, data)
            return self._register(file_id, target, name, len(data), data[:16], content_type)

    def close(self) -> None:
        """Forget every link and remove the copies (the adapter is stopping)."""
        self._files.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def route(self) -> Route:
        return Route(FILES_PREFIX + "/{file_id}/{name}", self.serve, methods=["GET", "HEAD"])

    async def serve(self, request: Request) -> Response:
        """``GET /api/plug/hep/files/<id>/<name>?exp=&sig=``: 404 unless signed and fresh."""
        file_id = request.path_params["file_id"]
        name = request.path_params["name"]
        exp = request.query_params.get("exp", "")
        sig = request.query_params.get("sig", "")
        self._prune()
        stored = self._files.get(file_id)
        valid = (
            stored is not None
            and stored.name == name
            and exp.isascii()
            and exp.isdigit()  # ASCII only: int() refuses some Unicode "digits" such as "²"
            and int(exp) >= self._clock()
            and hmac.compare_digest(sig.encode(), self._sign(file_id, name, exp).encode())
        )
        if not valid or stored is None or not stored.path.is_file():
            raise NotFound("no such file, or the link has expired")
        inline = stored.content_type.startswith(INLINE_FAMILIES)
        disposition = "inline" if inline else "attachment"
        return FileResponse(
            stored.path,
            media_type=stored.content_type,
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
                # Served on the dashboard's origin: never let a file run script there.
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "private, max-age=60",
            },
        )

    def _register(
        self, file_id: str, path: Path, name: str, size: int, head: bytes, content_type: str = ""
    ) -> str:
        name = _safe_name(name)
        content_type = content_type or mimetypes.guess_type(name)[0] or _sniff(head)
        expires = self._clock() + self.ttl
        self._files[file_id] = StoredFile(path, name, content_type, size, expires)
        exp = str(int(expires) + 1)
        return (
            f"{FILES_PREFIX}/{file_id}/{quote(name)}?exp={exp}&sig={self._sign(file_id, name, exp)}"
        )

    def _make_room(self, size: int) -> str:
        if size > self.max_bytes:
            raise FileTooLarge(f"{size} bytes is more than the {self.max_bytes}-byte file store")
        self._prune()
        while self._files and self.used_bytes + size > self.max_bytes:
            self._drop(next(iter(self._files)))
        return secrets.token_urlsafe(16)

    def _prune(self) -> None:
        now = self._clock()
        for file_id in [i for i, f in self._files.items() if f.expires < now]:
            self._drop(file_id)

    def _drop(self, file_id: str) -> None:
        stored = self._files.pop(file_id)
        stored.path.unlink(missing_ok=True)

    def _sign(self, file_id: str, name: str, exp: str) -> str:
        message = f"{file_id}/{name}:{exp}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)


def _sniff(head: bytes) -> str:
    for magic, offset, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return content_type
    return "application/octet-stream"


def _safe_name(name: str) -> str:
    """A display name without directories or control characters (it is only a label)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name if name not in ("", ".", "..") else "file"

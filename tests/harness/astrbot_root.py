"""Build, configure and run a throwaway AstrBot root (for e2e tests and ``make run``).

Facts this module relies on (AstrBot 4.29.0, read from its source):

* The CLI uses the *current directory* as the AstrBot root (``cli/utils/basic.py``);
  ``astrbot run`` then exports ``ASTRBOT_ROOT``. A root is valid once ``<root>/.astrbot``
  exists, which ``astrbot init -y`` creates without prompting.
* ``astrbot run -p PORT`` sets ``DASHBOARD_PORT``, which beats the config's ``dashboard.port``.
  ``run`` never prompts. It only tries to download the WebUI when the wheel has no bundled
  ``astrbot/dashboard/dist`` (4.29.0 ships one); for that case we pre-create a minimal
  ``data/dist`` that passes the version/completeness check, so nothing is downloaded.
* ``data/cmd_config.json`` may be partial: AstrBot fills in missing keys on load
  (``check_config_integrity``), except ``agent_runner.config``, which we never write.
  AstrBot writes the file as UTF-8 with a BOM.
* The dashboard password is stored as ``dashboard.pbkdf2_password``
  (``pbkdf2_sha256$<iterations>$<salt hex>$<digest hex>``) plus a legacy MD5 in
  ``dashboard.password``. If both are empty AstrBot generates a random password and
  forces a "change password" setup, so we write the hashes ourselves.
* Login is ``POST /api/auth/login`` with the *plain* password as JSON; the reply is
  ``{"status": "ok", "data": {"token": <HS256 JWT>, ...}}``. Failed logins sleep 3 s
  server-side and the route is rate limited (burst 3, then 1/s per client IP -> 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

import httpx

T = TypeVar("T")

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
"""The repository root (the folder that holds ``main.py`` and ``metadata.yaml``)."""

PLUGIN_FOLDER = "astrbot_plugin_http_endpoint"
PLUGIN_FILES: tuple[str, ...] = (
    "main.py",
    "metadata.yaml",
    "requirements.txt",
    "LICENSE",
    "README.md",
    "asgi_app",
    "plugin",
)
"""What a user's copy of the plugin folder contains (paths relative to the repo root)."""

PLATFORM_TYPE = "http_endpoint"
DEFAULT_PLATFORM: dict[str, Any] = {"id": "http_endpoint", "type": PLATFORM_TYPE, "enable": True}

FAKE_PROVIDER_ID = "hep_fake_llm"
FAKE_API_KEY = "sk-test"
FAKE_MODEL = "fake-model"

DEFAULT_DASHBOARD_USERNAME = "hepadmin"
DEFAULT_DASHBOARD_PASSWORD = "HepAdmin-2024"
"""Test-only credentials; satisfy AstrBot's policy (>= 8 chars, upper, lower, digit)."""

CREDENTIALS_FILE = ".hep-dashboard.json"
"""Written into the root by :func:`prepare_root` so later runs can print the login."""

LOG_FILE = "astrbot.log"

_PBKDF2_ITERATIONS = 600_000  # same as astrbot.core.utils.auth_password
_CONFIG_NOISE = "Config key missing; added default."
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")

# Environment variables that would silently change how the child AstrBot behaves.
_SCRUBBED_ENV = (
    "DASHBOARD_HOST",
    "DASHBOARD_PORT",
    "ASTRBOT_DASHBOARD_HOST",
    "ASTRBOT_DASHBOARD_PORT",
    "ASTRBOT_DASHBOARD_INITIAL_PASSWORD",
    "ASTRBOT_RESET_DASHBOARD_PASSWORD",
    "ASTRBOT_RELOAD",
    "ASTRBOT_TEST_MODE",
    "DEMO_MODE",
    # The plugin must import from its installed copy, never from this repo checkout.
    "PYTHONPATH",
)


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


def _describe(message: str | Callable[[], str]) -> str:
    return message() if callable(message) else message


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
    *,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that value.

    Raises ``TimeoutError`` after ``timeout`` seconds. ``message`` (a string, or a callable
    evaluated only on timeout, e.g. to attach a log tail) goes into the error. Exceptions
    of the types in ``ignore`` count as "not yet"; the last one is chained to the error.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
        except ignore as exc:
            last_exc = exc
        else:
            if result:
                return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"timed out after {timeout:g}s waiting for {_describe(message)}"
            ) from last_exc
        time.sleep(min(interval, remaining))


async def wait_until_async(
    predicate: Callable[[], Awaitable[T | None] | T | None],
    timeout: float,  # noqa: ASYNC109 -- same signature as wait_until on purpose
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
    *,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Async twin of :func:`wait_until`; ``predicate`` may be sync or async."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            result = await value if inspect.isawaitable(value) else value
        except ignore as exc:
            last_exc = exc
        else:
            if result:
                return result
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(
                f"timed out after {timeout:g}s waiting for {_describe(message)}"
            ) from last_exc
        await asyncio.sleep(min(interval, remaining))


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into ``base`` in place (dicts recursively, everything else replaced)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = deep_merge({}, value)
        else:
            base[key] = value
    return base


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


def astrbot_command() -> list[str]:
    """The command that runs the AstrBot CLI from the current interpreter's environment."""
    script = Path(sys.executable).parent / "astrbot"
    if script.is_file():
        return [str(script)]
    found = shutil.which("astrbot")
    if found:
        return [found]
    return [sys.executable, "-m", "astrbot.cli"]


def astrbot_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for an AstrBot child process rooted at ``root``."""
    env = dict(os.environ)
    for name in _SCRUBBED_ENV:
        env.pop(name, None)
    env["ASTRBOT_ROOT"] = str(root)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- plugin copies


def _copy_entries(src_dir: Path, names: Iterable[str], dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    dest.mkdir(parents=True)
    for name in names:
        src = src_dir / name
        if src.name == "__pycache__" or not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=_COPY_IGNORE)
        else:
            shutil.copy2(src, dest / name)


def install_plugin(repo_root: Path, astrbot_root: Path, folder_name: str = PLUGIN_FOLDER) -> Path:
    """Copy the plugin's user-facing files into ``data/plugins/<folder_name>/``.

    An existing copy is replaced; files from :data:`PLUGIN_FILES` that don't exist (yet)
    are skipped. Returns the plugin folder.
    """
    dest = Path(astrbot_root) / "data" / "plugins" / folder_name
    _copy_entries(Path(repo_root), PLUGIN_FILES, dest)
    return dest


def install_extra_plugin(src_dir: Path, astrbot_root: Path, folder_name: str) -> Path:
    """Copy a whole (small, test-only) plugin folder into ``data/plugins/<folder_name>/``."""
    src_dir = Path(src_dir)
    names = sorted(p.name for p in src_dir.iterdir())
    dest = Path(astrbot_root) / "data" / "plugins" / folder_name
    _copy_entries(src_dir, names, dest)
    return dest


# --------------------------------------------------------------------------- config files


def config_path(root: Path) -> Path:
    return Path(root) / "data" / "cmd_config.json"


def read_config(root: Path) -> dict[str, Any]:
    """Parse ``data/cmd_config.json`` (UTF-8 with BOM, as AstrBot writes it)."""
    data = json.loads(config_path(root).read_text(encoding="utf-8-sig"))
    if not isinstance(data, dict):
        raise ValueError(f"{config_path(root)} does not hold a JSON object")
    return data


def write_config(root: Path, config: Mapping[str, Any]) -> None:
    """Write ``data/cmd_config.json`` atomically, in AstrBot's encoding (UTF-8 + BOM).

    Only call this while AstrBot is *not* running: it keeps the config in memory and
    overwrites the file on its next save.
    """
    path = config_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8-sig")
    os.replace(tmp, path)


def update_config(root: Path, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read the config, let ``mutate`` edit it in place, write it back; returns it."""
    config = read_config(root)
    mutate(config)
    write_config(root, config)
    return config


def platform_config(root: Path, platform_id: str) -> dict[str, Any]:
    """The ``platform`` entry with ``id == platform_id`` (``KeyError`` if absent)."""
    for entry in read_config(root).get("platform", []):
        if isinstance(entry, dict) and entry.get("id") == platform_id:
            return entry
    raise KeyError(f"no platform entry with id {platform_id!r} in {config_path(root)}")


def wait_for_key(root: Path, platform_id: str, timeout: float = 30) -> str:
    """The ``hep_api_key`` the plugin generated for ``platform_id``, once it is in the config.

    The adapter writes its key into ``cmd_config.json`` shortly after (re)starting, so
    tests poll for it; a config that is mid-rewrite (not valid JSON yet) counts as "not yet".
    """

    def key() -> str | None:
        value = platform_config(root, platform_id).get("hep_api_key")
        return value if isinstance(value, str) and value else None

    return wait_until(
        key,
        timeout,
        message=f"the plugin to write hep_api_key for {platform_id!r} into {config_path(root)}",
        ignore=(ValueError,),
    )


def fake_provider_entry(llm_base_url: str) -> dict[str, Any]:
    """A provider entry pointing at the fake OpenAI-compatible model server."""
    return {
        "id": FAKE_PROVIDER_ID,
        "type": "openai_chat_completion",
        "provider_type": "chat_completion",
        "enable": True,
        "key": [FAKE_API_KEY],
        "api_base": llm_base_url,
        "model": FAKE_MODEL,
    }


def hash_dashboard_password(password: str, iterations: int = _PBKDF2_ITERATIONS) -> str:
    """Same format as ``astrbot.core.utils.auth_password.hash_dashboard_password``.

    (Importing ``astrbot.core`` would create a config and database in the cwd.)
    """
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def verify_dashboard_password(stored_hash: str, password: str) -> bool:
    """Check ``password`` against a ``pbkdf2_sha256$...`` hash from the config."""
    parts = stored_hash.split("$") if isinstance(stored_hash, str) else []
    if len(parts) != 4 or parts[0] != "pbkdf2_sha256":
        return False
    try:
        iterations, salt = int(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations).hex()
    return secrets.compare_digest(digest, parts[3])


def generate_dashboard_password() -> str:
    """A random password that satisfies AstrBot's policy."""
    return "Hep" + secrets.token_urlsafe(12) + "9a"


def dashboard_password_config(username: str, password: str) -> dict[str, Any]:
    """The ``dashboard`` keys that make ``username``/``password`` a valid login."""
    return {
        "username": username,
        "pbkdf2_password": hash_dashboard_password(password),
        "password": hashlib.md5(password.encode()).hexdigest(),
        "password_storage_upgraded": True,
        "password_change_required": False,
    }


def write_dashboard_credentials(root: Path, username: str, password: str) -> None:
    path = Path(root) / CREDENTIALS_FILE
    path.write_text(json.dumps({"username": username, "password": password}), encoding="utf-8")
    with contextlib.suppress(OSError):
        path.chmod(0o600)


def dashboard_credentials(root: Path) -> tuple[str, str] | None:
    """The dashboard login stored by :func:`prepare_root`, if it is still the valid one."""
    try:
        data = json.loads((Path(root) / CREDENTIALS_FILE).read_text(encoding="utf-8"))
        username, password = str(data["username"]), str(data["password"])
        dashboard = read_config(root).get("dashboard", {})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if dashboard.get("username") != username:
        return None
    if not verify_dashboard_password(dashboard.get("pbkdf2_password", ""), password):
        return None
    return username, password


# --------------------------------------------------------------------------- root setup


def _astrbot_package_dir() -> Path | None:
    spec = importlib.util.find_spec("astrbot")  # does not import astrbot
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def ensure_dashboard_assets(root: Path) -> None:
    """Make sure ``astrbot run`` won't try to download the WebUI.

    4.29.0 wheels bundle ``astrbot/dashboard/dist``, so this is a no-op there. Otherwise
    write a tiny ``data/dist`` that passes AstrBot's completeness + version check
    (``index.html`` referencing a local ``.js`` entry, ``assets/version`` == core version).
    The API works regardless of what the WebUI files contain.
    """
    pkg = _astrbot_package_dir()
    if pkg is not None and (pkg / "dashboard" / "dist" / "index.html").is_file():
        return
    dist = Path(root) / "data" / "dist"
    if (dist / "index.html").is_file():
        return
    (dist / "assets").mkdir(parents=True, exist_ok=True)
    (dist / "assets" / "index.js").write_text("/* placeholder WebUI (tests) */\n")
    (dist / "assets" / "version").write_text(f"v{importlib.metadata.version('astrbot')}\n")
    (dist / "index.html").write_text(
        '<!doctype html><html><body><script type="module" src="/assets/index.js">'
        "</script></body></html>\n",
        encoding="utf-8",
    )


def init_root(root: Path, timeout: float = 120.0) -> None:
    """Run ``astrbot init -y`` in ``root`` (creates ``.astrbot`` and ``data/*``)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*astrbot_command(), "init", "-y"],
        cwd=root,
        env=astrbot_env(root),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0 or not (root / ".astrbot").exists():
        raise RuntimeError(
            f"`astrbot init -y` failed in {root} (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


def prepare_root(
    root: Path,
    *,
    dashboard_port: int,
    llm_base_url: str | None,
    platform: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    jwt_secret: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    dashboard_username: str = DEFAULT_DASHBOARD_USERNAME,
    dashboard_password: str = DEFAULT_DASHBOARD_PASSWORD,
) -> dict[str, Any]:
    """Create a fresh AstrBot root non-interactively and write a partial config.

    ``platform`` is one ``platform`` list entry (or a list of them). When ``llm_base_url``
    is given (ending in ``/v1``) the fake model is configured as the only provider.
    Any existing ``cmd_config.json`` is replaced. Returns the partial config written;
    AstrBot fills in the remaining keys on its first start.
    """
    root = Path(root)
    init_root(root)
    ensure_dashboard_assets(root)

    platforms = [dict(platform)] if isinstance(platform, Mapping) else [dict(p) for p in platform]
    dashboard: dict[str, Any] = {"host": "127.0.0.1", "port": dashboard_port}
    dashboard.update(dashboard_password_config(dashboard_username, dashboard_password))
    if jwt_secret:
        dashboard["jwt_secret"] = jwt_secret
    config: dict[str, Any] = {
        "platform": platforms,
        "provider_settings": {"streaming_response": False, "datetime_system_prompt": False},
        "dashboard": dashboard,
        "disable_metrics": True,
    }
    if llm_base_url:
        config["provider"] = [fake_provider_entry(llm_base_url)]
    if extra_config:
        deep_merge(config, extra_config)
    write_config(root, config)
    write_dashboard_credentials(root, dashboard_username, dashboard_password)
    return config


# --------------------------------------------------------------------------- dashboard API


def dashboard_login(base_url: str, username: str, password: str, timeout: float = 30.0) -> str:
    """Log in through AstrBot's own API and return the dashboard JWT.

    ``POST {base_url}/api/auth/login`` with the plain password. HTTP 429 (AstrBot's login
    rate limit) is retried until ``timeout``.
    """
    url = base_url.rstrip("/") + "/api/auth/login"
    body = {"username": username, "password": password}
    last: list[httpx.Response] = []

    with httpx.Client(trust_env=False, timeout=10.0) as client:

        def attempt() -> httpx.Response | None:
            resp = client.post(url, json=body)
            if resp.status_code == 429:
                last[:] = [resp]
                return None
            return resp

        resp = wait_until(
            attempt,
            timeout,
            interval=0.25,
            message=lambda: f"dashboard login (last reply: {last[0].text if last else '-'})",
            ignore=(httpx.TransportError,),
        )
    try:
        payload = resp.json()
        token = payload["data"]["token"]
        if resp.status_code == 200 and payload.get("status") == "ok" and token:
            return str(token)
    except (ValueError, KeyError, TypeError):
        pass
    raise RuntimeError(f"dashboard login failed: HTTP {resp.status_code} {resp.text}")


# --------------------------------------------------------------------------- processes


def _leader_exited(pid: int) -> bool:
    """True once ``pid`` has exited. Leaves it un-reaped, so its pid (= our process
    group id) cannot be recycled while we signal the group."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def _terminate_group(
    proc: subprocess.Popen[Any], timeout: float, sig: signal.Signals = signal.SIGTERM
) -> int:
    """Send ``sig`` to the child's process group, SIGKILL it after ``timeout``; return
    the exit code.

    The child was started with ``start_new_session=True``, so its pid is the group id.
    """
    if proc.returncode is None:
        if not _leader_exited(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                wait_until(lambda: _leader_exited(proc.pid), timeout, message="graceful exit")
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                wait_until(lambda: _leader_exited(proc.pid), 30.0, message="exit after SIGKILL")
        # The leader is a zombie now; finish off any grandchildren left in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return int(proc.wait())


class AstrBotProcess:
    """``astrbot run -p <port>`` in ``root``, in its own process group.

    stdout+stderr are appended to ``<root>/astrbot.log``. Usable as a context manager
    (``__enter__`` starts it and waits until ready, ``__exit__`` stops it).
    """

    def __init__(
        self,
        root: Path,
        port: int,
        *,
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        log_name: str = LOG_FILE,
    ) -> None:
        self.root = Path(root).resolve()
        self.port = port
        self.extra_env = dict(extra_env or {})
        self.extra_args = list(extra_args)
        self.log_path = self.root / log_name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0

    # -- info
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def is_running(self) -> bool:
        proc = self.proc
        return proc is not None and proc.returncode is None and not _leader_exited(proc.pid)

    @property
    def returncode(self) -> int | None:
        """Exit code once stopped (``None`` while running or never started)."""
        return self.proc.returncode if self.proc else None

    def log_text(self, *, current_run: bool = False, raw: bool = False) -> str:
        """The log file's text (ANSI colours removed unless ``raw``).

        With ``current_run`` only what the latest start wrote.
        """
        try:
            with self.log_path.open("rb") as fh:
                if current_run:
                    fh.seek(self._log_offset)
                data = fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return data if raw else strip_ansi(data)

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` log lines, minus AstrBot's "Config key missing" chatter."""
        text = "\n".join(line for line in self.log_text().splitlines() if _CONFIG_NOISE not in line)
        return tail(text, lines)

    def credentials(self) -> tuple[str, str] | None:
        return dashboard_credentials(self.root)

    def login(self, timeout: float = 30.0) -> str:
        """A real dashboard JWT for the credentials :func:`prepare_root` stored."""
        creds = self.credentials()
        if creds is None:
            raise RuntimeError(f"no known dashboard credentials in {self.root}")
        return dashboard_login(self.base_url, *creds, timeout=timeout)

    # -- lifecycle
    def start(self) -> Self:
        if self.is_running():
            raise RuntimeError(f"AstrBot already running (pid {self.pid})")
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot start AstrBot")
        self._close_log()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        self._log_offset = self._log_file.tell()
        self.starts += 1
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log_file.write(
            f"\n===== harness: start #{self.starts} at {stamp}, port {self.port} =====\n".encode()
        )
        self._log_file.flush()
        self.proc = subprocess.Popen(
            [*astrbot_command(), "run", "-p", str(self.port), *self.extra_args],
            cwd=self.root,
            env=astrbot_env(self.root, self.extra_env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 90.0) -> Self:
        """Poll until the dashboard answers HTTP; fail fast if the process dies."""
        if self.proc is None:
            raise RuntimeError("AstrBot was not started")
        url = self.base_url + "/api/stat/start-time"  # on the auth allow-list
        with httpx.Client(trust_env=False, timeout=2.0) as client:

            def ready() -> bool:
                if not self.is_running():
                    code = self.stop()
                    raise RuntimeError(
                        f"AstrBot exited with code {code} before it was ready.\n"
                        f"--- {self.log_path} (tail) ---\n{self.log_tail(60)}"
                    )
                try:
                    client.get(url)
                except httpx.TransportError:
                    return False
                return True

            wait_until(
                ready,
                timeout,
                interval=0.1,
                message=lambda: (
                    f"AstrBot dashboard on {self.base_url}\n"
                    f"--- {self.log_path} (tail) ---\n{self.log_tail(60)}"
                ),
            )
        return self

    def stop(self, timeout: float = 20.0, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Signal the whole process group, SIGKILL it after ``timeout``; return the exit code.

        AstrBot dies on SIGTERM at once (exit -15) without running plugin/platform
        ``terminate()`` hooks. Pass ``sig=signal.SIGINT`` for its graceful shutdown
        ("Shutting down AstrBot...", hooks run, exit 0, ~1.5 s).
        """
        if self.proc is None:
            return None
        code = _terminate_group(self.proc, timeout, sig)
        self._close_log()
        return code

    def kill(self) -> int | None:
        """SIGKILL the process group at once (crash simulation)."""
        if self.proc is None:
            return None
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        code = _terminate_group(self.proc, 5.0)
        self._close_log()
        return code

    def restart(self, timeout: float = 90.0, sig: signal.Signals = signal.SIGTERM) -> Self:
        """Stop (with ``sig``), start again on the same port, and wait until ready."""
        self.stop(sig=sig)
        wait_until(
            lambda: port_is_free(self.port),
            10.0,
            message=f"port {self.port} to be released",
        )
        return self.start().wait_ready(timeout)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"AstrBotProcess(root={str(self.root)!r}, port={self.port}, pid={self.pid})"


@contextlib.contextmanager
def running_astrbot(
    root: Path,
    *,
    llm_base_url: str | None,
    platform: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    jwt_secret: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    extra_plugins: Sequence[tuple[Path, str]] = (),
    ready_timeout: float = 120,
) -> Iterator[AstrBotProcess]:
    """A fresh AstrBot in ``root`` with our plugin installed, ready when yielded.

    One place for what every e2e fixture needs: a free port, :func:`prepare_root`, the
    plugin (plus ``extra_plugins`` as ``(source folder, folder name)`` pairs), start and
    wait. If setup or the ``with`` body fails, the log tail is printed (pytest shows it
    with the error); AstrBot is always stopped on exit.
    """
    port = free_port()
    prepare_root(
        root,
        dashboard_port=port,
        llm_base_url=llm_base_url,
        platform=platform,
        jwt_secret=jwt_secret,
        extra_config=extra_config,
    )
    install_plugin(REPO_ROOT, root)
    for src_dir, folder_name in extra_plugins:
        install_extra_plugin(src_dir, root, folder_name)
    proc = AstrBotProcess(root, port)
    proc.start()
    try:
        proc.wait_ready(timeout=ready_timeout)
        yield proc
    except BaseException:
        print(f"\n--- AstrBot log tail ({proc.log_path}) ---\n{proc.log_tail(120)}")
        raise
    finally:
        proc.stop()


_FAKE_READY_RE = re.compile(r"fake-llm listening on (http://\S+)")


class FakeLLMProcess:
    """``python -m tests.fakes.fake_llm`` as a child process (own process group).

    ``base_url`` ends in ``/v1`` (what an OpenAI client wants); ``calls()``/``reset()``
    use the fake's ``/_fake/calls`` and ``/_fake/reset`` control routes.
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        cwd: Path = REPO_ROOT,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port if port is not None else 0  # 0: the fake picks one and reports it
        self.cwd = Path(cwd)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.root_url = f"http://{host}:{self.port}"
        self._output: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def output(self) -> str:
        return "".join(self._output)

    def is_running(self) -> bool:
        proc = self.proc
        return proc is not None and proc.returncode is None and not _leader_exited(proc.pid)

    def start(self, timeout: float = 30.0) -> Self:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.fake_llm",
                "--host",
                self.host,
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, name="fake-llm-output", daemon=True)
        self._reader.start()

        def ready() -> bool:
            if self._ready.is_set():
                return True
            if not self.is_running():
                code = self.stop()
                raise RuntimeError(
                    f"fake LLM exited with code {code} before it was ready:\n{self.output()}"
                )
            return False

        try:
            wait_until(
                ready,
                timeout,
                message=lambda: f"the fake LLM's ready line; output so far:\n{self.output()}",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._output.append(line)
            if not self._ready.is_set():
                match = _FAKE_READY_RE.search(line)
                if match:
                    self.root_url = match.group(1).rstrip("/")
                    self.port = int(self.root_url.rsplit(":", 1)[1])
                    self._ready.set()

    def calls(self) -> list[dict[str, Any]]:
        """Request bodies the fake has recorded, oldest first (``GET /_fake/calls``)."""
        resp = httpx.get(self.root_url + "/_fake/calls", trust_env=False, timeout=10.0)
        resp.raise_for_status()
        data = resp.json()
        if isinstance(data, dict):
            data = data.get("requests", data.get("calls", []))
        return list(data)

    def reset(self) -> None:
        """Forget recorded calls and scripted replies (``POST /_fake/reset``)."""
        resp = httpx.post(self.root_url + "/_fake/reset", trust_env=False, timeout=10.0)
        resp.raise_for_status()

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        code = _terminate_group(self.proc, timeout)
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def __enter__(self) -> Self:
        if self.proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

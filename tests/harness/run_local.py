"""``make run``: a local AstrBot with this plugin, ready to be called with curl.

Run from the repository root: ``python -m tests.harness.run_local``.

* Root: ``$HEP_ROOT`` or ``<repo>/.astrbot-root`` (gitignored). An existing root keeps its
  config; only the plugin copy is refreshed and an enabled ``http_endpoint`` platform
  entry is ensured.
* Dashboard port: ``$HEP_PORT`` or 6185.
* If the config has no chat provider of its own, the bundled fake model
  (``tests.fakes.fake_llm``) is started and configured as provider ``hep_fake_llm``.
  A real provider configured by the operator is left alone and the fake is not started.
* ``$HEP_KEY_TIMEOUT`` (seconds, default 60): how long to wait for the plugin to write
  its generated API key into the config.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from tests.harness.astrbot_root import (
    DEFAULT_PLATFORM,
    FAKE_PROVIDER_ID,
    PLATFORM_TYPE,
    REPO_ROOT,
    AstrBotProcess,
    FakeLLMProcess,
    dashboard_credentials,
    ensure_dashboard_assets,
    fake_provider_entry,
    generate_dashboard_password,
    init_root,
    install_plugin,
    port_is_free,
    prepare_root,
    read_config,
    update_config,
    wait_until,
)

DEFAULT_PORT = 6185
DEFAULT_FAKE_PORT = 18080
DEFAULT_ENDPOINT = "/v1/chat"
PLUGIN_ROUTE_PREFIX = "/api/plug"
LOCAL_DASHBOARD_USERNAME = "astrbot-admin"

_NON_CHAT_TYPE = re.compile(r"embedding|rerank|tts|stt|whisper|speech|sensevoice", re.IGNORECASE)


def _log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def _merged_provider(entry: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Provider entry merged with its ``provider_sources`` item, as AstrBot does."""
    merged = dict(entry)
    source_id = entry.get("provider_source_id")
    if source_id:
        for source in config.get("provider_sources", []) or []:
            if isinstance(source, dict) and source.get("id") == source_id:
                merged = {**source, **entry}
                break
    return merged


def has_own_chat_provider(config: Mapping[str, Any]) -> bool:
    """True if the operator configured something that answers chats (not our fake)."""
    runner = config.get("agent_runner")
    if isinstance(runner, dict) and runner.get("runner_type", "local") not in ("", "local"):
        return True  # Dify/Coze/... agent runners bring their own model
    for entry in config.get("provider", []) or []:
        if not isinstance(entry, dict) or entry.get("id") == FAKE_PROVIDER_ID:
            continue
        merged = _merged_provider(entry, config)
        if not merged.get("enable", True):
            continue
        provider_type = merged.get("provider_type")
        if provider_type == "chat_completion":
            return True
        if not provider_type and not _NON_CHAT_TYPE.search(str(merged.get("type", ""))):
            return True
    return False


def _pick_platform(platforms: list[Any]) -> dict[str, Any] | None:
    ours = [p for p in platforms if isinstance(p, dict) and p.get("type") == PLATFORM_TYPE]
    for entry in ours:
        if entry.get("id") == DEFAULT_PLATFORM["id"]:
            return entry
    return ours[0] if ours else None


def ensure_platform_entry(config: dict[str, Any]) -> str:
    """Make sure an enabled ``http_endpoint`` platform entry exists; return its id."""
    platforms = config.setdefault("platform", [])
    entry = _pick_platform(platforms)
    if entry is None:
        entry = dict(DEFAULT_PLATFORM)
        platforms.append(entry)
        _log(f"added platform entry {entry['id']!r}")
    elif not entry.get("enable"):
        entry["enable"] = True
        _log(f"enabled platform entry {entry.get('id')!r}")
    return str(entry["id"])


def set_fake_provider(config: dict[str, Any], llm_base_url: str | None) -> None:
    """Point our fake provider entry at ``llm_base_url`` (or disable it when ``None``).

    AstrBot migrates a flat provider entry into ``provider`` + ``provider_sources`` on its
    first start, so on later runs the URL lives in the ``<id>_source`` item.
    """
    providers = config.setdefault("provider", [])
    entry = next(
        (p for p in providers if isinstance(p, dict) and p.get("id") == FAKE_PROVIDER_ID), None
    )
    if llm_base_url is None:
        if entry is not None and entry.get("enable"):
            entry["enable"] = False
            _log(f"disabled provider {FAKE_PROVIDER_ID!r} (you configured your own)")
        return
    if entry is None:
        providers.append(fake_provider_entry(llm_base_url))
        return
    entry["enable"] = True
    source_id = entry.get("provider_source_id")
    sources = config.get("provider_sources", []) or []
    source = next(
        (s for s in sources if isinstance(s, dict) and source_id and s.get("id") == source_id),
        None,
    )
    if source is not None:
        source["api_base"] = llm_base_url
    else:
        entry.pop("provider_source_id", None)
        entry.update(fake_provider_entry(llm_base_url))


def _start_fake() -> FakeLLMProcess:
    port = DEFAULT_FAKE_PORT if port_is_free(DEFAULT_FAKE_PORT) else 0
    fake = FakeLLMProcess(port=port).start()
    _log(f"fake model running at {fake.base_url}")
    return fake


def _endpoint_path(entry: Mapping[str, Any]) -> str:
    endpoint = str(entry.get("hep_api_endpoint") or DEFAULT_ENDPOINT).strip() or DEFAULT_ENDPOINT
    return "/" + endpoint.lstrip("/")


def _api_key(root: Path, platform_id: str) -> str | None:
    try:
        config = read_config(root)
    except (OSError, ValueError):
        return None  # not written yet, or caught mid-write
    for entry in config.get("platform", []):
        if isinstance(entry, dict) and entry.get("id") == platform_id:
            key = entry.get("hep_api_key")
            return str(key) if key else None
    return None


def _banner(port: int, root: Path, platform_id: str, key: str, log_path: Path) -> str:
    entry = next(p for p in read_config(root)["platform"] if p.get("id") == platform_id)
    url = f"http://127.0.0.1:{port}{PLUGIN_ROUTE_PREFIX}{_endpoint_path(entry)}"
    dashboard = f"http://127.0.0.1:{port}/"
    creds = dashboard_credentials(root)
    body = (
        '{"msg_id":"demo-1","type":"text","query":"你好",'
        '"sender_id":"user123","sender_nickname":"demo"}'
    )
    curl = (
        f'curl -sS -X POST {url} -H "Authorization: Bearer {key}" '
        f"-H \"Content-Type: application/json\" -d '{body}'"
    )
    if creds:
        login_zh = f"用户名 {creds[0]}  密码 {creds[1]}"
        login_en = f"username {creds[0]}  password {creds[1]}"
    else:
        login_zh = "（使用你自己设置的账号密码）"
        login_en = "(use the credentials you set yourself)"
    line = "=" * 72
    return "\n".join(
        [
            line,
            "HTTP Endpoint 适配器已就绪",
            f"  接口地址:   {url}",
            f"  API 密钥:   {key}",
            f"  管理面板:   {dashboard}   {login_zh}",
            f"  日志文件:   {log_path}",
            "  试一试（复制粘贴即可）:",
            "",
            "HTTP Endpoint adapter is ready",
            f"  Endpoint:   {url}",
            f"  API key:    {key}",
            f"  Dashboard:  {dashboard}   {login_en}",
            f"  Log file:   {log_path}",
            "  Try it (copy & paste):",
            "",
            f"  {curl}",
            "",
            "按 Ctrl-C 停止 / Press Ctrl-C to stop.",
            line,
        ]
    )


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    root = Path(os.environ.get("HEP_ROOT") or REPO_ROOT / ".astrbot-root").resolve()
    port = int(os.environ.get("HEP_PORT") or DEFAULT_PORT)
    key_timeout = float(os.environ.get("HEP_KEY_TIMEOUT") or 60)
    # Ctrl-C / SIGTERM -> KeyboardInterrupt -> clean shutdown of the children. Set SIGINT
    # explicitly: a shell that starts us in the background makes it SIG_IGN otherwise.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    fake: FakeLLMProcess | None = None
    astrbot: AstrBotProcess | None = None
    try:
        if not port_is_free(port):
            _log(f"端口 {port} 已被占用 / port {port} is already in use (set HEP_PORT)")
            return 2
        fresh = not (root / "data" / "cmd_config.json").exists()
        if fresh:
            _log(f"creating a new AstrBot root in {root}")
            fake = _start_fake()
            prepare_root(
                root,
                dashboard_port=port,
                llm_base_url=fake.base_url,
                platform=dict(DEFAULT_PLATFORM),
                dashboard_username=LOCAL_DASHBOARD_USERNAME,
                dashboard_password=generate_dashboard_password(),
            )
            platform_id = str(DEFAULT_PLATFORM["id"])
        else:
            _log(f"using the existing AstrBot root in {root}")
            if not (root / ".astrbot").exists():
                init_root(root)
            ensure_dashboard_assets(root)
            if not has_own_chat_provider(read_config(root)):
                fake = _start_fake()
            llm_base_url = fake.base_url if fake else None
            platform_ids: list[str] = []

            def fix(config: dict[str, Any]) -> None:
                platform_ids.append(ensure_platform_entry(config))
                set_fake_provider(config, llm_base_url)

            update_config(root, fix)
            platform_id = platform_ids[0]

        install_plugin(REPO_ROOT, root)
        astrbot = AstrBotProcess(root, port)
        _log(f"starting AstrBot on port {port} (log: {astrbot.log_path}) ...")
        started = time.monotonic()
        astrbot.start().wait_ready(timeout=180)
        _log(f"AstrBot is up after {time.monotonic() - started:.1f}s; waiting for the API key ...")

        running = astrbot

        def key_ready() -> str | None:
            if not running.is_running():
                raise RuntimeError(f"AstrBot exited (code {running.stop()})")
            return _api_key(root, platform_id)

        try:
            key = wait_until(
                key_ready, key_timeout, interval=0.2, message=f"hep_api_key of {platform_id!r}"
            )
        except (TimeoutError, RuntimeError) as exc:
            print(
                f"\n错误：插件没有在 {key_timeout:g} 秒内把 API 密钥 (hep_api_key) 写入平台"
                f" {platform_id!r} 的配置。\n"
                f"Error: the plugin did not write its API key (hep_api_key) into platform"
                f" {platform_id!r} within {key_timeout:g}s ({exc}).\n"
                f"配置文件 / config: {root / 'data' / 'cmd_config.json'}\n"
                f"--- AstrBot log tail ({astrbot.log_path}) ---\n{astrbot.log_tail(60)}",
                file=sys.stderr,
                flush=True,
            )
            return 1

        print(_banner(port, root, platform_id, key, astrbot.log_path), flush=True)

        while astrbot.is_running() and (fake is None or fake.is_running()):
            time.sleep(0.5)
        if not astrbot.is_running():
            code = astrbot.stop()
            print(
                f"AstrBot 已退出 / AstrBot exited (code {code}).\n{astrbot.log_tail(40)}",
                file=sys.stderr,
            )
        else:
            print(f"假模型已退出 / the fake model exited:\n{fake.output() if fake else ''}")
        return 1
    except KeyboardInterrupt:
        print("\n正在停止… / stopping ...", flush=True)
        return 0
    finally:
        # Ignore a second Ctrl-C while the children shut down.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if astrbot is not None:
            astrbot.stop()
        if fake is not None:
            fake.stop()


if __name__ == "__main__":
    sys.exit(main())

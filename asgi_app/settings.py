"""Typed, frozen settings parsed once from the platform's config dict.

The dashboard edits every value as text, so each field accepts a string or a
number; anything that does not make sense raises :class:`SettingsError` naming
the key, which the adapter shows as the platform's error (AstrBot keeps running).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.datastructures import Secret

from .signing import secret_bytes

ADAPTER_TYPE = "http_endpoint"
HEP_PREFIX = "/api/plug/hep"
PLUG_PREFIX = "/api/plug"

DEFAULTS: dict[str, Any] = {
    "hep_api_endpoint": "/v1/chat",
    "hep_api_key": "",
    "hep_api_key_ttl": "604800",
    "hep_callback_switch": False,
    "hep_callback_url": "",
    "hep_cache_size": "4096",
    "hep_cache_ttl": "300",
    "hep_wait_timeout": "30",
    "hep_reply_deadline": "300",
    "hep_queue_size": "1000",
    "hep_log_max_bytes": "10485760",
    "hep_log_backups": "5",
    "hep_log_content": False,
    "hep_public_base_url": "",
    "hep_show_tool_calls": False,
    "hep_show_reasoning": False,
    "hep_files_max_mb": "256",
    "hep_callback_secret": "",
    "hep_callback_timeout": "10",
    "hep_callback_retries": "3",
    "hep_callback_backoff": "1",
    "hep_callback_backoff_max": "60",
    "hep_outbox_size": "10000",
    "hep_key_grace": "60",
    "hep_max_body_bytes": "1048576",
    "hep_rate_limit_per_key": "600",
    "hep_rate_limit_per_sender": "60",
}

_ENDPOINT_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_BASE_URL_RE = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class SettingsError(ValueError):
    """A config value that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the HTTP side needs to know, already validated.

    Args:
        platform_id: the platform instance id (``id`` in the config).
        api_endpoint: the chat path under ``/api/plug``, e.g. ``/v1/chat``.
        api_key: the key currently in the config (may be empty or stale).
        api_key_ttl: lifetime of a newly issued key, in seconds.
        callback_switch / callback_url: callback mode (issue: callbacks).
        cache_size / cache_ttl: the reply store's capacity and entry lifetime (s).
        wait_timeout: how long a POST waits for the pipeline before answering 202 (s).
        reply_deadline: after this many seconds a reply record is marked done anyway.
        queue_size: bound of the inbound queue; when full, POSTs get 503.
        log_max_bytes / log_backups: size at which the audit file rotates, files kept.
        log_content: include message text (truncated) in the audit trail.
        public_base_url: origin of served file links; empty = the request's own origin.
        show_tool_calls / show_reasoning: pass tool-status and reasoning messages on.
        files_max_bytes: disk the served-file store may use.
        callback_secret: ``whsec_...`` signing secret (empty: the adapter generates one).
        callback_timeout / callback_retries: per-attempt timeout (s) and retries after
            the first attempt.
        callback_backoff / callback_backoff_max: first retry pause and the cap (s).
        outbox_size: pending callback deliveries at which new messages get 503.
        key_grace: seconds the previous key keeps working after a refresh.
        max_body_bytes: largest request body read; a larger one gets 413.
        rate_limit_per_key / rate_limit_per_sender: requests per minute (also the
            burst: a full bucket), per API key / per new message of one sender; 0 = off.
    """

    platform_id: str
    api_endpoint: str
    api_key: Secret
    api_key_ttl: int
    callback_switch: bool
    callback_url: str
    cache_size: int
    cache_ttl: float
    wait_timeout: float
    reply_deadline: float
    queue_size: int
    public_base_url: str
    show_tool_calls: bool
    show_reasoning: bool
    files_max_bytes: int
    callback_secret: Secret
    callback_timeout: float
    callback_retries: int
    callback_backoff: float
    callback_backoff_max: float
    outbox_size: int
    key_grace: float
    max_body_bytes: int
    rate_limit_per_key: int
    rate_limit_per_sender: int
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    log_content: bool = False

    @property
    def chat_path(self) -> str:
        """Full path of the chat endpoint inside AstrBot's web server."""
        return PLUG_PREFIX + self.api_endpoint


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Validate a platform config dict (missing keys take :data:`DEFAULTS`)."""
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    return Settings(
        platform_id=_text(values, "id", default=ADAPTER_TYPE) or ADAPTER_TYPE,
        api_endpoint=_endpoint(values),
        api_key=Secret(_text(values, "hep_api_key")),
        api_key_ttl=_integer(values, "hep_api_key_ttl", minimum=60),
        callback_switch=_boolean(values, "hep_callback_switch"),
        callback_url=_text(values, "hep_callback_url"),
        cache_size=_integer(values, "hep_cache_size", minimum=1),
        cache_ttl=_number(values, "hep_cache_ttl", minimum=1),
        wait_timeout=_number(values, "hep_wait_timeout", minimum=0),
        reply_deadline=_number(values, "hep_reply_deadline", minimum=1),
        queue_size=_integer(values, "hep_queue_size", minimum=1),
        log_max_bytes=_integer(values, "hep_log_max_bytes", minimum=1024),
        log_backups=_integer(values, "hep_log_backups", minimum=1),
        log_content=_boolean(values, "hep_log_content"),
        public_base_url=_base_url(values, "hep_public_base_url"),
        show_tool_calls=_boolean(values, "hep_show_tool_calls"),
        show_reasoning=_boolean(values, "hep_show_reasoning"),
        files_max_bytes=_integer(values, "hep_files_max_mb", minimum=1) * 1024 * 1024,
        key_grace=_number(values, "hep_key_grace", minimum=0),
        max_body_bytes=_integer(values, "hep_max_body_bytes", minimum=1024),
        rate_limit_per_key=_integer(values, "hep_rate_limit_per_key", minimum=0),
        rate_limit_per_sender=_integer(values, "hep_rate_limit_per_sender", minimum=0),
        **_callback_settings(values),
    )


def _callback_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Callback-mode fields; the URL must be usable when the switch is on."""
    url = _text(values, "hep_callback_url")
    if _boolean(values, "hep_callback_switch"):
        # Parsed as the HTTP client will (a bad port or host is an error here, at start),
        # and never echoed: a URL can carry a token in its query or user info.
        try:
            parsed = httpx.URL(url)
            usable = parsed.scheme in ("http", "https") and bool(parsed.host)
            parsed.port  # noqa: B018  (raises on a malformed port)
        except (httpx.InvalidURL, ValueError):
            usable = False
        if not usable:
            shown = "it is empty" if not url else "it is not an absolute http(s) URL"
            raise SettingsError(
                "hep_callback_url: callback mode is on, so set an http(s) URL that receives "
                f"the replies; {shown}"
            )
    secret = _text(values, "hep_callback_secret")
    if secret:
        try:
            secret_bytes(secret)
        except ValueError as exc:
            raise SettingsError(
                f"hep_callback_secret: {exc} (clear it to have a new one generated)"
            ) from None
    return {
        "callback_secret": Secret(secret),
        "callback_timeout": _number(values, "hep_callback_timeout", minimum=0.01),
        "callback_retries": _integer(values, "hep_callback_retries", minimum=0),
        "callback_backoff": _number(values, "hep_callback_backoff", minimum=0),
        "callback_backoff_max": _number(values, "hep_callback_backoff_max", minimum=0),
        "outbox_size": _integer(values, "hep_outbox_size", minimum=1),
    }


def _text(values: Mapping[str, Any], key: str, *, default: str = "") -> str:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SettingsError(f"{key}: expected text, got {type(value).__name__}")
    return str(value).strip()


def _endpoint(values: Mapping[str, Any]) -> str:
    endpoint = _text(values, "hep_api_endpoint") or str(DEFAULTS["hep_api_endpoint"])
    endpoint = "/" + endpoint.strip("/")
    dot_segment = any(segment in (".", "..") for segment in endpoint.split("/"))
    if not _ENDPOINT_RE.match(endpoint) or dot_segment or len(endpoint) > 128:
        raise SettingsError(
            "hep_api_endpoint: use a path like /v1/chat "
            f"(letters, digits, '.', '_', '~', '-' between slashes), got {endpoint!r}"
        )
    if endpoint == "/hep" or endpoint.startswith("/hep/"):
        raise SettingsError("hep_api_endpoint: /hep is reserved for the adapter's own routes")
    return endpoint


def _convert(values: Mapping[str, Any], key: str, kind: str, convert: Callable[[str], Any]) -> Any:
    value = values.get(key)
    if isinstance(value, bool):
        raise SettingsError(f"{key}: expected {kind}, got {value!r}")
    try:
        return convert(str(value).strip())
    except ValueError:
        raise SettingsError(f"{key}: expected {kind}, got {value!r}") from None


def _integer(values: Mapping[str, Any], key: str, *, minimum: int) -> int:
    number: int = _convert(values, key, "a whole number", int)
    if number < minimum:
        raise SettingsError(f"{key}: must be at least {minimum}, got {number}")
    return number


def _number(values: Mapping[str, Any], key: str, *, minimum: float) -> float:
    number: float = _convert(values, key, "a number of seconds", float)
    if not number >= minimum or number == float("inf"):
        raise SettingsError(f"{key}: must be a finite number ≥ {minimum}, got {values.get(key)!r}")
    return number


def _boolean(values: Mapping[str, Any], key: str) -> bool:
    value = values.get(key)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{key}: expected true or false, got {value!r}")


def _base_url(values: Mapping[str, Any], key: str) -> str:
    """An ``http(s)://host[:port][/path]`` origin without a trailing slash, or empty."""
    url = _text(values, key).rstrip("/")
    if url and not _BASE_URL_RE.match(url):
        raise SettingsError(f"{key}: use an http(s) URL like https://bot.example.com, got {url!r}")
    return url

"""Config values arrive as text or numbers; nonsense is refused with the key's name."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_app.settings import DEFAULTS, SettingsError, parse_settings


def test_defaults_match_the_seed_contract() -> None:
    settings = parse_settings({"id": "http_endpoint"})
    assert settings.api_endpoint == "/v1/chat"
    assert settings.chat_path == "/api/plug/v1/chat"
    assert settings.api_key_ttl == 604800
    assert settings.cache_size == 4096 and settings.cache_ttl == 300
    assert settings.wait_timeout == 30
    assert settings.callback_switch is False
    assert DEFAULTS["hep_api_key"] == ""


def test_strings_and_numbers_are_both_accepted() -> None:
    url = {"hep_callback_url": "http://127.0.0.1:9/hook"}  # callback mode needs a URL
    as_text = parse_settings(
        {"hep_cache_size": "10", "hep_cache_ttl": "1.5", "hep_callback_switch": "true", **url}
    )
    as_numbers = parse_settings(
        {"hep_cache_size": 10, "hep_cache_ttl": 1.5, "hep_callback_switch": True, **url}
    )
    assert (as_text.cache_size, as_text.cache_ttl, as_text.callback_switch) == (10, 1.5, True)
    assert (as_numbers.cache_size, as_numbers.cache_ttl, as_numbers.callback_switch) == (
        10,
        1.5,
        True,
    )


def test_the_key_is_hidden_in_reprs() -> None:
    settings = parse_settings({"hep_api_key": "hep_secret"})
    assert "hep_secret" not in repr(settings)
    assert str(settings.api_key) == "hep_secret"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("v1/chat", "/v1/chat"), ("/v1/chat/", "/v1/chat"), ("/bot", "/bot"), ("", "/v1/chat")],
)
def test_endpoint_is_normalised(endpoint: str, expected: str) -> None:
    assert parse_settings({"hep_api_endpoint": endpoint}).api_endpoint == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"hep_cache_size": "many"}, "hep_cache_size"),
        ({"hep_cache_size": "0"}, "hep_cache_size"),
        ({"hep_cache_ttl": "-1"}, "hep_cache_ttl"),
        ({"hep_cache_ttl": "nan"}, "hep_cache_ttl"),
        ({"hep_api_key_ttl": True}, "hep_api_key_ttl"),
        ({"hep_callback_switch": "perhaps"}, "hep_callback_switch"),
        ({"hep_api_endpoint": "/a b"}, "hep_api_endpoint"),
        ({"hep_api_endpoint": "/hep/x"}, "hep_api_endpoint"),
        ({"hep_api_endpoint": "/../admin"}, "hep_api_endpoint"),
        ({"hep_api_key": ["x"]}, "hep_api_key"),
    ],
)
def test_nonsense_is_refused_naming_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        parse_settings(raw)


def test_message_model_keys_have_safe_defaults() -> None:
    """Links use the request's origin, tool calls and reasoning stay hidden, 256 MB of files."""
    settings = parse_settings({})
    assert settings.public_base_url == ""
    assert (settings.show_tool_calls, settings.show_reasoning) == (False, False)
    assert settings.files_max_bytes == 256 * 1024 * 1024
    custom = parse_settings(
        {"hep_public_base_url": "https://bot.example.com/", "hep_show_reasoning": "true"}
    )
    assert custom.public_base_url == "https://bot.example.com"
    assert custom.show_reasoning is True


@pytest.mark.parametrize("url", ["bot.example.com", "ftp://x", "https://x/a?b", "https:// x"])
def test_public_base_url_must_be_an_http_origin(url: str) -> None:
    with pytest.raises(SettingsError, match="hep_public_base_url"):
        parse_settings({"hep_public_base_url": url})


def test_hardening_defaults() -> None:
    settings = parse_settings({})
    assert settings.key_grace == 60
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.rate_limit_per_key == 600
    assert settings.rate_limit_per_sender == 60


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"hep_key_grace": "-1"}, "hep_key_grace"),
        ({"hep_key_grace": "soon"}, "hep_key_grace"),
        ({"hep_max_body_bytes": "100"}, "hep_max_body_bytes"),
        ({"hep_max_body_bytes": "1.5"}, "hep_max_body_bytes"),
        ({"hep_rate_limit_per_key": "-5"}, "hep_rate_limit_per_key"),
        ({"hep_rate_limit_per_sender": "lots"}, "hep_rate_limit_per_sender"),
    ],
)
def test_hardening_nonsense_is_refused_naming_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        parse_settings(raw)

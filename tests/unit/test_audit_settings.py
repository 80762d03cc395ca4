"""The audit settings: defaults, strings or numbers, nonsense named by key."""

from __future__ import annotations

import pytest

from asgi_app.settings import SettingsError, parse_settings


def test_audit_defaults_are_10_mib_5_backups_and_no_content() -> None:
    """We expect the documented defaults when the keys are absent."""
    settings = parse_settings({"id": "x"})
    assert (settings.log_max_bytes, settings.log_backups, settings.log_content) == (
        10 * 1024 * 1024,
        5,
        False,
    )


def test_audit_values_accept_text_and_numbers() -> None:
    """We expect dashboard text and JSON numbers/booleans alike."""
    settings = parse_settings(
        {"hep_log_max_bytes": 4096, "hep_log_backups": "2", "hep_log_content": "on"}
    )
    assert (settings.log_max_bytes, settings.log_backups, settings.log_content) == (4096, 2, True)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hep_log_max_bytes", "10MB"),
        ("hep_log_max_bytes", "100"),
        ("hep_log_backups", "0"),
        ("hep_log_content", "maybe"),
    ],
)
def test_audit_nonsense_is_an_error_naming_the_key(key: str, value: str) -> None:
    """We expect a SettingsError that starts with the key's name."""
    with pytest.raises(SettingsError, match=f"^{key}:"):
        parse_settings({key: value})

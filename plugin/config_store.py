"""Persist AstrBot's main config after we changed our platform entry.

The adapter receives its entry of ``astrbot_config["platform"]`` by reference, so
writing a key means mutating that dict and saving the file. AstrBot offers no
other handle for it than its module-level config object (research §4.6); this
module is the single place that reaches for it.
"""

from __future__ import annotations


def save_platform_config() -> None:
    from astrbot.core import astrbot_config

    astrbot_config.save_config()

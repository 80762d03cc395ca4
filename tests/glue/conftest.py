"""Unit tests of the AstrBot glue (``plugin/``), importing the real ``astrbot`` package.

``plugin`` imports ``asgi_app`` relatively (``from ..asgi_app``), exactly as AstrBot
loads it (``data.plugins.<folder>``), so the repository is staged here as the package
``astrbot_plugin_http_endpoint`` (a symlink). Importing AstrBot creates its data
directory under ``ASTRBOT_ROOT``, so that points at a throwaway directory first.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.harness.astrbot_root import PLUGIN_FOLDER, REPO_ROOT

_STAGE = Path(tempfile.mkdtemp(prefix="hep-glue-"))
atexit.register(shutil.rmtree, _STAGE, ignore_errors=True)
os.environ["ASTRBOT_ROOT"] = str(_STAGE / "astrbot-root")
(_STAGE / PLUGIN_FOLDER).symlink_to(REPO_ROOT, target_is_directory=True)
sys.path.insert(0, str(_STAGE))

pytest.importorskip("astrbot")
with warnings.catch_warnings():
    # AstrBot's own imports warn (audioop is deprecated); not ours to fix, so import
    # everything once here, where the suite's warnings-as-errors does not apply.
    warnings.simplefilter("ignore", DeprecationWarning)
    for _name in ("outbound", "convert", "event"):
        importlib.import_module(f"{PLUGIN_FOLDER}.plugin.{_name}")


def staged(module: str) -> Any:
    """A module of the staged plugin, e.g. ``staged("plugin.outbound")`` (typed ``Any``:
    mypy checks these modules in ``make check``'s own staging)."""
    return importlib.import_module(f"{PLUGIN_FOLDER}.{module}")

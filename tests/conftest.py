"""Make the repository importable as one package, the way AstrBot imports the plugin.

AstrBot loads it as ``data.plugins.<folder>``, and ``plugin/`` reaches ``asgi_app``
with relative imports (``..asgi_app``). Tests that need ``plugin`` modules import
them through the alias package ``hep_plugin``, whose path is the repository root.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

ALIAS = "hep_plugin"

if ALIAS not in sys.modules:
    package = types.ModuleType(ALIAS)
    package.__path__ = [str(Path(__file__).resolve().parent.parent)]
    sys.modules[ALIAS] = package

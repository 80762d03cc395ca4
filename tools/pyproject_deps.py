"""Print dependencies from pyproject.toml, one per line: runtime (default) or an extra."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def main() -> None:
    project = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["project"]
    group = sys.argv[1] if len(sys.argv) > 1 else "runtime"
    deps = (
        project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    )
    print("\n".join(deps))


if __name__ == "__main__":
    main()

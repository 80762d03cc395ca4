#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter (AstrBot 4.26+ needs it), or fail.
set -u
# 3.12 first: it is what AstrBot 4.26+ is built and tested on; newer ones after it.
candidates=("${PYTHON:-}" python3.12)
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[2-9]' | sort -V); do
    candidates+=("$(pyenv prefix "$v" 2>/dev/null)/bin/python3")
  done
fi
for d in "$HOME"/.pyenv/versions/3.1[2-9]*; do
  candidates+=("$d/bin/python3")
done
candidates+=(python3.13 python3.14)
candidates+=(python3)
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  path=$(command -v "$c" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "No Python >= 3.12 found. Install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12." >&2
exit 1

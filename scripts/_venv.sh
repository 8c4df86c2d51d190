# Shared by scripts/serve and scripts/test: make .venv, install the pinned dependencies, and
# compile the ingest path's pure modules with mypyc unless their build is current (tracing/native.py).
set -euo pipefail
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "→ creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.sagatrace-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "→ installing dependencies (pinned in pyproject.toml)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test,native]"
  touch "$stamp"
fi
if ! .venv/bin/python scripts/build_native; then
  echo "⚠ compiling the ingest modules failed (above): the Python source runs instead, slower" >&2
fi

# Shared by scripts/serve and scripts/test: make .venv and install the pinned dependencies.
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
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi

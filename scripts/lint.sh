#!/usr/bin/env bash
# Lint and format check (ruff, configured in pyproject.toml). `--fix` applies both instead.
set -euo pipefail
"$(dirname "$0")/setup.sh"
. "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
if [ "${1:-}" = "--fix" ]; then
  ruff check --fix . && ruff format .
else
  ruff check . && ruff format --check .
fi

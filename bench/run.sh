#!/usr/bin/env bash
# The benchmark in one command: ./bench/run.sh [--size small|medium|large]
# Sets up whatever is missing first (like scripts/test.sh), then runs `python -m bench`.
set -euo pipefail
"$(dirname "$0")/../scripts/setup.sh" >&2  # stdout carries the table only
. "$(dirname "$0")/../scripts/env.sh"
cd "$PROJECT_ROOT"
exec python -m bench "$@"

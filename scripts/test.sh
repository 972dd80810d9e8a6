#!/usr/bin/env bash
# The whole test suite on real PostgreSQL, Redis, Airflow and the T2A stand-in over HTTP.
# Sets up whatever is missing first. Extra arguments go to pytest (e.g. -k merge, tests/include).
set -euo pipefail
# Tests keep their own Airflow metadata database; their card store is created per session.
export AIRFLOW_META_DB="${AIRFLOW_META_DB:-airflow_meta_test}"
"$(dirname "$0")/setup.sh"
. "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
mkdir -p artifacts
exec python -m pytest -p no:cacheprovider "$@"  # no path given: testpaths (tests/)

#!/usr/bin/env bash
# The whole test suite on real PostgreSQL, Redis, Airflow and the T2A stand-in over HTTP.
# Sets up whatever is missing first. Extra arguments go to pytest (e.g. -k merge, tests/include).
set -euo pipefail
# Tests keep their own Airflow metadata database; their card store is created per session.
export AIRFLOW_META_DB="${AIRFLOW_META_DB:-airflow_meta_test}"
"$(dirname "$0")/setup.sh"
. "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"

# Only the tests need a browser: the UI trigger and card preview tests drive Debian's Chromium
# (through playwright, which never downloads one), and Korean cards need CJK fonts.
# (grep reads all of fc-list's output: with -q it would stop early, fc-list would die of SIGPIPE
# and pipefail would call the fonts missing, reinstalling on every run.)
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; then
  printf '[test] %s\n' "installing chromium and CJK fonts (browser tests)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

mkdir -p artifacts
exec python -m pytest -p no:cacheprovider "$@"  # no path given: testpaths (tests/)

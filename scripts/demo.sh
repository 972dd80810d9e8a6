#!/usr/bin/env bash
# End to end on local defaults: set up, start the T2A stand-in, seed subscribers, run the DAG
# once with `airflow dags test`, and print what it did plus one card.
# Options via environment: DEMO_SUBSCRIBERS (300), DEMO_PRESET (small), DEMO_DATE (now, UTC).
set -euo pipefail
"$(dirname "$0")/setup.sh"
. "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
mkdir -p "$AIRFLOW_HOME/logs"

port="$(python -c 'from urllib.parse import urlsplit; import os; print(urlsplit(os.environ["T2A_API_URL"]).port)')"
python -m t2a_standin --host 127.0.0.1 --port "$port" --token-env T2A_TOKEN \
  --preset "${DEMO_PRESET:-small}" >"$AIRFLOW_HOME/logs/t2a-standin.log" 2>&1 &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 $standin 2>/dev/null || { cat "$AIRFLOW_HOME/logs/t2a-standin.log"; exit 1; }
  sleep 0.2
done
echo "[demo] T2A stand-in on $T2A_API_URL (log: $AIRFLOW_HOME/logs/t2a-standin.log)"

python -m t2a_standin.seed --subscribers "${DEMO_SUBSCRIBERS:-300}" --preset "${DEMO_PRESET:-small}"

hour=$(date -u +%H); slot=$(printf %02d $(( 10#$hour / 2 * 2 )))  # the latest 2-hourly schedule slot
logical_date="${DEMO_DATE:-$(date -u +%Y-%m-%dT)$slot:00:00+00:00}"
echo "[demo] airflow dags test adaptive_card_pipeline $logical_date (log: $AIRFLOW_HOME/logs/demo-dags-test.log)"
if ! airflow dags test adaptive_card_pipeline "$logical_date" >"$AIRFLOW_HOME/logs/demo-dags-test.log" 2>&1; then
  tail -50 "$AIRFLOW_HOME/logs/demo-dags-test.log"; exit 1
fi
"$PROJECT_ROOT/scripts/acp" status --runs 1
echo "[demo] one card, as the Teams bot reads it:"
"$PROJECT_ROOT/scripts/acp" cards u00001 --page overview

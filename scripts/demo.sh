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
run=""
trap 'kill $standin $run 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 $standin 2>/dev/null || { cat "$AIRFLOW_HOME/logs/t2a-standin.log"; exit 1; }
  sleep 0.2
done
echo "[demo] T2A stand-in on $T2A_API_URL (log: $AIRFLOW_HOME/logs/t2a-standin.log)"

python -m t2a_standin.seed --subscribers "${DEMO_SUBSCRIBERS:-300}" --preset "${DEMO_PRESET:-small}"

hour=$(date -u +%H); slot=$(printf %02d $(( 10#$hour / 2 * 2 )))  # the latest 2-hourly schedule slot
logical_date="${DEMO_DATE:-$(date -u +%Y-%m-%dT)$slot:00:00+00:00}"
run_log="$AIRFLOW_HOME/logs/demo-dags-test.log"
echo "[demo] airflow dags test adaptive_card_pipeline $logical_date (log: $run_log)"
progress() {  # the task `dags test` is on and how many have ended, from its log
  local current done
  current="$(grep -o 'starting task_id=[^ ]* map_index=[-0-9]*' "$run_log" 2>/dev/null | tail -1 \
    | sed -E 's/starting task_id=([^ ]*) map_index=(-1|([0-9]+))$/\1[\3]/; s/\[\]$//')" || true
  done="$(grep -c '\[DAG TEST\] end task' "$run_log" 2>/dev/null)" || true
  printf '[demo] %4ss  %s, %s task(s) done' "$((SECONDS - t0))" "${current:-starting}" "${done:-0}"
}
t0=$SECONDS
airflow dags test adaptive_card_pipeline "$logical_date" >"$run_log" 2>&1 &
run=$!
# Every 5 s the current task: one line redrawn on a terminal, a line each otherwise.
while kill -0 "$run" 2>/dev/null; do
  for _ in 1 2 3 4 5; do kill -0 "$run" 2>/dev/null && sleep 1; done
  if [ -t 1 ]; then printf '\r%s\033[K' "$(progress)"; else printf '%s\n' "$(progress)"; fi
done
[ -t 1 ] && echo
if ! wait "$run"; then
  run=""; tail -50 "$run_log"; exit 1
fi
run=""
echo "[demo] the DAG run ended in $((SECONDS - t0))s"
"$PROJECT_ROOT/scripts/acp" status --runs 1
echo "[demo] one card, as a sales manager reads it in Teams (add --json for the card itself):"
"$PROJECT_ROOT/scripts/acp" cards u00001 --page overview

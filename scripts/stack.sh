#!/usr/bin/env bash
# The whole product as long-running processes on this machine, the way it runs in production:
# CeleryExecutor over Redis, PostgreSQL metadata, one Celery worker per queue (the
# predecessor's two worker pools), Flower, and the T2A stand-in.
#
#   scripts/stack.sh start    # set up, start everything, wait until healthy, print the UI URL
#   scripts/stack.sh status   # each component up/down (exit 3 if any is down)
#   scripts/stack.sh stop     # TERM each component, then KILL its whole session; check nothing is left
#   scripts/stack.sh plan     # what `start` would run, one component a line; starts nothing
#
# The T2A stand-in is started only when T2A_API_URL names it: a URL on this host (127.0.0.1 or
# localhost; the local default is http://127.0.0.1:8765), where it listens on that URL's
# port. Pointed at a real T2A elsewhere, no stand-in is started. `start --standin` insists on
# one (T2A_API_URL must then be local), `start --no-standin` starts none even for a local URL
# (a real T2A tunnelled to this host).
#
# Knobs (environment): STACK_API_PORT (8080), STACK_FLOWER_PORT (5555), STACK_SALES_LOG_PORT
# (8793), STACK_ADAPTIVE_LOG_PORT (8795), STACK_TRIGGER_LOG_PORT (8794), STACK_START_TIMEOUT
# (240 s), MAX_WORKERS_SALES / MAX_WORKERS_ADAPTIVE (3: each worker's concurrency), plus
# everything scripts/env.sh reads. Logs: $AIRFLOW_HOME/logs/stack/<component>.log,
# PIDs (= session and process group ids): $AIRFLOW_HOME/run/<component>.pid. The admin password
# is the "admin" entry of $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE
# (default $AIRFLOW_HOME/simple_auth_manager_passwords.json), written by the api-server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage() { echo "usage: $0 start|plan [--standin|--no-standin] | stop | status" >&2; exit 2; }
action="${1:-}"
standin_choice=auto
case "$action" in
  start | plan)
    case "${2:-}" in
      "") ;;
      --standin) standin_choice=yes ;;
      --no-standin) standin_choice=no ;;
      *) usage ;;
    esac
    [ $# -le 2 ] || usage ;;
  stop | status) [ $# -eq 1 ] || usage ;;
  *) usage ;;
esac
[ "$action" = start ] && "$here/setup.sh"
. "$here/env.sh"
cd "$PROJECT_ROOT"

: "${STACK_API_PORT:=8080}" "${STACK_FLOWER_PORT:=5555}" "${STACK_START_TIMEOUT:=240}"
: "${STACK_SALES_LOG_PORT:=8793}" "${STACK_ADAPTIVE_LOG_PORT:=8795}" "${STACK_TRIGGER_LOG_PORT:=8794}"
: "${MAX_WORKERS_SALES:=3}" "${MAX_WORKERS_ADAPTIVE:=3}"
export MAX_WORKERS_SALES MAX_WORKERS_ADAPTIVE
export AIRFLOW__API__PORT="$STACK_API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$STACK_API_PORT/execution/}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$STACK_TRIGGER_LOG_PORT"
export AIRFLOW__CELERY__FLOWER_HOST="${AIRFLOW__CELERY__FLOWER_HOST:-127.0.0.1}"
# Flower can revoke and rate-limit tasks: never served without its basic auth (setup.sh
# generates it into local.env; `user:password`, as [celery] flower_basic_auth takes it).
if [ "$action" = start ] && [ -z "${AIRFLOW__CELERY__FLOWER_BASIC_AUTH:-}" ]; then
  echo "[stack] AIRFLOW__CELERY__FLOWER_BASIC_AUTH is not set: Flower is never served without authentication" >&2
  exit 2
fi

API="http://127.0.0.1:$STACK_API_PORT"
t2a_where="$(python -c '
import os, urllib.parse as u
url = u.urlsplit(os.environ["T2A_API_URL"])
print(url.hostname or "-", url.port or (443 if url.scheme == "https" else 80))')"
read -r T2A_HOST T2A_PORT <<<"$t2a_where"
LOGS="$AIRFLOW_HOME/logs/stack"
RUN="$AIRFLOW_HOME/run"
HOST="$(python -c 'import socket; print(socket.gethostname())')"

case "$T2A_HOST" in 127.0.0.1 | localhost) t2a_local=1 ;; *) t2a_local=0 ;; esac
case "$standin_choice" in
  yes)
    if [ "$t2a_local" = 0 ]; then
      echo "[stack] --standin: T2A_API_URL=$T2A_API_URL is not on this host (127.0.0.1, localhost)" >&2; exit 2
    fi
    STANDIN=1 ;;
  no) STANDIN=0 ;;
  auto) STANDIN="$t2a_local" ;;
esac
# Start order; stop goes the other way round in two phases (see stop).
COMPONENTS=(api-server scheduler dag-processor triggerer worker-sales worker-adaptive flower)
[ "$STANDIN" = 1 ] && COMPONENTS=(t2a-standin "${COMPONENTS[@]}")
# `status` reports what the running stack was started with (start records it).
if [ "$action" = status ] && [ -s "$RUN/components" ]; then
  read -r -a COMPONENTS < "$RUN/components"
fi

log() { printf '[stack] %s\n' "$*" >&2; }
pidfile() { echo "$RUN/$1.pid"; }
# Each component is a session leader (setsid). Task processes move to process groups of their
# own but stay in the session, so the session is what identifies everything a component runs.
session_pids() { ps -eo pid=,sid= | awk -v sids=" $* " 'index(sids, " " $2 " ") { print $1 }'; }
is_up() { local f; f="$(pidfile "$1")"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

command_of() {
  case "$1" in
    t2a-standin) echo python -m t2a_standin --host 127.0.0.1 --port "$T2A_PORT" --token-env T2A_TOKEN ;;
    api-server) echo airflow api-server --port "$STACK_API_PORT" ;;
    scheduler | dag-processor | triggerer) echo airflow "$1" ;;
    worker-sales) echo airflow celery worker --queues default,sales_org \
      --concurrency "$MAX_WORKERS_SALES" --celery-hostname "sales@%h" ;;
    worker-adaptive) echo airflow celery worker --queues adaptive_card \
      --concurrency "$MAX_WORKERS_ADAPTIVE" --celery-hostname "adaptive@%h" ;;
    flower) echo airflow celery flower --port "$STACK_FLOWER_PORT" ;;
  esac
}

launch() {  # launch COMPONENT [VAR=value ...]: own session/process group, pid file, log file
  local name="$1"; shift
  local out="$LOGS/$name.log"
  [ -f "$out" ] && mv -f "$out" "$out.prev"
  # Processes of this stack also carry the marker ADAPTIVE_CARD_STACK (this script's own
  # children do not): `stop` finds any that left its session, unless it rewrote its environ.
  # shellcheck disable=SC2046
  env ADAPTIVE_CARD_STACK="$AIRFLOW_HOME" "$@" setsid bash -c 'echo $$ > "$0"; cd "${STACK_WORKDIR:-.}"; exec "$@"' "$(pidfile "$name")" $(command_of "$name") \
    >"$out" 2>&1 </dev/null &
  for _ in $(seq 50); do [ -s "$(pidfile "$name")" ] && break; sleep 0.1; done
  log "started $name (pid $(cat "$(pidfile "$name")"), log $out)"
}

died() {  # fail the start if a component exited, with its log's tail
  local name
  for name in "$@"; do
    if ! is_up "$name"; then
      log "$name exited during start; last lines of $LOGS/$name.log:"
      tail -n 40 "$LOGS/$name.log" >&2
      return 0
    fi
  done
  return 1
}

wait_until() {  # wait_until WHAT DEADLINE CHECK... ; watches every started component meanwhile
  local what="$1" deadline="$2"; shift 2
  until "$@"; do
    if died "${started[@]}"; then stop_all; exit 1; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out waiting for $what (STACK_START_TIMEOUT=${STACK_START_TIMEOUT}s)"; stop_all; exit 1
    fi
    sleep 1
  done
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null; }
http_answers() { curl -sS -o /dev/null --max-time 5 "$1" 2>/dev/null; }

jobs_healthy_since() {  # scheduler, dag-processor and triggerer heartbeats from THIS start
  curl -fsS --max-time 5 "$API/api/v2/monitor/health" 2>/dev/null | python -c '
import json, sys
from datetime import datetime
since = float(sys.argv[1])
health = json.load(sys.stdin)
def fresh(name):
    part = health.get(name) or {}
    beat = part.get(f"latest_{name}_heartbeat")
    return part.get("status") == "healthy" and beat and datetime.fromisoformat(beat).timestamp() >= since
sys.exit(0 if all(fresh(n) for n in ("scheduler", "dag_processor", "triggerer")) else 1)
' "$1"
}

celery_ping() {  # exit 0 once both workers answer a broadcast ping (one import, bounded loop)
  python - "$1" "sales@$HOST" "adaptive@$HOST" <<'PY' >/dev/null 2>&1
import sys, time
from airflow.providers.celery.executors.celery_executor import app
deadline, wanted = float(sys.argv[1]), {f"celery@{n}" if "@" not in n else n for n in sys.argv[2:]}
while time.time() < deadline:
    answered = {name for reply in app.control.ping(destination=sorted(wanted), timeout=1.0) for name in reply}
    if wanted <= answered:
        sys.exit(0)
    time.sleep(1)
sys.exit(1)
PY
}

start_all() {
  local name busy=()
  for name in "${COMPONENTS[@]}"; do
    if is_up "$name"; then log "$name is already running (scripts/stack.sh stop first)"; exit 1; fi
  done
  local p ports=("api-server:$STACK_API_PORT" "flower:$STACK_FLOWER_PORT" \
      "worker-sales log server:$STACK_SALES_LOG_PORT" "worker-adaptive log server:$STACK_ADAPTIVE_LOG_PORT" \
      "triggerer log server:$STACK_TRIGGER_LOG_PORT")
  [ "$STANDIN" = 1 ] && ports=("t2a-standin:$T2A_PORT" "${ports[@]}")
  for p in "${ports[@]}"; do
    port_busy "${p##*:}" && busy+=("${p%:*} port ${p##*:}")
  done
  if [ ${#busy[@]} -gt 0 ]; then
    log "ports already in use: ${busy[*]} (another stack? set STACK_*_PORT / T2A_API_URL)"; exit 1
  fi
  mkdir -p "$LOGS" "$RUN"
  rm -f "$RUN"/*.pid
  echo "${COMPONENTS[*]}" > "$RUN/components"
  local t0 deadline
  t0="$(date +%s)"; deadline=$((t0 + STACK_START_TIMEOUT))
  started=()

  if [ "$STANDIN" = 1 ]; then
    launch t2a-standin; started+=(t2a-standin)
    wait_until "the T2A stand-in on port $T2A_PORT" "$deadline" http_answers "http://127.0.0.1:$T2A_PORT/"
  else
    log "T2A_API_URL=$T2A_API_URL: using that T2A, no stand-in started"
  fi
  # Workers and the scheduler talk to the api-server: it comes first and must answer.
  launch api-server; started+=(api-server)
  wait_until "the api-server's execution API" "$deadline" http_ok "$API/execution/health"
  for name in scheduler dag-processor triggerer flower; do launch "$name"; started+=("$name"); done
  # Each worker in a working and temporary directory of its own, as on a host of its own: what
  # tasks hand each other goes through STAGING_URL, never through a worker's local files.
  local worker work
  for worker in "worker-sales:$STACK_SALES_LOG_PORT" "worker-adaptive:$STACK_ADAPTIVE_LOG_PORT"; do
    work="$AIRFLOW_HOME/work/${worker%%:*}"; mkdir -p "$work"
    launch "${worker%%:*}" AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${worker##*:}" STACK_WORKDIR="$work" TMPDIR="$work"
    started+=("${worker%%:*}")
  done

  wait_until "scheduler, dag-processor and triggerer heartbeats" "$deadline" jobs_healthy_since "$t0"
  wait_until "both Celery workers to answer a ping" "$deadline" celery_ping "$deadline"
  wait_until "Flower" "$deadline" http_ok "http://127.0.0.1:$STACK_FLOWER_PORT/healthcheck"
  log "healthy in $(( $(date +%s) - t0 ))s"
  cat <<EOF
Airflow UI:  $API/  (user admin; password: the "admin" entry of $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE)
Flower:      http://$AIRFLOW__CELERY__FLOWER_HOST:$STACK_FLOWER_PORT/  (user ${AIRFLOW__CELERY__FLOWER_BASIC_AUTH%%:*}; password: AIRFLOW__CELERY__FLOWER_BASIC_AUTH in $AIRFLOW_HOME/local.env)
T2A:         $T2A_API_URL ($([ "$STANDIN" = 1 ] && echo stand-in || echo "external; no stand-in started"))
Workers:     sales@$HOST (queues default,sales_org; concurrency $MAX_WORKERS_SALES), adaptive@$HOST (adaptive_card; $MAX_WORKERS_ADAPTIVE)
Logs:        $LOGS/   Stop: scripts/stack.sh stop
EOF
}

stop_sessions() {  # TERM the listed components' process groups, wait up to $1 s, KILL their sessions
  local grace="$1"; shift
  local name f sids=()
  for name in "$@"; do
    f="$(pidfile "$name")"
    [ -f "$f" ] || continue
    sids+=("$(cat "$f")")
    kill -TERM -- "-$(cat "$f")" 2>/dev/null || true  # Celery: warm shutdown, running tasks finish
  done
  [ ${#sids[@]} -gt 0 ] || return 0
  local waited=0
  while [ -n "$(session_pids "${sids[@]}")" ] && [ "$waited" -lt $((grace * 10)) ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  local rest
  rest="$(session_pids "${sids[@]}")"
  if [ -n "$rest" ]; then
    log "still running ${grace}s after TERM, KILL: $(echo $rest)"
    # shellcheck disable=SC2086
    kill -KILL $rest 2>/dev/null || true
  fi
}

leftovers() {  # any process still in one of this stack's sessions or carrying its marker
  local sids=() f
  for f in "$RUN"/*.pid; do [ -f "$f" ] && sids+=("$(cat "$f")"); done
  { [ ${#sids[@]} -gt 0 ] && session_pids "${sids[@]}"
    grep -lzxF "ADAPTIVE_CARD_STACK=$AIRFLOW_HOME" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
  } | sort -un || true
}

stop_all() {
  # Phase 1: everything that uses the api-server (workers finish their running task first).
  stop_sessions 30 flower worker-adaptive worker-sales triggerer dag-processor scheduler
  # Phase 2: what they used.
  stop_sessions 15 api-server t2a-standin
  local stray
  stray="$(leftovers)"
  if [ -n "$stray" ]; then
    log "killing processes of this stack outside their process groups: $(echo $stray)"
    # shellcheck disable=SC2086
    kill -KILL $stray 2>/dev/null || true
    sleep 0.5
    stray="$(leftovers)"
    if [ -n "$stray" ]; then log "still running after KILL: $(echo $stray)"; return 1; fi
  fi
  rm -f "$RUN"/*.pid "$RUN/components"
  log "stopped; no process of this stack ($AIRFLOW_HOME) is left"
}

status_all() {
  local name down=0
  for name in "${COMPONENTS[@]}"; do
    if is_up "$name"; then printf '%-16s up    (pid %s)\n' "$name" "$(cat "$(pidfile "$name")")"
    else printf '%-16s down\n' "$name"; down=1; fi
  done
  if is_up api-server; then
    printf 'health: %s\n' "$(curl -fsS --max-time 5 "$API/api/v2/monitor/health" 2>/dev/null || echo unreachable)"
  fi
  return $((down * 3))
}

plan() {  # what start would run: "<component> <command>" a line (T2A_API_URL, flags and knobs applied)
  local name
  for name in "${COMPONENTS[@]}"; do printf '%s %s\n' "$name" "$(command_of "$name")"; done
}

case "$action" in
  start) start_all ;;
  plan) plan ;;
  stop) stop_all ;;
  status) status_all ;;
esac

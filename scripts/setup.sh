#!/usr/bin/env bash
# Make a fresh machine ready: services up, virtualenv with the pinned packages, local
# secrets, both databases, Airflow's metadata schema, the T2A fetch pool and the card-store schema.
# Idempotent and quick when nothing changed; every other script calls it first.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Services this project needs and that may not be running (CI starts from nothing).
if ! pg_isready -q -h "$DB_HOST" -p "$DB_PORT"; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h "$DB_HOST" -p "$DB_PORT" && break; sleep 1; done
fi
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# (The browser the UI and preview tests drive is installed by scripts/test.sh, not here: the
# demo and the stack need none.)

# 2. Virtualenv with exactly the pinned packages, the test tools included (re-installed only when the pins change).
stamp="$VENV/.installed-$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  t0=$SECONDS
  log "installing packages into $VENV (a minute or two on a fresh machine)"
  # On a terminal pip and uv draw their progress bars; in CI and logs they stay quiet.
  quiet=(-q); [ -t 2 ] && quiet=()
  [ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  "$VENV/bin/pip" install "${quiet[@]}" uv==0.13.9
  "$VENV/bin/uv" pip install "${quiet[@]}" --python "$VENV/bin/python" --compile-bytecode \
    -r requirements-dev.txt -c constraints.txt
  rm -f "$VENV"/.installed-*; touch "$stamp"
  log "packages installed in $((SECONDS - t0))s"
fi

# 3. Local secrets, generated once per checkout (each one missing, so a new kind reaches an
#    old checkout too), never committed.
mkdir -p "$AIRFLOW_HOME"
(umask 077; "$VENV/bin/python" - "$AIRFLOW_HOME/local.env" <<'PY'
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

path = Path(sys.argv[1])
have = {line.split("=", 1)[0] for line in path.read_text().splitlines()} if path.exists() else set()
make = {
    "AIRFLOW__CORE__FERNET_KEY": lambda: Fernet.generate_key().decode(),
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: secrets.token_urlsafe(64),
    "AIRFLOW__API__SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "T2A_TOKEN": lambda: secrets.token_urlsafe(24),
    # Flower's basic auth (user:password); scripts/stack.sh never starts Flower without it.
    "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": lambda: f"flower:{secrets.token_urlsafe(24)}",
}
missing = [name for name in make if name not in have]
if missing:
    with path.open("a") as env:
        env.writelines(f"{name}={make[name]()}\n" for name in missing)
    print(f"[setup] generated {', '.join(missing)} in {path}", file=sys.stderr)
PY
)
. "$PROJECT_ROOT/scripts/env.sh"   # again, now with the secrets and the venv

# 4. Databases and schemas.
if ! psql -w -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -tAc "SELECT 1" >/dev/null; then
  log "cannot connect to PostgreSQL as $DB_USER at $DB_HOST:$DB_PORT (password required? set DB_PASSWORD)"
  exit 1
fi
for db in "$AIRFLOW_META_DB" "$DB_NAME"; do
  if ! psql -w -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    log "creating database $db"
    createdb -w -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" "$db"
  fi
done
log "airflow db migrate"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
# The pool that caps T2A fetches across all runs (include/config.py T2A_POOL), MAX_WORKERS_SALES
# slots; set on every call, so a changed MAX_WORKERS_SALES takes effect. A fetch_org task whose
# pool is missing is never scheduled: whatever migrates a metadata database sets it too.
read -r pool slots < <(python -c 'from include.config import T2A_POOL, settings; print(T2A_POOL, settings().max_workers_sales)')
log "airflow pool $pool: $slots slots"
airflow pools set "$pool" "$slots" "T2A org fetches in flight across all runs (MAX_WORKERS_SALES)" \
  >"$AIRFLOW_HOME/pools-set.log" 2>&1 || { cat "$AIRFLOW_HOME/pools-set.log"; exit 1; }
log "card-store migrations"
python -m include.card_store migrate

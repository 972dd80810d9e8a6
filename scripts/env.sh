# Local defaults for every script (sourced, never executed). Anything already set in the
# environment wins, so the same scripts serve a laptop, CI and a real deployment.
# The predecessor's variables (DB_*, REDIS_URL, T2A_API_URL, CRON_SPEC, MAX_WORKERS_*) are
# honoured and turned into the Airflow connections the DAG reads.

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT
export PYTHONPATH="$PROJECT_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export VENV="${VENV:-$PROJECT_ROOT/.venv}"
export PATH="$VENV/bin:$PATH"

# Airflow: the repo's airflow.cfg, runtime state under .airflow/ (git-ignored).
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PROJECT_ROOT/.airflow}"
export AIRFLOW_CONFIG="${AIRFLOW_CONFIG:-$PROJECT_ROOT/airflow.cfg}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$PROJECT_ROOT/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$PROJECT_ROOT/plugins}"

# SimpleAuthManager writes the generated UI/API password for user admin here.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json}"

# PostgreSQL: one server, two databases — Airflow's metadata and the card store.
: "${DB_HOST:=127.0.0.1}" "${DB_PORT:=5432}" "${DB_USER:=postgres}" "${DB_NAME:=adaptive_card_db}"
: "${AIRFLOW_META_DB:=airflow_meta}"
export DB_HOST DB_PORT DB_USER DB_NAME AIRFLOW_META_DB
# psql, createdb and the tests' own connections (any libpq client) read PGPASSWORD.
if [ -n "${DB_PASSWORD:-}" ]; then
  export PGPASSWORD="$DB_PASSWORD"
  # A password holding @ : / # ? must be URL-encoded inside the SQLAlchemy URLs below.
  _db_password_url="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$DB_PASSWORD")"
fi
_db_auth="$DB_USER${_db_password_url:+:$_db_password_url}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg://$_db_auth@$DB_HOST:$DB_PORT/$AIRFLOW_META_DB}"

# Redis: Celery's broker and the change-event stream.
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export AIRFLOW__CELERY__BROKER_URL="${AIRFLOW__CELERY__BROKER_URL:-$REDIS_URL}"
export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+postgresql+psycopg://$_db_auth@$DB_HOST:$DB_PORT/$AIRFLOW_META_DB}"
unset _db_auth _db_password_url

# Staging: one place every process of this host reads and writes (workers run in directories
# of their own: scripts/stack.sh). Workers on several hosts need shared storage: s3://bucket/prefix
# (docs/deployment.md).
export STAGING_URL="${STAGING_URL:-file://${TMPDIR:-/tmp}/adaptive_card_pipeline}"

# T2A: the local stand-in unless T2A_API_URL points elsewhere.
export T2A_API_URL="${T2A_API_URL:-http://127.0.0.1:8765}"

# Local secrets (fernet key, JWT secret, T2A token) are generated once per checkout into
# .airflow/local.env by scripts/setup.sh; real deployments set them in the environment.
if [ -f "$AIRFLOW_HOME/local.env" ]; then
  set -a; . "$AIRFLOW_HOME/local.env"; set +a
fi

# Airflow connections from the variables above (explicit AIRFLOW_CONN_* win).
if [ -x "$VENV/bin/python" ]; then
  eval "$("$VENV/bin/python" -m include.connections_env)"
fi

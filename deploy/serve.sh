#!/bin/sh
# `make serve`: a scaled pilot on this machine. Migrates PostgreSQL, then runs the huey job
# consumer (`flask jobs run`) and gunicorn (deploy/gunicorn.conf.py) side by side until Ctrl+C
# or SIGTERM, which stops both gracefully. Settings: DATABASE_URL, REDIS_URL (required),
# instance/config.py (see deploy/config.sample.py), SBWEB_* variables, WEB_CONCURRENCY, SBWEB_BIND.
set -eu
BIN=${BIN:-.venv/bin}
case "${DATABASE_URL:-}" in
  postgresql*) ;;
  *) echo "make serve needs DATABASE_URL=postgresql+psycopg://USER@HOST:5432/DB (make run is the SQLite pilot)" >&2
     exit 2 ;;
esac
case "${REDIS_URL:-}" in
  redis://*|rediss://*|unix://*) ;;
  *) echo "make serve needs REDIS_URL=redis://HOST:6379/N for the jobs" >&2; exit 2 ;;
esac
export FLASK_APP=app
# Prometheus' multiprocess mode: gunicorn's workers and the consumer write their counters here,
# emptied at each start (sbweb/metrics.py).
PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${SBWEB_INSTANCE_PATH:-instance}/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p -m 700 "$PROMETHEUS_MULTIPROC_DIR"
export PROMETHEUS_MULTIPROC_DIR

"$BIN/flask" db upgrade
"$BIN/flask" jobs run --workers 2 &
jobs=$!
"$BIN/gunicorn" -c deploy/gunicorn.conf.py app:app &
web=$!

stop() {
  kill -TERM "$web" 2>/dev/null || true   # gunicorn: workers finish their requests
  kill -INT "$jobs" 2>/dev/null || true   # huey: tasks in hand finish
}
trap stop INT TERM
# Whichever ends first (a signal, gunicorn, or the consumer) ends the other too.
while kill -0 "$web" 2>/dev/null && kill -0 "$jobs" 2>/dev/null; do
  sleep 1
done
stop
status=0
wait "$web" || status=$?
wait "$jobs" || true
exit "$status"

#!/usr/bin/env bash
# Runs the image and the compose stack for real and checks them (make docker-test).
# Needs a Docker engine with host networking, e.g. ../shared/tools/docker-engine.sh up.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-rnn-serve:cpu}
PORT=18080
NAME=rnn-serve-test
GRACE=30
COMPOSE=(docker compose -f docker-compose.yml -f docker-compose.ci.yml)
log() { printf '[docker-test] %s\n' "$*"; }

wait_healthy() {
  for _ in $(seq 1 90); do
    status=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null || echo missing)
    [ "$status" = healthy ] && return 0
    [ "$status" = unhealthy ] && break
    sleep 1
  done
  docker logs "$1" | tail -20
  log "container $1 is $status"; return 1
}

cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; "${COMPOSE[@]}" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f", $1/1e6}'; }
log "image size: $(size "$IMAGE") MB, of which the base image python:3.11-slim is $(size python:3.11-slim) MB"
docker run -d --name "$NAME" --network host --read-only --tmpfs /tmp \
  -e RNN_SERVE_PORT=$PORT -e RNN_SERVE_GRACEFUL_TIMEOUT=$GRACE "$IMAGE" >/dev/null
wait_healthy "$NAME"
python3 scripts/smoke.py "http://127.0.0.1:$PORT"

uid=$(docker exec "$NAME" python -c 'import os; print(os.getuid())')
[ "$uid" != 0 ] || { log "the server runs as root"; exit 1; }
log "runs as uid $uid"
docker run --rm --network host --entrypoint sh "$IMAGE" -c '! python -c "import torch" 2>/dev/null' \
  || { log "torch is in the serving image"; exit 1; }

docker rm -f "$NAME" >/dev/null

# SIGTERM under load, in the container: a heavy model (mounted read-only), one long request in
# flight and a load behind it; every request the server read must be answered 200 and the
# container must exit 0 (tests/support/sigterm_load.py, as the suite does with a process).
heavy=$(mktemp -d)
.venv/bin/python -c "import sys; from pathlib import Path; from tests.support.models import write_random_model; write_random_model(Path(sys.argv[1]) / 'heavy.onnx', 1, [('rnn', 768)], [1])" "$heavy"
chmod 755 "$heavy" && chmod 644 "$heavy"/*
docker run -d --name "$NAME" --network host --read-only --tmpfs /tmp -v "$heavy:/models:ro" \
  -e RNN_SERVE_MODEL_DIR=/models -e RNN_SERVE_PROVIDER=cpu -e RNN_SERVE_MAX_QUEUE_MS=60000 \
  -e RNN_SERVE_PORT=$PORT -e RNN_SERVE_GRACEFUL_TIMEOUT=$GRACE "$IMAGE" >/dev/null
wait_healthy "$NAME"
started=$SECONDS
.venv/bin/python -m tests.support.sigterm_load "http://127.0.0.1:$PORT" "$NAME" "$GRACE"
log "SIGTERM under load: exited 0 in $((SECONDS - started)) s"
docker rm "$NAME" >/dev/null
rm -rf "$heavy"

scripts/engine.sh check-compose -f docker-compose.yml -f docker-compose.ci.yml
"${COMPOSE[@]}" up -d --wait
python3 scripts/smoke.py "http://127.0.0.1:$PORT"
"${COMPOSE[@]}" down
log "container and compose checks passed"

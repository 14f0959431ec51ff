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

started=$SECONDS
docker stop -t $((GRACE + 5)) "$NAME" >/dev/null   # SIGTERM, then SIGKILL after the grace period
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { docker logs "$NAME" | tail -20; log "exit code $code after SIGTERM"; exit 1; }
log "SIGTERM: exited 0 in $((SECONDS - started)) s"
docker rm "$NAME" >/dev/null

scripts/engine.sh check-compose -f docker-compose.yml -f docker-compose.ci.yml
"${COMPOSE[@]}" up -d --wait
python3 scripts/smoke.py "http://127.0.0.1:$PORT"
"${COMPOSE[@]}" down
log "container and compose checks passed"

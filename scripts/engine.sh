#!/usr/bin/env bash
# Calls the workplace's loopback Docker engine script (../shared/tools/docker-engine.sh) with
# MIRROR set from this machine's apt sources: without /etc/apt/sources.list, the script's own
# lookup fails under `set -o pipefail` before it does anything.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -v -- '-security$' | head -n 1 || true)
  export MIRROR
fi
exec bash "$here/../shared/tools/docker-engine.sh" "$@"

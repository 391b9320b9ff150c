#!/usr/bin/env bash
# The README's first command: build the environment, index corpus/ if missing or stale, then start
# the services in the background and stay in the foreground; Ctrl-C stops everything it started.
#   HTTP service  http://127.0.0.1:8000  (docs at /docs)   log .logs/api.log, PID .logs/api.pid
#   Browser UI    http://127.0.0.1:8501  (Streamlit)       log .logs/ui.log,  PID .logs/ui.pid
# Host and ports follow the settings (CRPS_QA_API_HOST, CRPS_QA_API_PORT, CRPS_QA_UI_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/crps-qa index --if-stale

mkdir -p .logs
names=()

stop_all() {
  trap - EXIT INT TERM
  for name in "${names[@]}"; do
    pid="$(cat ".logs/$name.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait || true
  for name in "${names[@]}"; do rm -f ".logs/$name.pid"; done
  echo "start: stopped ${names[*]:-nothing}" >&2
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

# launch NAME COMMAND...: run COMMAND in the background, output to .logs/NAME.log, PID to .logs/NAME.pid
launch() {
  local name="$1"
  shift
  "$@" >".logs/$name.log" 2>&1 &
  echo "$!" >".logs/$name.pid"
  names+=("$name")
}

# wait_ready NAME URL: until URL answers 2xx; fail (showing the log) if NAME exits or 180 s pass
wait_ready() {
  local name="$1" url="$2" pid
  pid="$(cat ".logs/$name.pid")"
  for _ in $(seq 180); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start: $name exited; last lines of .logs/$name.log:" >&2
      tail -n 20 ".logs/$name.log" >&2
      return 1
    fi
    if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "start: $name did not answer $url within 180 s; see .logs/$name.log" >&2
  return 1
}

api="http://${CRPS_QA_API_HOST:-127.0.0.1}:${CRPS_QA_API_PORT:-8000}"
launch api .venv/bin/crps-qa serve
wait_ready api "$api/ready"
echo "start: HTTP service ready at $api (API docs: $api/docs, log: .logs/api.log)" >&2
echo "start: try  curl '$api/search?q=What+infusion+rate+of+ketamine+was+used&k=3'" >&2

ui="http://${CRPS_QA_API_HOST:-127.0.0.1}:${CRPS_QA_UI_PORT:-8501}"
launch ui env CRPS_QA_API_URL="$api" .venv/bin/streamlit run ui/app.py --server.headless true \
  --server.address "${CRPS_QA_API_HOST:-127.0.0.1}" --server.port "${CRPS_QA_UI_PORT:-8501}" \
  --browser.gatherUsageStats false --client.toolbarMode viewer
wait_ready ui "$ui/_stcore/health"
echo "start: browser UI ready at $ui (log: .logs/ui.log)" >&2

echo "start: running; press Ctrl-C to stop" >&2
wait -n  # until Ctrl-C, or until a service exits (the EXIT trap then stops the others)

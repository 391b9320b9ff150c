#!/usr/bin/env bash
# The README's second command: build the environment, then run the whole test suite.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not browser" tests/test_chunk.py   # extra pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
# the ray extra too: tests/test_ray_build.py builds on a local Ray cluster (in a loopback-only namespace)
bash scripts/setup.sh test,ray
# Browser tests drive Debian's Chromium (never a downloaded browser build).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "test: installing chromium from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"

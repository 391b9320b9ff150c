#!/usr/bin/env bash
# Create or update .venv/ with everything crps-qa needs. Idempotent and quick when nothing changed.
#   bash scripts/setup.sh          # runtime only
#   bash scripts/setup.sh test     # plus test tools (pytest, hypothesis, schemathesis, playwright, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)" >&2
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    echo "setup: python venv module missing; installing python3-venv" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi

spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.crps-qa-installed-${extras:-runtime}"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch comes first and pinned: a bare "torch" requirement would pull a
# multi-GB CUDA build from the registry.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e "$spec"
echo "$want" > "$stamp"
echo "setup: .venv ready ($spec)" >&2

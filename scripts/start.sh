#!/usr/bin/env bash
# The README's first command: build the environment, index corpus/ if missing or stale, then run
# a sample search to show it works.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/crps-qa index --if-stale
.venv/bin/crps-qa search "What infusion rate of ketamine was used for CRPS?" --k 3

#!/bin/sh
# Run a command where Ray is safe on these machines (issue 15): a network namespace with only
# loopback, HOME a fresh folder with ray_bootstrap_config.yaml = {}, usage stats off and pointed at
# loopback. A process namespace of its own too, so the final `ray stop` stops every Ray process the
# command started and nothing else on the machine.
#   sh scripts/ray_sandbox.sh python -m crps_qa.cli index --ray local
# Needs root (or user namespaces) and `ip`; the ray command is looked up next to $PYTHON or on PATH.
set -eu
home=$(mktemp -d "${TMPDIR:-/tmp}/crps-qa-ray.XXXXXX")
echo '{}' > "$home/ray_bootstrap_config.yaml"
if [ -n "${PYTHON:-}" ]; then PATH="$(dirname "$PYTHON"):$PATH"; fi
export HOME="$home" PATH RAY_USAGE_STATS_REPORT_URL=http://127.0.0.1:9/ RAY_USAGE_STATS_ENABLED=0 \
  RAY_AUTH_MODE=disabled RAY_TMPDIR="$home/r"
status=0
unshare -n -p -f --mount-proc sh -c 'ip link set lo up && { "$@"; status=$?; ray stop --force >/dev/null 2>&1; exit $status; }' \
  sh "$@" || status=$?
rm -rf "$home"
exit $status

#!/usr/bin/env bash
# Sets up (packages, npm ci, build) and runs the whole test suite with ava on real FUSE mounts.
# Run as root:
#
#   sudo bash scripts/test.sh [ava arguments, e.g. dist/test/cli-daemon.test.js --match '*kill*']
#
# The last line printed is always the count: "N passed, N failed" (", N skipped" when some were
# skipped or todo). Exit status: 0 when nothing failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "$(id -u)" -ne 0 ]; then
  echo "test: run as root (FUSE mounts, other uids): sudo bash scripts/test.sh" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

if ! DMAPIFS_WITH_TEST_TOOLS=1 bash scripts/setup.sh </dev/null; then
  echo "test: set-up failed (see above)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

log="$(mktemp /tmp/dmapifs-test.XXXXXX.tap)"
trap 'rm -f "$log"' EXIT

dmapifs_mounts() { awk '$3 == "fuse.dmapifs" { print $2 }' /proc/mounts | sort; }
before="$(dmapifs_mounts)"

echo "[test] running ava (TAP output; details in the failing entries)"
start=$(date +%s)
node_modules/.bin/ava --tap "$@" </dev/null 2>&1 | tee "$log"
ava_rc=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - start ))

# Count from the TAP lines: "ok N - title", "ok N - title # SKIP", "not ok N - title",
# "not ok N - title # TODO". Crashes and timeouts of a test file show up as "not ok" lines too.
passed=$(grep -Ec '^ok [0-9]+' "$log" || true)
skipped_ok=$(grep -Ec '^ok [0-9]+.*# SKIP' "$log" || true)
failed=$(grep -Ec '^not ok [0-9]+' "$log" || true)
todo=$(grep -Ec '^not ok [0-9]+.*# TODO' "$log" || true)
passed=$(( passed - skipped_ok ))
failed=$(( failed - todo ))
skipped=$(( skipped_ok + todo ))
if [ "$ava_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "[test] ava exited with status $ava_rc without a failing test line: counted as a failure" >&2
  failed=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "[test] no test ran" >&2
  failed=1
fi

leftover="$(comm -13 <(echo "$before") <(dmapifs_mounts) | grep . || true)"
[ -z "$leftover" ] || echo "[test] warning: mounts left behind by the tests: $(echo $leftover)" >&2
echo "[test] ava finished in ${elapsed}s (exit status $ava_rc)"

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]

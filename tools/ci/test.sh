#!/usr/bin/env bash
# Runs every project's lint, typecheck, test and build targets (what CI runs), then prints one closing
# line with the test counts summed over all projects. A skipped or todo test fails the run: a test that
# does not run hides whatever it would have found.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/ci/setup.sh
export NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true FORCE_COLOR=0
# The module-boundaries lint rule reads Nx's cached project graph; compute it first so the rule never skips.
npx nx show projects > /dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
npx nx run-many -t lint typecheck test build --outputStyle=stream --parallel=1 2>&1 | tee "$log" || status=$?
passed=$( (grep -oE '\b[0-9]+ tests? passed' "$log" || true) | awk '{s+=$1} END {print s+0}')
failed=$( (grep -oE '\b[0-9]+ (tests? failed|known failures?|uncaught exceptions?|unhandled rejections?)' "$log" || true) | awk '{s+=$1} END {print s+0}')
skipped=$( (grep -oE '\b[0-9]+ tests? skipped' "$log" || true) | awk '{s+=$1} END {print s+0}')
todo=$( (grep -oE '\b[0-9]+ tests? todo' "$log" || true) | awk '{s+=$1} END {print s+0}')
echo
echo "todo tests: ${todo}"
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
if [ "$skipped" -gt 0 ] || [ "$todo" -gt 0 ]; then
  echo "skipped or todo tests (every test must run):" >&2
  grep -E '^\S*:?\s*- \[(skip|todo)\]' "$log" >&2 || true
  exit 1
fi
exit "$status"

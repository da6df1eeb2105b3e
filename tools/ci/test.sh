#!/usr/bin/env bash
# Runs every project's lint, typecheck, test and build targets (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/ci/setup.sh
export NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true
npx nx run-many -t lint typecheck test build --outputStyle=stream --parallel=1

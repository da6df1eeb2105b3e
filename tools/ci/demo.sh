#!/usr/bin/env bash
# The main job: an end-to-end demo on the embedded defaults (swtpm, EK + certificate, AK, credential, quote).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/ci/setup.sh
npx node tools/demo/src/main.ts

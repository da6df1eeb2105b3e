#!/usr/bin/env bash
# Installs what Tessera needs on a fresh Debian machine: the Debian packages (swtpm, swtpm-tools,
# tpm2-tools, socat, openssl; curl, jq and xxd for the tpm2-tools host script; python3-pykmip and postgresql for the
# KMIP interop and multi-node tests; qemu-system-x86, qemu-utils and ovmf for a VM booted against a vTPM and its disks;
# the deployment test
# installs nginx itself)
# when missing, then the npm packages (which bring Node 24).
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
for pair in swtpm:/usr/bin/swtpm swtpm-tools:/usr/bin/swtpm_setup tpm2-tools:/usr/bin/tpm2_checkquote socat:/usr/bin/socat openssl:/usr/bin/openssl python3-pykmip:/usr/bin/pykmip-server curl:/usr/bin/curl jq:/usr/bin/jq xxd:/usr/bin/xxd; do
  [ -x "${pair#*:}" ] || need+=("${pair%%:*}")
done
ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
# QEMU without its recommends (no desktop and audio stacks): about 20 s.
if [ ! -x /usr/bin/qemu-system-x86_64 ] || [ ! -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ ! -x /usr/bin/qemu-img ]; then
  echo "setup: installing Debian packages: qemu-system-x86 qemu-utils ovmf"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends qemu-system-x86 qemu-utils ovmf
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi
node_modules/.bin/node --version

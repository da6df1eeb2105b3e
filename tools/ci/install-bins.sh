#!/bin/sh
# Puts tactl, kmipd and every other launcher under apps/*/bin/ on PATH without npx: symlinks them into a
# directory, by default ~/.local/bin (or "$PREFIX/bin"), or the one given:
#
#   npm run install-bins                      # ~/.local/bin
#   npm run install-bins -- /usr/local/bin    # system-wide (as root)
#
# The launchers run on this repository's Node 24 (node_modules/.bin/node) whatever `node` is on PATH, so the
# links keep working from any directory; they stop working if the repository moves (run this again).
set -eu
self=$(readlink -f -- "$0")
root=${self%/tools/ci/*}
dest=${1:-${PREFIX:-$HOME/.local}/bin}
mkdir -p -- "$dest"
for launcher in "$root"/apps/*/bin/*; do
  name=${launcher##*/}
  case "$name" in *.*) continue ;; esac
  [ -f "$launcher" ] && [ -x "$launcher" ] || continue
  ln -sfn -- "$launcher" "$dest/$name"
  echo "install-bins: $dest/$name -> $launcher"
done
case ":$PATH:" in
  *":$dest:"*) ;;
  *) echo "install-bins: $dest is not on PATH; add it, e.g. export PATH=\"$dest:\$PATH\"" ;;
esac

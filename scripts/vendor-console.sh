#!/usr/bin/env bash
# Re-vendors the console's front-end libraries from the npm registry into basalt/console/static/vendor/.
# Run by a maintainer when upgrading; nothing runs at install time (the files are committed and shipped as
# package data). The one edit: hooks imports the bare specifier "preact", which a browser can resolve only through
# an import map (an inline script, which the console's CSP forbids), so it is pointed at the file beside it.
set -euo pipefail
PREACT=11.2.0
HTM=3.1.1
out="$(cd "$(dirname "$0")/.." && pwd)/basalt/console/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "preact@$PREACT" "htm@$HTM" >/dev/null
mkdir preact htm
tar xzf "preact-$PREACT.tgz" -C preact
tar xzf "htm-$HTM.tgz" -C htm
cp preact/package/dist/preact.mjs "$out/preact.mjs"
sed 's|from"preact"|from"./preact.mjs"|' preact/package/hooks/dist/hooks.mjs >"$out/hooks.mjs"
grep -q 'from"./preact.mjs"' "$out/hooks.mjs"
cp htm/package/dist/htm.mjs "$out/htm.mjs"
cp preact/package/LICENSE "$out/LICENSE-preact"
cp htm/package/LICENSE "$out/LICENSE-htm"
(cd "$out" && sha256sum preact.mjs hooks.mjs htm.mjs)

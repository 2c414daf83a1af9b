#!/usr/bin/env bash
# Installs the Restate peer (restate-server and the TypeScript SDK, versions pinned in
# package-lock.json) into bench/peers/restate/node_modules from the npm registry, and prints the
# path of the restate-server binary. Idempotent: does nothing when node_modules already matches the
# lock file. Fails loudly if anything is missing.
set -euo pipefail
cd "$(dirname "$0")"

command -v node >/dev/null || { echo "install.sh: node (>= 20) is not installed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "install.sh: node $major is too old, need >= 20" >&2; exit 1; }

# npm ci refuses to run without a lock file and installs exactly what it pins. Install scripts are
# not run: the only one is the usage-telemetry ping of @scarf/scarf (a dependency of the server).
stamp=node_modules/.aurora-lock.sha256
want=$(sha256sum package-lock.json | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi

bin=$(node -e '
  const pkg = `@restatedev/restate-server-${process.platform}-${process.arch}`;
  try { console.log(require.resolve(`${pkg}/bin/restate-server`)); }
  catch { console.error(`install.sh: ${pkg} was not installed (no restate-server for this platform?)`); process.exit(1); }')
"$bin" --version >/dev/null || { echo "install.sh: $bin does not run here" >&2; exit 1; }
node -e 'require.resolve("@restatedev/restate-sdk")' || { echo "install.sh: @restatedev/restate-sdk missing" >&2; exit 1; }
echo "$bin"

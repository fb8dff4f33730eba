#!/usr/bin/env bash
# Checks the package as a user gets it: builds the prebuilt addon (prebuildify), packs the
# package, installs the tarball into a new project with install scripts disabled (npm 11's
# default for dependencies), and creates a zone through the installed copy. Fails loudly if
# the installed copy would need a compiler: no build/ may exist there, and the addon must
# load from prebuilds/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build against this Node's own headers when they are installed beside it (no download).
prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
if [[ -z "${npm_config_nodedir:-}" && -f "$prefix/include/node/node_version.h" ]]; then
  export npm_config_nodedir="$prefix"
fi

echo "== prebuildify"
rm -rf prebuilds
npm run --silent prebuildify
ls prebuilds/*/

echo "== npm pack"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
tar -tzf "$work/$tarball" > "$work/contents"
grep -q '^package/prebuilds/.*\.node$' "$work/contents" || { echo "FAIL: no prebuild in $tarball" >&2; exit 1; }
if grep -q '^package/build/' "$work/contents"; then echo "FAIL: build/ is packed" >&2; exit 1; fi

echo "== install $tarball into a new project, scripts disabled"
mkdir "$work/app"
cd "$work/app"
printf '{ "name": "check-tsresty", "private": true, "type": "module" }\n' > package.json
npm install --ignore-scripts --no-audit --no-fund "$work/$tarball" >/dev/null
installed="$work/app/node_modules/tsresty"
[[ ! -e "$installed/build" ]] || { echo "FAIL: the installed copy has a build/ directory" >&2; exit 1; }

cat > use.ts <<'USE'
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const installed = `${process.cwd()}/node_modules/tsresty`;
const loaded: string = createRequire(import.meta.url)("node-gyp-build").path(installed);
assert.match(loaded, /\/prebuilds\//, `the addon must come from prebuilds/, not ${loaded}`);
console.log(`ok: the addon loads from ${loaded}`);
USE
node --import tsx use.ts

# A zone through the public API, in a process the installed CLI runs (single mode).
cat > zone.mjs <<'ZONE'
import assert from "node:assert/strict";
const dict = ngx.shared.check;
assert.deepEqual(dict.set("k", "from the installed package"), { ok: true, forcible: false });
assert.equal(dict.get("k"), "from the installed package");
console.log(`ok: ngx.shared.check works, ${dict.capacity()} bytes`);
ZONE
npx --no-install tsresty --shdict 'check 1m' zone.mjs
echo "== package check passed"
cd "$root"

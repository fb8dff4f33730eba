#!/usr/bin/env bash
# Checks the package as a project that depends on it sees it: packs it, installs the tarball into
# a new project (its dependencies, TypeScript and @types/node come from the registry or npm's
# cache), then
# - type-checks a small app that uses the public API with TypeScript 5.9 and 6, under a strict
#   and a loose tsconfig, without skipLibCheck (the package's declarations are checked too);
# - imports the package from plain Node, as an ES module and with require() from CommonJS;
# - serves a request with `npx tsresty start` for a TypeScript app and for a JavaScript one;
# - runs a global install (npm install -g into a temporary prefix) from another directory, on an
#   app with its own copy of tsresty (which must run it) and on one without (which gets the global one).
# Every step has a hard timeout; every process started here is stopped on exit.
set -euo pipefail
SECONDS=0
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
prefixes=()
cleanup() {
  # The masters started here (npx runs its bin as a child, so their pids come from the pid files).
  for prefix in "${prefixes[@]}"; do
    [[ -f "$prefix/tsresty.pid" ]] && kill -KILL "$(cat "$prefix/tsresty.pid")" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
npm_q() { timeout 240 npm --no-audit --no-fund --loglevel=error "$@"; }

# The tarball carries the prebuilt addon (see check-package.sh), so installing it compiles nothing.
prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
if [[ -z "${npm_config_nodedir:-}" && -f "$prefix/include/node/node_version.h" ]]; then
  export npm_config_nodedir="$prefix"
fi
if ! compgen -G "prebuilds/*/*.node" >/dev/null; then
  echo "== [${SECONDS}s] prebuildify"
  timeout 300 npm run --silent prebuildify >/dev/null
fi

echo "== [${SECONDS}s] npm pack"
tarball="$work/$(timeout 120 npm pack --silent --pack-destination "$work" | tail -n 1)"

echo "== [${SECONDS}s] install the tarball, TypeScript 5.9 and 6, @types/node into a new project"
app="$work/app"
mkdir -p "$app/src"
cd "$app"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >package.json
npm_q install --loglevel=warn "$tarball" "typescript-5.9@npm:typescript@5.9" "typescript-6@npm:typescript@6" "@types/node@20" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2
  fail "npm install"
}
# npm ≥ 11.16 lists dependencies whose install scripts the project has not reviewed (allowScripts):
# tsresty's own (node-gyp-build: the prebuilt addon, or a build from source) and esbuild's (tsx's).
grep "install-scripts" "$work/install.log" || true

cat >src/app.ts <<'TS'
import { defineApp, ngx, type App } from "tsresty";

let ticks = 0;
const app: App = defineApp({
  init() {
    return { bootedAt: Date.now() };
  },
  initWorker() {
    const handle = ngx.timer.every({ interval: 60, name: "tick" }, (premature) => {
      if (!premature) ticks++;
    });
    void handle;
  },
  async fetch(request: Request): Promise<Response> {
    const dogs = ngx.shared["dogs"];
    const stored = dogs?.incr("hits", 1, 0);
    return Response.json({ path: new URL(request.url).pathname, worker: ngx.worker.id(), ticks, stored });
  },
});
export default app;
TS
cat >src/tsresty.config.ts <<'TS'
import { defineConfig } from "tsresty";

export default defineConfig({ workers: 1, shdict: { dogs: "1m" }, logLevel: "warn" });
TS
cat >tsconfig.strict.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2023", "lib": ["ES2023", "DOM"], "module": "NodeNext", "moduleResolution": "NodeNext",
    "types": ["node"], "strict": true, "noUncheckedIndexedAccess": true, "exactOptionalPropertyTypes": true,
    "verbatimModuleSyntax": true, "noEmit": true, "skipLibCheck": false
  },
  "include": ["src"]
}
JSON
cat >tsconfig.loose.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "DOM"], "module": "ESNext", "moduleResolution": "Bundler",
    "types": ["node"], "strict": false, "noEmit": true, "skipLibCheck": false
  },
  "include": ["src"]
}
JSON
echo "== [${SECONDS}s] tsc: TypeScript 5.9 and 6, strict and loose, in parallel"
checks=()
for ts in 5.9 6; do
  for config in strict loose; do
    timeout 180 node "node_modules/typescript-$ts/bin/tsc" -p "tsconfig.$config.json" >"$work/tsc-$ts-$config.log" 2>&1 &
    checks+=("$!:$ts:$config")
  done
done
for check in "${checks[@]}"; do
  IFS=: read -r pid ts config <<<"$check"
  wait "$pid" || {
    cat "$work/tsc-$ts-$config.log" >&2
    fail "type check with TypeScript $ts ($config)"
  }
  echo "ok: TypeScript $ts, tsconfig.$config.json"
done

echo "== [${SECONDS}s] plain node: import from .mjs, require from .cjs"
cat >use.mjs <<'JS'
import { defineApp, ngx } from "tsresty";
if (typeof defineApp !== "function" || typeof ngx.timer.at !== "function") throw new Error("bad import");
console.log("ok: import");
JS
cat >use.cjs <<'JS'
const { defineApp, ngx } = require("tsresty");
if (typeof defineApp !== "function" || typeof ngx.timer.at !== "function") throw new Error("bad require");
console.log("ok: require");
JS
timeout 30 node use.mjs
timeout 30 node use.cjs

free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# `serve LABEL APP CONFIG COMMAND...`: starts COMMAND start APP in the background, waits for its
# ready line, checks one request, stops it gracefully.
serve() {
  local label="$1" app_file="$2" config="$3"
  shift 3
  local port log="$work/$label.log" prefix="$work/prefix-$label" pid body
  port="$(free_port)"
  prefixes+=("$prefix")
  timeout 60 "$@" start "$app_file" --config "$config" --listen "127.0.0.1:$port" --prefix "$prefix" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    grep -q "tsresty ready" "$log" && break
    sleep 0.2
  done
  grep -q "tsresty ready" "$log" || {
    cat "$log" >&2
    fail "$label: no ready line"
  }
  body="$(curl -sS --max-time 10 "http://127.0.0.1:$port/hello")" || fail "$label: no answer"
  echo "$label: $body"
  [[ "$body" == *'"path":"/hello"'* && "$body" == *'"value":1'* ]] || fail "$label: unexpected answer"
  timeout 30 "$@" stop --prefix "$prefix" >/dev/null
  wait "$pid" || fail "$label: the master did not exit 0"
}

echo "== [${SECONDS}s] npx tsresty start: the TypeScript app, then the same app compiled to JavaScript"
serve "app.ts" src/app.ts src/tsresty.config.ts npx --no-install tsresty
timeout 120 node node_modules/typescript-6/bin/tsc -p tsconfig.strict.json --noEmit false --rootDir src --outDir out
serve "app.js" out/app.js out/tsresty.config.js npx --no-install tsresty

echo "== [${SECONDS}s] a global install, run from another directory"
npm_q install -g --prefix "$work/global" "$tarball" 2>>"$work/install.log" || {
  cat "$work/install.log" >&2
  fail "npm install -g"
}
global="$work/global/bin/tsresty"
bare="$work/bare"
mkdir -p "$bare"
cat >"$work/which.mjs" <<'JS'
import { ngx } from "tsresty";
const one = ngx === globalThis.ngx ? "one copy" : "two copies";
console.log(`${one}, resolved at ${new URL(import.meta.resolve("tsresty")).pathname}`);
JS
cp "$work/which.mjs" "$app/which.mjs"
cp "$work/which.mjs" "$bare/which.mjs"
cp src/app.ts "$bare/app.ts"
cp src/tsresty.config.ts "$bare/tsresty.config.ts"
cd "$work"
# An app with its own copy: the global tsresty hands over, so the copy that runs it is the one it imports.
own="$(timeout 30 "$global" "$app/which.mjs")"
echo "with a local copy: $own"
[[ "$own" == "one copy"* ]] || fail "the global tsresty did not run the app's own copy"
# An app without one gets the global copy (ES module imports, and require() from a TypeScript app
# that package.json leaves CommonJS).
lent="$(timeout 30 "$global" "$bare/which.mjs" 2>&1)" || fail "an app without tsresty: $lent"
echo "without one: $lent"
[[ "$lent" == "one copy"* ]] || fail "an app without tsresty did not get the global copy"
serve "global-bare-app.ts" "$bare/app.ts" "$bare/tsresty.config.ts" "$global"

echo "== consumer check passed in ${SECONDS} s"

#!/usr/bin/env node
// Builds dist/ from src/: tsc (JavaScript, declarations, source maps; `.ts` import paths become
// `.js`), then the plain-JavaScript modules that run before any loader (`.mjs`, with their
// `.d.mts`) are copied as they are. tsc leaves `.ts` specifiers in the declarations it emits
// (TypeScript 6 rewrites them in JavaScript only), so they are rewritten here: a consumer's
// tsc would otherwise look for .ts files that the package does not ship.
// Runs on `npm ci` in this repository (the `prepare` script) and before publishing.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");
const dist = join(root, "dist");

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const built = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
});
if (built.status !== 0) process.exit(built.status ?? 1);

for (const file of walk(src).filter((path) => /\.(mjs|d\.mts)$/.test(path))) {
  const target = join(dist, relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}

const TS_SPECIFIER = /((?:from\s|import\()\s*["']\.{1,2}\/[^"']*?)\.(m?)ts(["'])/g;
for (const file of walk(dist).filter((path) => path.endsWith(".d.ts"))) {
  const text = readFileSync(file, "utf8");
  const rewritten = text.replace(TS_SPECIFIER, (_, head, m, quote) => `${head}.${m}js${quote}`);
  if (rewritten !== text) writeFileSync(file, rewritten);
}

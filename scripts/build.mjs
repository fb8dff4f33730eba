#!/usr/bin/env node
// Builds dist/ from src/: tsc (JavaScript, declarations, source maps; `.ts` import paths become
// `.js`), then the plain-JavaScript modules that run before any loader (`.mjs`, with their
// `.d.mts`) are copied as they are. tsc leaves `.ts` specifiers in the declarations it emits
// (TypeScript 6 rewrites them in JavaScript only), so they are rewritten here: a consumer's
// tsc would otherwise look for .ts files that the package does not ship.
//
// Then esbuild bundles tsc's JavaScript into one module graph shared by every process kind (see
// bundle() below): Node 20 loads an ES module file at a time, and tsresty's ~80 modules cost each
// process ~40 ms and ~6 MB more than the same code in a few files.
// Runs on `npm ci` in this repository (the `prepare` script) and before publishing.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { build } from "esbuild";

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

/**
 * What tsresty loads by URL (the processes it forks, single mode) and the package's entrance,
 * bundled with shared chunks so that every one of them, and the app's `import "tsresty"`, run the
 * same module instances. Each output sits one directory below dist/, as every module of tsc's
 * dist/ does but index.js, which becomes a one-line re-export of its bundle.
 */
const ENTRIES = {
  "worker/main": "worker/main.js",
  "agent/main": "agent/main.js",
  "init/main": "init/main.js",
  "cli/main": "cli/main.js",
  "single/main": "single/main.js",
  "chunks/index": "index.js",
};

/**
 * A module's `import.meta.url` is its own file's URL; in a bundle it would be the bundle's. Each
 * is rewritten to the URL its module had in tsc's dist/ (every output is one level below dist/),
 * so paths relative to it (package.json, the `.mjs` hooks, the native addon's root, the source
 * root that stack traces are filtered by) resolve as they did.
 */
const ownUrls = {
  name: "tsresty-own-urls",
  setup(esbuild) {
    esbuild.onLoad({ filter: /\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const own = relative(dist, args.path).split(sep).join("/");
      const url = `new URL(${JSON.stringify(`../${own}`)}, import.meta.url).href`;
      return { contents: text.replaceAll("import.meta.url", url), loader: "js" };
    });
  },
};

/**
 * Node's builtins, as tsresty's modules import them, read with `process.getBuiltinModule`: Node
 * 20 makes an ES module facade for each builtin a module imports, reading every one of its
 * exports (getters included: `fs.promises` loads node:fs/promises), which cost each process ~2 ms
 * at boot over the ~25 builtins tsresty imports. Each builtin is a small module of the bundle
 * instead: the builtin as its default export and, as named ones, the names tsresty imports from
 * it (every data property, for a builtin imported as a namespace). Dynamic imports are left to
 * Node.
 */
const builtins = {
  name: "tsresty-builtins",
  setup(esbuild) {
    esbuild.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === "import-statement" ? { path: args.path, namespace: "builtin" } : undefined,
    );
    const imported = importedNames();
    esbuild.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => {
      const descriptors = Object.getOwnPropertyDescriptors(process.getBuiltinModule(args.path));
      const wanted = imported.get(args.path) ?? new Set();
      const names = Object.keys(descriptors).filter(
        (name) => wanted.has(name) || (wanted.has("*") && name !== "default" && "value" in descriptors[name]),
      );
      // Each binding is named as the export (esbuild renames it where names meet, as it did
      // imports), unless the name cannot be one (`delete`, say).
      const local = names.map((name, i) => (isBindingName(name) ? name : `builtin_${i}`));
      const contents = [
        `const builtin = process.getBuiltinModule(${JSON.stringify(args.path)});`,
        ...names.map((name, i) => `const ${local[i]} = builtin[${JSON.stringify(name)}];`),
        `export { builtin as default, ${names.map((name, i) => `${local[i]} as ${JSON.stringify(name)}`).join(", ")} };`,
      ].join("\n");
      return { contents, loader: "js" };
    });
  },
};

/** Whether `name` can name a variable (an identifier, not a reserved word). */
function isBindingName(name) {
  if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === "builtin") return false;
  try {
    new Function(`"use strict"; let ${name};`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Per builtin, the names tsc's modules import from it (`import { a, b as c } from`), with "*"
 * for one imported as a namespace (`import * as x from`).
 */
function importedNames() {
  const names = new Map();
  const IMPORT = /import\s*(?:\w+\s*,\s*)?(?:\{([^}]*)\}|(\*) as \w+)\s*from\s*"(node:[^"]+)"/g;
  for (const file of walk(dist).filter((path) => path.endsWith(".js"))) {
    for (const [, list, star, specifier] of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const set = names.get(specifier) ?? new Set();
      if (star !== undefined) set.add("*");
      for (const item of (list ?? "").split(",")) {
        if (item.trim() !== "") set.add(item.trim().split(/\s+as\s+/)[0]);
      }
      names.set(specifier, set);
    }
  }
  return names;
}

async function bundle() {
  const staging = join(root, "dist.bundle");
  rmSync(staging, { recursive: true, force: true });
  const result = await build({
    entryPoints: Object.entries(ENTRIES).map(([out, input]) => ({ in: join(dist, input), out })),
    outdir: staging,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    chunkNames: "chunks/[name]-[hash]",
    // Names as written, where two modules' names meet in one file (error classes and the like).
    // Its cost: every function bound to a name is given it again with defineProperty each time
    // one is made, ~0.4 µs per closure on Node 20 (a plain one: ~5 ns). So code run per request,
    // per timer run or per shared-dict call makes no closure bound to a name (`const f = () => …`
    // inside it); an anonymous one passed as an argument costs nothing extra
    // (test/worker/named-closures.test.ts watches the fetch path and async timer runs).
    keepNames: true,
    sourcemap: "linked",
    plugins: [ownUrls, builtins],
    metafile: true,
    logLevel: "warning",
  });
  for (const output of Object.keys(result.metafile.outputs).filter((path) => path.endsWith(".js"))) {
    if (relative(staging, join(root, output)).split(sep).length !== 2)
      throw new Error(`${output}: a bundle must sit one directory below dist/ (see ownUrls)`);
  }
  // tsc's JavaScript is now in the bundles; its declarations and the `.mjs` stay.
  for (const file of walk(dist).filter((path) => /\.js(\.map)?$/.test(path))) rmSync(file);
  for (const file of walk(staging)) {
    const target = join(dist, relative(staging, file));
    mkdirSync(dirname(target), { recursive: true });
    renameSync(file, target);
  }
  rmSync(staging, { recursive: true, force: true });
  writeFileSync(join(dist, "index.js"), 'export * from "./chunks/index.js";\n');
}

await bundle();

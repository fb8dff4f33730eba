/**
 * What a process needs before it imports user code (the app, the config file, single mode's
 * FILE), set up lazily so that a JavaScript app pays for none of it:
 * - TypeScript: tsx's loader, resolved from tsresty's own install, registered once and only
 *   when the file is TypeScript (Node 20 has no type stripping), its disk cache used only where
 *   that is safe (tsx-cache.ts). From src/ tsx already runs.
 * - `import "tsresty"` from an app that has no tsresty of its own (a global install running a
 *   project without one): a resolve hook that falls back to the copy running it. An app with
 *   its own copy is run by that copy (bin/tsresty hands over), so one process never holds two.
 */
import * as nodeModule from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { lineLogger } from "./log.ts";
import { FROM_SOURCE } from "./own-module.ts";
import { withSyntaxPlace } from "./syntax-place.ts";
import { guardCompileCache } from "./tsx-cache.ts";

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;
const COMMONJS_TYPESCRIPT = /\.cts$/;
const FALLBACK_HOOKS = new URL("./fallback-hooks.mjs", import.meta.url);
/** Inside this package, so that resolving "tsresty" from it is the package's self-reference. */
const OWN_PARENT = new URL("../../package.json", import.meta.url).href;

let typescript: Promise<void> | null = null;
let fallback = false;

/** Whether `file` is TypeScript, by its extension. */
export function isTypeScript(file: string): boolean {
  return TYPESCRIPT.test(file);
}

/**
 * tsx compiles a TypeScript file that package.json leaves CommonJS to `require("tsresty")`, and
 * its `require` compiles the ES modules it meets to a second, CommonJS copy of tsresty (another
 * `ngx.shared`, other error classes). Seeding the CommonJS cache with the ES module makes that
 * `require` return the one copy the process runs.
 */
async function shareOwnIndex(): Promise<void> {
  // The file `require("tsresty")` finds: this package's entry, by its self-reference.
  const ownRequire = nodeModule.createRequire(import.meta.url);
  const index = ownRequire.resolve("tsresty");
  if (ownRequire.cache[index] !== undefined) return;
  const entry = new nodeModule.default(index);
  entry.filename = index;
  entry.exports = (await import(pathToFileURL(index).href)) as unknown;
  entry.loaded = true;
  ownRequire.cache[index] = entry;
}

/**
 * The argument the master gives the children of a TypeScript app or config: they register tsx
 * once their own modules are loaded and before they stand by (preloadTypeScriptIfAsked), so that
 * a booted standby has it and tsresty's own modules do not go through tsx's hooks (on Node 20
 * every module loaded after `--import tsx` does, off-thread: loading the runtime took 155 ms
 * instead of 28).
 */
export const TYPESCRIPT_ARG = "--typescript";

/** Registers tsx if the master said that this child will import TypeScript (TYPESCRIPT_ARG). */
export async function preloadTypeScriptIfAsked(): Promise<void> {
  if (process.argv.slice(2).includes(TYPESCRIPT_ARG)) await enableTypeScript();
}

/** Registers tsx for `import` and `require` of TypeScript, once per process. */
export function enableTypeScript(): Promise<void> {
  typescript ??= (async () => {
    if (FROM_SOURCE) return;
    await shareOwnIndex();
    const cacheOff = guardCompileCache();
    if (cacheOff !== null) {
      const warn = lineLogger({
        write: (line) => process.stderr.write(line),
        pid: process.pid,
        workerId: () => null,
      });
      warn("warn", cacheOff);
    }
    // What `node --import tsx` does (its CommonJS hooks, then its ES module hooks): the API's
    // register() differs, e.g. in what `import()` of a CommonJS .ts file's default export is.
    await import(import.meta.resolve("tsx"));
  })();
  return typescript;
}

/** Whether "tsresty" resolves from the directory of `file` (its node_modules, or a self-reference). */
function resolvesTsresty(file: string): boolean {
  try {
    nodeModule.createRequire(join(dirname(file), "[tsresty]")).resolve("tsresty");
    return true;
  } catch {
    return false;
  }
}

const NOT_FOUND = new Set(["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND"]);

function isTsresty(specifier: string): boolean {
  return specifier === "tsresty" || specifier.startsWith("tsresty/");
}

/** Resolves with `next`; where that finds no "tsresty", resolves it as this package's self-reference. */
function orOwnCopy<T>(specifier: string, next: () => T, own: () => T): T {
  if (!isTsresty(specifier)) return next();
  try {
    return next();
  } catch (error) {
    if (!NOT_FOUND.has(String((error as { code?: unknown }).code))) throw error;
    return own();
  }
}

type Resolve = (specifier: string, context?: { parentURL?: string }) => unknown;
type ResolveFilename = (request: string, parent: unknown, ...rest: unknown[]) => string;

/**
 * Lets "tsresty" resolve to this copy where nothing else provides it, for `import` and for
 * `require` (tsx compiles a TypeScript app that package.json leaves CommonJS to `require`).
 */
function fallBackToOwnCopy(): void {
  if (fallback) return;
  fallback = true;
  // `import`: in-thread hooks where Node has them (22.15+), else the hooks thread of module.register.
  const { registerHooks } = nodeModule as { registerHooks?: (hooks: { resolve: unknown }) => unknown };
  if (registerHooks === undefined) nodeModule.register(FALLBACK_HOOKS, { data: { parentURL: OWN_PARENT } });
  else {
    registerHooks({
      resolve: (specifier: string, context: object, next: Resolve) =>
        orOwnCopy(
          specifier,
          () => next(specifier, context),
          () => next(specifier, { ...context, parentURL: OWN_PARENT }),
        ),
    });
  }
  // `require`: CommonJS's resolver, which tsx's require of a compiled CommonJS file calls directly.
  const cjs = nodeModule.default as unknown as { _resolveFilename: ResolveFilename };
  const resolveFilename = cjs._resolveFilename;
  const own = nodeModule.createRequire(OWN_PARENT);
  cjs._resolveFilename = (request, parent, ...rest) =>
    orOwnCopy(
      request,
      () => resolveFilename.call(cjs, request, parent, ...rest),
      () => own.resolve(request),
    );
}

/**
 * A TypeScript file that its package.json leaves CommonJS is compiled by tsx to `exports.default
 * = …` with `__esModule`; `import()` then gives that exports object as the default. tsx unwraps
 * it in the `import()` calls of the code it compiles, which tsresty's own code (dist/) is not.
 */
function unwrapCommonJs(module: { default?: unknown }): { default?: unknown } {
  const inner = module.default;
  if (typeof inner === "object" && inner !== null && "__esModule" in inner)
    return inner as { default?: unknown };
  return module;
}

/**
 * Node's resolver says "Cannot find module FILE imported from (tsresty's own chunk)" of a file it
 * may not look at: a worker that dropped to `config.user` under a directory that user cannot
 * search. The master, as root, saw the file; so that case is said as what it is.
 */
function unreadable(error: unknown, file: string): Error | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" || !(error instanceof Error) || !error.message.includes(`'${file}'`))
    return null;
  const { accessSync, constants } = process.getBuiltinModule("node:fs");
  try {
    accessSync(file, constants.R_OK);
    return null;
  } catch (denied) {
    if ((denied as { code?: unknown }).code !== "EACCES") return null;
    return new Error(
      `${file} cannot be read as uid ${process.getuid?.() ?? "?"}: permission denied (a directory on its path is not searchable, or the file is not readable)`,
      { cause: error },
    );
  }
}

/**
 * Imports the module at `href` (a file: URL), once the process is prepared for it. A `.cts` file
 * is required instead: imported, Node 20 loads it through the ES module loader's CommonJS
 * translator, whose `require` of tsresty (an ES module) failed inside Node ("Cannot read
 * properties of undefined (reading 'exports')"); Node's own `require` finds the copy
 * shareOwnIndex put in its cache.
 */
export async function loadModule(href: string): Promise<{ default?: unknown }> {
  const url = new URL(href);
  if (!COMMONJS_TYPESCRIPT.test(url.pathname))
    return unwrapCommonJs((await import(href)) as { default?: unknown });
  const file = fileURLToPath(url);
  return unwrapCommonJs({ default: nodeModule.createRequire(file)(file) as unknown });
}

/** Imports the user's `file` (absolute path): the app, or a config file. */
export async function importUserModule(file: string): Promise<{ default?: unknown }> {
  await prepareToLoad(file);
  try {
    return await loadModule(pathToFileURL(file).href);
  } catch (error) {
    throw withSyntaxPlace(unreadable(error, file) ?? error, file);
  }
}

/** Prepares this process to import the user's `file` (absolute path). */
export async function prepareToLoad(file: string): Promise<void> {
  if (!resolvesTsresty(file)) fallBackToOwnCopy();
  if (isTypeScript(file)) await enableTypeScript();
}

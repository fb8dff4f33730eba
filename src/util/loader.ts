/**
 * What a process needs before it imports user code (the app, the config file, single mode's
 * FILE), set up lazily so that a JavaScript app pays for none of it:
 * - TypeScript: tsx's loader, resolved from tsresty's own install, registered once and only
 *   when the file is TypeScript (Node 20 has no type stripping). From src/ tsx already runs.
 * - `import "tsresty"` from an app that has no tsresty of its own (a global install running a
 *   project without one): a resolve hook that falls back to the copy running it. An app with
 *   its own copy is run by that copy (bin/tsresty hands over), so one process never holds two.
 */
import * as nodeModule from "node:module";
import { dirname, join } from "node:path";
import { FROM_SOURCE } from "./own-module.ts";

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;
const FALLBACK_HOOKS = new URL("./fallback-hooks.mjs", import.meta.url);
/** Inside this package, so that resolving "tsresty" from it is the package's self-reference. */
const OWN_PARENT = new URL("../../package.json", import.meta.url).href;

let typescript: Promise<void> | null = null;
let fallback = false;

/** Whether `file` is TypeScript, by its extension. */
export function isTypeScript(file: string): boolean {
  return TYPESCRIPT.test(file);
}

/** Registers tsx for `import` and `require` of TypeScript, once per process. */
export function enableTypeScript(): Promise<void> {
  typescript ??= (async () => {
    if (FROM_SOURCE) return;
    const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    esm.register();
    cjs.register();
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

/** Lets "tsresty" resolve to this copy where nothing else provides it, once per process. */
function fallBackToOwnCopy(): void {
  if (fallback) return;
  fallback = true;
  // In-thread hooks where Node has them (22.15+); else the hooks thread of module.register.
  const registerHooks = (nodeModule as { registerHooks?: (hooks: object) => unknown }).registerHooks;
  if (registerHooks !== undefined) {
    registerHooks({
      resolve: (specifier: string, context: object, next: (s: string, c?: object) => unknown) => {
        if (specifier !== "tsresty" && !specifier.startsWith("tsresty/")) return next(specifier, context);
        try {
          return next(specifier, context);
        } catch (error) {
          if ((error as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") throw error;
          return next(specifier, { ...context, parentURL: OWN_PARENT });
        }
      },
    });
    return;
  }
  nodeModule.register(FALLBACK_HOOKS, { data: { parentURL: OWN_PARENT } });
}

/** Prepares this process to import the user's `file` (absolute path). */
export async function prepareToLoad(file: string): Promise<void> {
  if (!resolvesTsresty(file)) fallBackToOwnCopy();
  if (isTypeScript(file)) await enableTypeScript();
}

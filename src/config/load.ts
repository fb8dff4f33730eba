import { access, constants } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.ts";
import { resolveConfig } from "./resolve.ts";
import type { ResolvedConfig } from "./types.ts";

/**
 * Imports a config module (`export default defineConfig({...})`, TypeScript or JavaScript) and
 * returns its default export as written. `fresh` makes a reload read the file anew. Every
 * failure is a ConfigError naming the file.
 */
export async function loadConfigInput(file: string, cwd = process.cwd(), fresh?: string): Promise<unknown> {
  const path = resolve(cwd, file);
  try {
    await access(path, constants.R_OK);
  } catch (cause) {
    throw new ConfigError(file, null, "cannot be read (no such file, or no permission)", { cause });
  }
  const url = pathToFileURL(path);
  if (fresh !== undefined) url.searchParams.set("generation", fresh);
  let module: { default?: unknown };
  try {
    module = (await import(url.href)) as { default?: unknown };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(file, null, `failed to load: ${reason}`, { cause });
  }
  if (module.default === undefined) {
    throw new ConfigError(file, null, "has no default export; write `export default defineConfig({ ... })`");
  }
  return module.default;
}

/** Loads and resolves a config file. */
export async function loadConfigFile(file: string, cwd = process.cwd()): Promise<ResolvedConfig> {
  return resolveConfig(await loadConfigInput(file, cwd), file);
}

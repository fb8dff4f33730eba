import { access, constants } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.ts";
import { resolveConfig } from "./resolve.ts";
import type { ResolvedConfig } from "./types.ts";

/**
 * Loads a config module (`export default defineConfig({...})`, TypeScript or JavaScript) and
 * resolves it. Every failure is a ConfigError naming the file.
 */
export async function loadConfigFile(file: string, cwd = process.cwd()): Promise<ResolvedConfig> {
  const path = resolve(cwd, file);
  try {
    await access(path, constants.R_OK);
  } catch (cause) {
    throw new ConfigError(file, null, "cannot be read (no such file, or no permission)", { cause });
  }
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(file, null, `failed to load: ${reason}`, { cause });
  }
  if (module.default === undefined) {
    throw new ConfigError(file, null, "has no default export; write `export default defineConfig({ ... })`");
  }
  return resolveConfig(module.default, file);
}

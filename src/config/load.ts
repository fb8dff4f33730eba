import { resolve } from "node:path";
import { ConfigError, describe } from "../errors.ts";
import { importUserModule } from "../util/loader.ts";
import { fileKind } from "../util/file-kind.ts";
import { syntaxPlaceOf } from "../util/syntax-place.ts";
import { loadFailure } from "../util/load-error.ts";
import { isPlainObject } from "../util/options.ts";
import { AWAIT_DEFAULT, namedOnly, promisedDefault } from "../util/named-exports.ts";
import { CONFIG_KEYS, resolveConfig } from "./resolve.ts";
import type { ResolvedConfig } from "./types.ts";
import { errorMessage } from "../util/error-message.ts";

/** A config module's default export must be the config itself: an object, not a function or a promise. */
function checkExport(file: string, value: unknown): Record<string, unknown> {
  if (value === undefined) {
    throw new ConfigError(file, null, "has no default export; write `export default defineConfig({ ... })`");
  }
  if (promisedDefault(value))
    throw new ConfigError(file, null, `default export is a Promise: ${AWAIT_DEFAULT}`);
  // (a Map, a Date, a class's instance: not a config, though its own keys are none)
  if (!isPlainObject(value)) {
    throw new ConfigError(
      file,
      null,
      `default export must be a config object (export default defineConfig({ ... })), received ${describe(value)}`,
    );
  }
  return value;
}

/**
 * A named export with a config key's name must be a key of the default export too: otherwise
 * `export const workers = 4` beside `export default {}` would be a setting that never applies.
 */
function checkNamedKeys(file: string, module: Readonly<Record<string, unknown>>): void {
  const stray = namedOnly(module, CONFIG_KEYS);
  if (stray === undefined) return;
  throw new ConfigError(
    file,
    stray,
    `is a named export, which tsresty does not read: put it in the default export (export default defineConfig({ ${stray}, … }))`,
  );
}

/**
 * Imports a config module (`export default defineConfig({...})`, TypeScript or JavaScript) and
 * returns its default export as written. Every failure is a ConfigError naming the file.
 */
export async function loadConfigInput(file: string, cwd = process.cwd()): Promise<Record<string, unknown>> {
  const path = resolve(cwd, file);
  // Loaded here: every child imports this module, and only the init process and single mode
  // read a config file (node:fs/promises cost a worker's boot ~0.5 ms).
  const { access, constants, stat } = process.getBuiltinModule("node:fs/promises");
  try {
    await access(path, constants.R_OK);
  } catch (cause) {
    throw new ConfigError(file, null, "cannot be read (no such file, or no permission)", { cause });
  }
  const found = await stat(path);
  if (!found.isFile()) throw new ConfigError(file, null, `is not a regular file (${fileKind(found)})`);
  let module: { default?: unknown };
  try {
    module = await importUserModule(path);
  } catch (cause) {
    // A throw at its top level (or in a module it imports) is named by its file and line, as the app's is.
    const place = syntaxPlaceOf(cause);
    const reason = place === null ? loadFailure(cause) : `${place}: ${errorMessage(cause)}`;
    throw new ConfigError(file, null, `failed to load: ${reason}`, { cause });
  }
  checkNamedKeys(file, module);
  return checkExport(file, module.default);
}

/**
 * A config file's object with the command line's values over it (`withOverrides`), resolved. The
 * file is checked on its own first: a bad value that a flag replaces (`workers: 0` beside
 * `--workers 2`, a zone's size beside a `--shdict` of its name) was accepted without a word, and
 * failed the next start that went without the flag.
 */
export function resolveWithOverrides(
  file: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, unknown>>,
  origin: string,
): { raw: Record<string, unknown>; config: ResolvedConfig } {
  resolveConfig(file, origin);
  const raw = withOverrides(file, overrides);
  return { raw, config: resolveConfig(raw, origin) };
}

/**
 * A config file's object with the command line's values over it. Keys replace the file's, but
 * `shdict` merges by zone name (a flag's zone replaces the file's zone of that name).
 */
export function withOverrides(
  file: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const merged = { ...file, ...overrides };
  const fileZones = file["shdict"];
  const flagZones = overrides["shdict"];
  if (fileZones === undefined || !isPlainObject(flagZones)) return merged;
  // A file's zones that are not a plain object (a Map, null) are kept as the file gave them, to be
  // refused as without the flag: spread, a Map's zones were lost without a word.
  merged["shdict"] = isPlainObject(fileZones) ? { ...fileZones, ...flagZones } : fileZones;
  return merged;
}

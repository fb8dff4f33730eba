import { constants, existsSync } from "node:fs";
import { access, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { formatListen, parseListen, parseShdictFlags, parseWorkers } from "../config/index.ts";
import { UsageError } from "../errors.ts";
import { notAModule } from "../util/file-kind.ts";
import { runMaster } from "../master/index.ts";
import type { StartCommand } from "./args.ts";

const DEFAULT_APPS = ["app.ts", "app.js"];
/** The config read when none is given: the first of these here (a compiled app's beside it in outDir). */
const DEFAULT_CONFIG_FILES = ["ts", "mts", "cts", "js", "mjs", "cjs"].map((ext) => `tsresty.config.${ext}`);

async function findApp(given: string | null): Promise<string> {
  if (given === null) {
    const found = DEFAULT_APPS.find((name) => existsSync(name));
    if (found === undefined)
      throw new UsageError(`no APP given and no ./${DEFAULT_APPS.join(" or ./")} here`);
    return resolve(found);
  }
  if (given === "") throw new UsageError("the app file's name is empty");
  const path = resolve(given);
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new UsageError(`app file ${given} cannot be read (no such file, or no permission)`);
  }
  const why = notAModule(path, await stat(path));
  if (why !== null) throw new UsageError(`app file ${given} ${why}`);
  return path;
}

/** Flags override the config file; each is checked here so that a bad one names the flag. */
function overrides(command: StartCommand): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (command.workers !== null) {
    const workers = parseWorkers(command.workers);
    if (!workers.ok) throw new UsageError(`--workers ${workers.problem}`);
    out["workers"] = command.workers === "auto" ? "auto" : workers.value;
  }
  if (command.listen.length > 0) {
    const seen = new Set<string>();
    for (const value of command.listen) {
      const parsed = parseListen(value);
      if (!parsed.ok) throw new UsageError(`--listen ${parsed.problem}`);
      const address = formatListen(parsed.value);
      if (parsed.value.port !== 0 && seen.has(address))
        throw new UsageError(`--listen ${address} is given twice: name each address once`);
      seen.add(address);
    }
    out["listen"] = command.listen;
  }
  if (command.prefix !== null) out["prefix"] = command.prefix;
  if (command.errorLog !== null) out["errorLog"] = command.errorLog;
  if (command.log !== null) out["log"] = command.log;
  if (command.shdict.length > 0) {
    const zones = parseShdictFlags(command.shdict);
    if (!zones.ok) throw new UsageError(`--shdict ${zones.problem}`);
    out["shdict"] = zones.value;
  }
  return out;
}

/**
 * `tsresty start`: finds the app and the config file, checks the flags, and runs the master
 * until it stops. The config file itself is loaded by the master's init process, never here.
 */
export async function start(command: StartCommand): Promise<void> {
  const appPath = await findApp(command.app);
  const overridesFromFlags = overrides(command);
  const found = DEFAULT_CONFIG_FILES.find((name) => existsSync(name)) ?? null;
  const configName = command.configPath ?? found;
  const configFile = configName === null ? null : resolve(configName);
  await runMaster({ appPath, configFile, configName: configName ?? "config", overrides: overridesFromFlags });
}

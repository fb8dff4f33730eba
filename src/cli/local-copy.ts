/**
 * A global `tsresty` run on a project that has its own copy in node_modules hands over to that
 * copy (as eslint and gulp do), so the app's `import "tsresty"` and the processes that run it are
 * one copy: the app gets the version it depends on, and the runtime's state is never split
 * between two. An app without a copy of its own runs on this one (see util/loader.ts).
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Command } from "./args.ts";

const OWN_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The directory the app's imports resolve from: the app's own, or the cwd for `-e` and a default app. */
function appDirectory(command: Command): string | null {
  if (command.kind === "start") return command.app === null ? process.cwd() : dirname(resolve(command.app));
  if (command.kind === "single")
    return command.file === null ? process.cwd() : dirname(resolve(command.file));
  return null;
}

/** The root of the tsresty package that `dir` resolves "tsresty" to, or null when none. */
function tsrestyFrom(dir: string): string | null {
  let entry: string;
  try {
    entry = createRequire(join(dir, "[tsresty]")).resolve("tsresty");
  } catch {
    return null;
  }
  for (let at = dirname(entry); at !== dirname(at); at = dirname(at)) {
    const manifest = join(at, "package.json");
    if (!existsSync(manifest)) continue;
    const { name } = JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown };
    if (name === "tsresty") return at;
  }
  return null;
}

/** The URL of the bin of the app's own copy of tsresty, when it is another copy than this one. */
export function localCopy(command: Command): string | null {
  const dir = appDirectory(command);
  const root = dir === null ? null : tsrestyFrom(dir);
  if (root === null || realpathSync(root) === realpathSync(OWN_ROOT)) return null;
  const { bin } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    bin?: string | Record<string, string>;
  };
  const path = typeof bin === "string" ? bin : bin?.["tsresty"];
  return path === undefined ? null : pathToFileURL(join(root, path)).href;
}

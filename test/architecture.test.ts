import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * The import table of STYLE.md, enforced. Each top-level folder of src/ (and the leaf files
 * errors.ts and index.ts) may import only the folders listed for it; no entry lists cli, so
 * nothing imports it. Beyond STYLE.md's table: `coord` (the Redis coordinator of singleton:
 * "cluster") is a subsystem only runtime imports, and `index` is the public surface. `single` is
 * the role of single mode (`tsresty -e`), which the CLI loads by URL; `init` is the role that loads
 * the config and runs the app's init hook, in a short-lived process the master forks by URL as it
 * forks worker and agent. The native addon lies outside src/: util/addon.ts loads it by path.
 */
const LEAVES = ["errors", "util"];
const SUBSYSTEM = [...LEAVES];
const BELOW_RUNTIME = ["config", "process", "ipc", "timer", "pipe", "shdict", "coord", ...LEAVES];
const ALLOWED: Record<string, readonly string[]> = {
  errors: [],
  util: ["errors"],
  config: SUBSYSTEM,
  process: SUBSYSTEM,
  ipc: SUBSYSTEM,
  timer: SUBSYSTEM,
  pipe: SUBSYSTEM,
  coord: SUBSYSTEM,
  shdict: SUBSYSTEM,
  runtime: BELOW_RUNTIME,
  single: ["runtime", ...BELOW_RUNTIME],
  init: ["runtime", ...BELOW_RUNTIME],
  worker: ["runtime", ...BELOW_RUNTIME],
  agent: ["runtime", ...BELOW_RUNTIME],
  master: ["config", "process", "ipc", "shdict", ...LEAVES],
  cli: ["config", "master", "process", ...LEAVES],
  index: ["runtime", "config", "timer", "process", "pipe", "shdict", ...LEAVES],
};

/** Roles whose entry (`<role>/main.ts`) the master forks, or the CLI runs, by URL. */
const FORKABLE_ROLES = ["worker", "agent", "init", "single"];
const SRC = fileURLToPath(new URL("../src", import.meta.url));

/** Static imports, dynamic imports, and modules loaded by URL (`new URL("../worker/main.ts", import.meta.url)`). */
const IMPORT =
  /(?:^|\s)(?:import|export)\s(?:[^"';]*?\sfrom\s)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs|js)$/.test(name) ? [path] : [];
  });
}

/** The architectural unit of a file under src/: its top folder, or the leaf file's name. */
function unitOf(path: string): string {
  const [first = ""] = relative(SRC, path).split("/");
  return first.replace(/\.(ts|mjs|js)$/, "");
}

describe("architecture", () => {
  const files = sourceFiles(SRC);

  it("src/ has source files to check", () => {
    assert.ok(files.length > 10);
  });

  it("imports point one way, as STYLE.md's table says", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = unitOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) {
        violations.push(`${relative(SRC, file)}: folder "${from}" is not in the import table`);
        continue;
      }
      for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
        const specifier = match[1] ?? match[2] ?? match[3] ?? "";
        if (!specifier.startsWith(".")) continue;
        // A URL that names no module (a directory, package.json) is a path, not an import.
        if (match[3] !== undefined && !/\.(ts|mts|mjs|js)$/.test(specifier)) continue;
        const to = unitOf(resolve(dirname(file), specifier));
        // The master and the CLI may load a role's entry by URL, to fork it or to run it.
        const forksRole =
          match[3] !== undefined && FORKABLE_ROLES.includes(to) && specifier.endsWith(`${to}/main.ts`);
        if (forksRole && (from === "master" || from === "cli")) continue;
        if (to !== from && !allowed.includes(to)) {
          violations.push(`${relative(SRC, file)} imports ${specifier} (${from} -> ${to})`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });
});
